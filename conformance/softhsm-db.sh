#!/usr/bin/env bash
# Builds SoftHSM 2.6.1 with its database object store (`--with-objectstore-backend-db`, which
# Debian's softhsm2 is built without) into <target dir>/softhsm-db, once: tests/util_migrate.rs
# makes database-store tokens with it and migrates them. Later runs find it built and return.
#
# The source is Debian's own: softhsm2's .orig.tar.gz from bookworm's deb-src (`apt-get source
# --download-only`; a deb-src entry for the machine's Debian mirror is added when there is none),
# its SHA-256 checked against the one pinned here. Run as root, the build's packages are
# installed with apt-get (as scripts/test does); otherwise the missing ones are named.
# Environment: CARGO_TARGET_DIR (default <repo>/target); SOFTHSM_DB_TARBALL, a local copy of the
# tarball to use instead of downloading it.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
mkdir -p "$target"
target=$(cd "$target" && pwd)
prefix=$target/softhsm-db
version=2.6.1
tarball_name=softhsm2_$version.orig.tar.gz
sha256=ac9ac1e3f4402f88bf3e626a18f070f8031c031947ed469c6e17482495ec72b6
stamp=$prefix/.built-$version-$sha256
say() { echo "softhsm-db: $*"; }

# One build at a time (scripts/test and a test run may both ask).
exec 9>"$target/.softhsm-db.lock"
flock 9
if [ -f "$stamp" ] && [ -x "$prefix/bin/softhsm2-util" ] && [ -f "$prefix/lib/softhsm/libsofthsm2.so" ]; then
    say "already built in $prefix"
    exit 0
fi
t0=$SECONDS

pkgs=(g++ make libssl-dev libsqlite3-dev sqlite3 opensc)
missing=()
for p in "${pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
root=0
[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && root=1
if [ ${#missing[@]} -gt 0 ]; then
    if [ $root = 1 ]; then
        say "installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        say "needs: sudo apt-get install ${missing[*]}"
        exit 1
    fi
fi

src=$target/softhsm-db-src
mkdir -p "$src"
tarball=$src/$tarball_name
if [ -n "${SOFTHSM_DB_TARBALL:-}" ]; then
    cp "$SOFTHSM_DB_TARBALL" "$tarball.part" && mv "$tarball.part" "$tarball"
fi
fetch() {
    # The .debian.tar.xz of this version is gone from the mirrors: apt-get source fails after
    # downloading the .orig.tar.gz, which is all this needs, so its status is not the test.
    (cd "$src" && apt-get source --download-only softhsm2 >"$src/apt-get-source.log" 2>&1) || true
    [ -f "$tarball" ]
}
has_deb_src() {
    grep -rqsE '^(deb-src[[:space:]]|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/
}
if [ ! -f "$tarball" ] && ! fetch; then
    if [ $root = 1 ] && ! has_deb_src; then
        # The mirror the machine already uses for bookworm's binary packages, for its sources too.
        uri=$(grep -rhsE '^URIs:' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1 | awk '{print $2}')
        uri=${uri:-http://deb.debian.org/debian}
        say "adding a deb-src entry for $uri bookworm main (/etc/apt/sources.list.d/ferrohsm-deb-src.sources)"
        printf 'Types: deb-src\nURIs: %s\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$uri" >/etc/apt/sources.list.d/ferrohsm-deb-src.sources
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
    elif [ $root = 1 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
    fi
    if ! fetch; then
        say "cannot get $tarball_name with apt-get source (no network, or no deb-src entry: as root this" \
            "script adds one); see $src/apt-get-source.log, or set SOFTHSM_DB_TARBALL to a copy"
        exit 1
    fi
fi
echo "$sha256  $tarball" | sha256sum -c --quiet - || {
    say "$tarball is not the pinned SoftHSM $version source (SHA-256 differs)"
    rm -f "$tarball"
    exit 1
}

build=$target/softhsm-db-build
rm -rf "$build" "$prefix"
mkdir -p "$build"
tar -xzf "$tarball" -C "$build"
cd "$build/softhsm2-$version"
say "configure (log: $build/configure.log)"
# As Debian configures it, plus the database store; no GOST (OpenSSL 3 has none), no p11-kit
# registration (this copy is only for the tests), no static library.
./configure --prefix="$prefix" --with-objectstore-backend-db --with-crypto-backend=openssl \
    --enable-eddsa --disable-gost --disable-p11-kit --disable-static >"$build/configure.log" 2>&1 || {
    tail -20 "$build/configure.log"
    exit 1
}
grep -q '^#define HAVE_OBJECTSTORE_BACKEND_DB 1' config.h || { say "configure did not enable the database store"; exit 1; }
say "make (log: $build/make.log)"
{ make -j"$(nproc)" && make install; } >"$build/make.log" 2>&1 || {
    tail -30 "$build/make.log"
    exit 1
}
cd "$target"
rm -rf "$build"
touch "$stamp"
say "built SoftHSM $version (database object store) in $prefix ($((SECONDS - t0)) s)"

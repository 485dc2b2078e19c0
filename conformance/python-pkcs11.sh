#!/usr/bin/env bash
# python-pkcs11's own test suite (PyPI python-pkcs11; its source distribution ships tests/) against
# SoftHSM 2.6.1 (the reference) and against ferrohsm, then a per-test comparison
# (conformance/python-pkcs11/compare.py) against the commented list of expected differences
# (conformance/python-pkcs11/expected.txt). The step fails when:
#   - a test that passes on SoftHSM does not pass on ferrohsm and is not listed;
#   - a test fails on ferrohsm (whatever SoftHSM did) and is not listed;
#   - a listed test now passes on ferrohsm (shorten the list);
#   - the reference run has a failure (the harness or the machine is broken).
#
# How it is run fairly: python-pkcs11's tests decide some expectations by the module's *file name*
# (tests/__init__.py, class Is: a path ending in "libsofthsm2.so" runs the @Only.softhsm2 tests:
# SO login, C_CopyObject, C_SetPIN, C_InitPIN, slot and token listing, explicit EC parameters).
# ferrohsm's observable model is SoftHSM's (one free slot after the tokens, same flags), so it is
# loaded through a symlink named libsofthsm2.so: it then runs every test SoftHSM runs, under the
# same expectations. Under its own name those 8 tests would be skipped instead.
# PKCS11_MODULE2 (test_multilib) is the other module in both runs.
#
# Needs python3 with venv and pip, and PyPI: the packages are installed, at pinned versions, into a
# venv under target/python-pkcs11 (reused by later runs).
# Usage: conformance/python-pkcs11.sh [--ferrohsm-only]
# Env: FERROHSM_MODULE (default <repo>/target/release/libferrohsm.so), SOFTHSM_MODULE.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
START=$SECONDS

VERSION=0.10.1
SDIST_SHA256=e0d7ccede3b3145a678d7c8c59b3c64dcebeb77c9146ad3394a4b1309c4ab2a2
# python-pkcs11's runtime dependency and its "testing" dependency group (pyproject.toml), pinned
PACKAGES=(python-pkcs11==$VERSION asn1crypto==1.5.1 cryptography==50.0.2 parameterized==0.9.0 pytest==9.2.0)

FERRO=${FERROHSM_MODULE:-$REPO/target/release/libferrohsm.so}
SOFT=${SOFTHSM_MODULE:-}
if [ -z "$SOFT" ]; then
    for c in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
        /usr/local/lib/softhsm/libsofthsm2.so /usr/lib64/pkcs11/libsofthsm2.so; do
        if [ -f "$c" ]; then SOFT=$c; break; fi
    done
fi
RUN_SOFT=1
[ "${1:-}" = --ferrohsm-only ] && RUN_SOFT=0

die() { echo "python-pkcs11: $*" >&2; exit 1; }
[ -f "$FERRO" ] || die "ferrohsm module $FERRO not found (cargo build --release)"
if [ "$RUN_SOFT" = 1 ] && [ ! -f "$SOFT" ]; then die "SoftHSM module not found (apt-get install softhsm2)"; fi
command -v pkcs11-tool >/dev/null || die "pkcs11-tool not found (apt-get install opensc)"

# ---------------------------------------------------------------- venv and the test sources

BASE=$REPO/target/python-pkcs11
VENV=$BASE/venv
PY=$VENV/bin/python
mkdir -p "$BASE"
want="${PACKAGES[*]}"
if [ ! -x "$PY" ] || [ "$(cat "$BASE/installed" 2>/dev/null)" != "$want" ]; then
    echo "python-pkcs11: creating $VENV (${PACKAGES[*]})"
    rm -rf "$VENV" "$BASE/installed"
    python3 -m venv "$VENV" || die "python3 -m venv failed (apt-get install python3-venv)"
    "$PY" -m pip install -q --disable-pip-version-check "${PACKAGES[@]}" || die "pip install failed"
    printf '%s' "$want" >"$BASE/installed"
fi
SRC=$BASE/python_pkcs11-$VERSION
if [ ! -d "$SRC/tests" ]; then
    echo "python-pkcs11: downloading the source distribution $VERSION"
    rm -rf "$BASE/sdist" "$SRC"
    "$PY" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: -d "$BASE/sdist" \
        "python-pkcs11==$VERSION" || die "pip download of the sdist failed"
    tarball=$BASE/sdist/python_pkcs11-$VERSION.tar.gz
    echo "$SDIST_SHA256  $tarball" | sha256sum -c --quiet || die "$tarball: unexpected SHA-256"
    tar -xzf "$tarball" -C "$BASE" || die "cannot unpack $tarball"
fi

# ---------------------------------------------------------------- the runs

RUN=$(mktemp -d "${TMPDIR:-/tmp}/ferrohsm-python-pkcs11.XXXXXX") || exit 1
# The tests import "pkcs11": run them from a directory that holds tests/ but not the sdist's
# pkcs11/ sources, so the installed (compiled) package is the one imported.
mkdir -p "$RUN/suite" "$RUN/alias"
cp -r "$SRC/tests" "$RUN/suite/"
ln -s "$FERRO" "$RUN/alias/libsofthsm2.so"

mkdir -p "$RUN/ferrohsm-tokens" "$RUN/softhsm-tokens"
chmod 700 "$RUN/ferrohsm-tokens" "$RUN/softhsm-tokens"
cat >"$RUN/ferrohsm.conf" <<EOF
directories.tokendir = $RUN/ferrohsm-tokens
log.level = INFO
log.file = $RUN/ferrohsm.log
kdf.argon2.memory_kib = 1024
kdf.argon2.iterations = 1
EOF
cat >"$RUN/softhsm2.conf" <<EOF
directories.tokendir = $RUN/softhsm-tokens
objectstore.backend = file
log.level = ERROR
EOF
export FERROHSM_CONF=$RUN/ferrohsm.conf SOFTHSM2_CONF=$RUN/softhsm2.conf HOME=$RUN LC_ALL=C
unset XDG_CONFIG_HOME XDG_DATA_HOME

# token "TEST", user PIN 1234, SO PIN 12345678, made by pkcs11-tool on each module
init_token() {
    pkcs11-tool --module "$1" --init-token --slot-index 0 --label TEST --so-pin 12345678 >"$RUN/init.log" 2>&1 &&
        pkcs11-tool --module "$1" --init-pin --login --login-type so --so-pin 12345678 --pin 1234 \
            >>"$RUN/init.log" 2>&1 || { cat "$RUN/init.log"; die "cannot initialize a token with $1"; }
}

# suite NAME MODULE MODULE2: runs the tests, JUnit XML in $RUN/NAME.xml, output in $RUN/NAME.out
suite() {
    local t0=$SECONDS
    (cd "$RUN/suite" && PKCS11_MODULE=$2 PKCS11_MODULE2=$3 PKCS11_TOKEN_LABEL=TEST PKCS11_TOKEN_PIN=1234 \
        PKCS11_TOKEN_SO_PIN=12345678 timeout -k 10 600 "$PY" -m pytest tests -p no:cacheprovider -q \
        -rfEs --tb=short -o junit_family=xunit2 --junitxml="$RUN/$1.xml" >"$RUN/$1.out" 2>&1)
    echo "python-pkcs11: $1 ($2): $(tail -n 1 "$RUN/$1.out") [$((SECONDS - t0)) s]"
}

init_token "$FERRO"
[ "$RUN_SOFT" = 1 ] && init_token "$SOFT"
[ "$RUN_SOFT" = 1 ] && suite softhsm "$SOFT" "$FERRO"
suite ferrohsm "$RUN/alias/libsofthsm2.so" "${SOFT:-$FERRO}"

args=(--expected "$HERE/python-pkcs11/expected.txt" --ferrohsm "$RUN/ferrohsm.xml")
[ "$RUN_SOFT" = 1 ] && args+=(--softhsm "$RUN/softhsm.xml")
"$PY" "$HERE/python-pkcs11/compare.py" "${args[@]}"
rc=$?
if [ "$rc" != 0 ]; then
    for f in softhsm ferrohsm; do
        [ -f "$RUN/$f.out" ] || continue
        echo
        echo "=== pytest output, $f"
        sed 's/^/  /' "$RUN/$f.out"
    done
    if [ -s "$RUN/ferrohsm.log" ]; then
        echo "=== ferrohsm log.file (last 40 lines)"
        tail -n 40 "$RUN/ferrohsm.log" | sed 's/^/  /'
    fi
    echo "python-pkcs11: kept $RUN"
else
    rm -rf "$RUN"
fi
echo "python-pkcs11: $((SECONDS - START)) s"
exit "$rc"

#!/usr/bin/env bash
# Installs the Debian package on this machine, checks what a user of it relies on, then purges it
# and checks that nothing of it is left but the user's tokens. Needs root (dpkg -i); as another
# user it says so and passes without running, except under CI.
#   packaging/check.sh [PACKAGE.deb]   (default: the newest target/debian/ferrohsm_*.deb)
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    echo "packaging/check.sh: needs root to install the package; not run"
    [ -z "${CI:-}" ] && exit 0
    exit 1
fi
deb=${1:-$(ls -t target/debian/ferrohsm_*_amd64.deb 2>/dev/null | head -1)}
[ -f "$deb" ] || { echo "packaging/check.sh: no package (run scripts/package first)"; exit 1; }
for p in p11-kit gnutls-bin opensc man-db; do
    dpkg -s "$p" >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null
done
fails=0
check() {
    local what=$1; shift
    if "$@" >/tmp/ferrohsm-pkg-check.out 2>&1; then
        echo "PASS  $what"
    else
        echo "FAIL  $what"; sed 's/^/      /' /tmp/ferrohsm-pkg-check.out | tail -15
        fails=$((fails + 1))
    fi
}
module=/usr/lib/x86_64-linux-gnu/pkcs11/libferrohsm.so
# A user of the installed package: a fresh home, no FERROHSM_CONF, so the module reads the
# packaged /etc/ferrohsm/ferrohsm.conf and keeps its tokens under ~/.local/share/ferrohsm.
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
U="env -u FERROHSM_CONF -u XDG_DATA_HOME -u XDG_CONFIG_HOME HOME=$home"
as_user() { $U "$@"; }

start=$(date +%s%N)
check "dpkg -i $(basename "$deb")" dpkg -i "$deb"
echo "      installed in $(( ($(date +%s%N) - start) / 1000000 )) ms"
check "the module at $module" test -f "$module"
check "p11-kit module file" grep -qx 'module: libferrohsm.so' /usr/share/p11-kit/modules/ferrohsm.module
check "p11-kit list-modules shows ferrohsm" sh -c "p11-kit list-modules | grep -q '^ferrohsm:'"
check "ferrohsm-util --help" sh -c "/usr/bin/ferrohsm-util --help | grep -q init-token"
check "man ferrohsm-util" sh -c "MANPAGER=cat man ferrohsm-util | grep -q 'softhsm2-util'"
check "man 5 ferrohsm.conf" sh -c "MANPAGER=cat man 5 ferrohsm.conf | grep -q 'pin.max_attempts'"
check "bash completion" test -s /usr/share/bash-completion/completions/ferrohsm-util
check "/etc/ferrohsm/ferrohsm.conf is a conffile" sh -c "dpkg-query -W -f='\${Conffiles}' ferrohsm | grep -q /etc/ferrohsm/ferrohsm.conf"
check "init-token with the installed tool" as_user /usr/bin/ferrohsm-util init-token --free --label pkgcheck --pin 1234 --so-pin 12345678
check "show-config names the system file" sh -c "$U /usr/bin/ferrohsm-util show-config | grep -q /etc/ferrohsm/ferrohsm.conf"
check "p11tool --list-tokens (no --provider) sees the token" sh -c "$U p11tool --list-tokens | grep -q 'Label: pkgcheck'"
check "pkcs11-tool generates a key with the installed path" as_user pkcs11-tool --module "$module" --token-label pkgcheck --login --pin 1234 --keypairgen --key-type EC:prime256v1 --label k --id 01
printf 'signed through the package' > "$home/data"
check "pkcs11-tool signs" as_user pkcs11-tool --module "$module" --token-label pkgcheck --login --pin 1234 --sign -m ECDSA-SHA256 --id 01 -i "$home/data" -o "$home/sig"
check "pkcs11-tool verifies" as_user pkcs11-tool --module "$module" --token-label pkgcheck --login --pin 1234 --verify -m ECDSA-SHA256 --id 01 -i "$home/data" --signature-file "$home/sig"
# Every file the package installed (dpkg's own list), and its directories of its own.
installed=$(dpkg -L ferrohsm | while read -r f; do [ -f "$f" ] && echo "$f"; done)
check "the package installed files (dpkg -L)" test "$(echo "$installed" | wc -l)" -gt 20
check "dpkg --purge ferrohsm" dpkg --purge ferrohsm
left=$(for f in $installed /etc/ferrohsm /usr/share/doc/ferrohsm; do [ -e "$f" ] && echo "$f"; done)
check "nothing of the package is left" test -z "$left"
[ -n "$left" ] && echo "      left: $left"
check "p11-kit no longer lists ferrohsm" sh -c "! p11-kit list-modules | grep -q '^ferrohsm:'"
check "the user's token is kept" sh -c "ls $home/.local/share/ferrohsm/tokens/* | grep -q ."
echo
if [ "$fails" = 0 ]; then echo "packaging/check.sh: all checks passed"; else echo "packaging/check.sh: $fails failed"; exit 1; fi

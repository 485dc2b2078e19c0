#!/usr/bin/env bash
# The Rust `cryptoki` crate's own post-quantum integration tests (tests/ml_dsa.rs, ml_kem.rs,
# slh_dsa.rs of the crate as published on crates.io) against ferrohsm. Nothing of the crate is
# kept in this repository: its published source, which cargo already downloaded as a
# dev-dependency of ferrohsm, is copied under target/ and built there with its own
# dev-dependencies. Its tests initialize the first slot's token themselves (SO PIN, user PIN)
# and skip nothing when the module offers the PKCS #11 3.2 functions; a test that prints SKIP is
# counted as a failure here, since ferrohsm offers them all.
#
# Usage: conformance/cryptoki-suite.sh      Env: FERROHSM_MODULE (default target/release/...).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
MODULE=${FERROHSM_MODULE:-$REPO/target/release/libferrohsm.so}
TESTS=(ml_dsa ml_kem slh_dsa)

# The crate's published source: the version ferrohsm's lock file holds.
cd "$REPO"
version=$(cargo metadata --format-version 1 --locked 2>/dev/null |
    python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "cryptoki"))')
[ -n "$version" ] || { echo "cryptoki-suite: cannot find the cryptoki version in Cargo.lock"; exit 1; }
src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cryptoki-"$version" 2>/dev/null | head -1)
if [ -z "$src" ]; then
    cargo fetch --locked >/dev/null 2>&1
    src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cryptoki-"$version" | head -1)
fi
[ -d "$src" ] || { echo "cryptoki-suite: cryptoki $version source not found"; exit 1; }
work=$REPO/target/cryptoki-suite
rm -rf "$work/crate"
mkdir -p "$work"
cp -r "$src" "$work/crate"
# The copy is a package of its own, outside ferrohsm's workspace.
printf '\n[workspace]\n' >>"$work/crate/Cargo.toml"
echo "cryptoki-suite: cryptoki $version's tests ${TESTS[*]} against $MODULE"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/ferrohsm.conf" <<EOF
directories.tokendir = $tmp/tokens
kdf.argon2.memory_kib = 1024
kdf.argon2.iterations = 1
EOF
# The tests re-initialize the first slot's token with their own PINs; as in the crate's own CI
# (which runs them on SoftHSM), that token exists first: an initialized token keeps its slot ID
# when re-initialized, while initializing the free slot gives the token a new ID (as SoftHSM).
FERROHSM_CONF=$tmp/ferrohsm.conf "$REPO/target/release/ferrohsm-util" --init-token --free \
    --label "cryptoki tests" --so-pin abcdef654321 --pin fedcba123456 >"$tmp/init.log" 2>&1 ||
    { cat "$tmp/init.log"; echo "cryptoki-suite: ferrohsm-util --init-token failed"; exit 1; }
args=()
for t in "${TESTS[@]}"; do args+=(--test "$t"); done
cd "$work/crate"
CARGO_TARGET_DIR=$work/target FERROHSM_CONF=$tmp/ferrohsm.conf TEST_PKCS11_MODULE=$MODULE \
    cargo test --release "${args[@]}" -- --test-threads=1 --nocapture >"$work/log" 2>&1
status=$?
grep -E "^test |^test result|SKIP" "$work/log"
if grep -q "SKIP" "$work/log"; then
    echo "cryptoki-suite: a test skipped (ferrohsm offers every function these tests use)"
    status=1
fi
passed=$(grep -c "^test .* ok$" "$work/log")
echo "cryptoki-suite: $passed tests passed (log: $work/log)"
[ "$passed" -gt 0 ] || status=1
exit $status

#!/usr/bin/env bash
# pkcs11-tool (OpenSC) against ferrohsm's cryptography: key generation, every signature mechanism
# pkcs11-tool offers, OAEP decryption, HMAC, and `pkcs11-tool --test` as a whole.
# Prints ok/FAIL lines and "N passed, N failed"; exits 1 on any failure.
# Module: $FERROHSM_MODULE, else <repo>/target/release/libferrohsm.so ($CARGO_TARGET_DIR honoured).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
M=${FERROHSM_MODULE:-${CARGO_TARGET_DIR:-$here/target}/release/libferrohsm.so}
command -v pkcs11-tool >/dev/null || { echo "NOTICE: pkcs11-tool not installed: skipped"; echo "0 passed, 0 failed"; exit 0; }
command -v openssl >/dev/null || { echo "NOTICE: openssl not installed: skipped"; echo "0 passed, 0 failed"; exit 0; }
[ -f "$M" ] || { echo "FAIL module $M missing (cargo build --release)"; echo "0 passed, 1 failed"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/conf" <<EOF
directories.tokendir = $work/tokens
kdf.argon2.memory_kib = 1024
kdf.argon2.iterations = 1
EOF
export FERROHSM_CONF=$work/conf
PIN=1234
SO=12345678
T=(pkcs11-tool --module "$M")
U=(pkcs11-tool --module "$M" --login --pin "$PIN")
pass=0
fail=0
check() { # name, command...
    local name=$1
    shift
    if "$@" >"$work/out" 2>&1; then
        echo "ok   $name"
        pass=$((pass + 1))
    else
        echo "FAIL $name"
        sed 's/^/     | /' "$work/out" | tail -8
        fail=$((fail + 1))
    fi
}
grep_out() { grep -q "$1" "$work/out"; }

check "init-token" "${T[@]}" --init-token --label crypto --so-pin "$SO"
check "init-pin" "${T[@]}" --init-pin --login --so-pin "$SO" --pin "$PIN" --token-label crypto
check "keypairgen rsa:2048" "${U[@]}" --keypairgen --key-type rsa:2048 --id 01 --label rsa
check "keypairgen EC:prime256v1" "${U[@]}" --keypairgen --key-type EC:prime256v1 --id 02 --label p256
check "keypairgen EC:secp384r1" "${U[@]}" --keypairgen --key-type EC:secp384r1 --id 03 --label p384
check "keypairgen EC:secp521r1" "${U[@]}" --keypairgen --key-type EC:secp521r1 --id 04 --label p521
check "keygen GENERIC:32" "${U[@]}" --keygen --key-type GENERIC:32 --id 05 --label hmac

printf 'data signed by pkcs11-tool\n' >"$work/data"
openssl dgst -sha256 -binary "$work/data" >"$work/digest"

sign_verify() { # id, mechanism, input, extra...
    local id=$1 m=$2 in=$3
    shift 3
    "${U[@]}" --sign --id "$id" -m "$m" "$@" -i "$in" -o "$work/sig" &&
        "${U[@]}" --verify --id "$id" -m "$m" "$@" -i "$in" --signature-file "$work/sig" 2>&1 | grep -q "Signature is valid" &&
        # A tampered input must not verify (pkcs11-tool exits 0 either way: read its verdict).
        { cp "$in" "$in.bad"; printf '\377' | dd of="$in.bad" bs=1 count=1 conv=notrunc 2>/dev/null; "${U[@]}" --verify --id "$id" -m "$m" "$@" -i "$in.bad" --signature-file "$work/sig" 2>&1 | grep -q "Invalid signature"; }
    local r=$?
    rm -f "$in.bad"
    return $r
}

for m in SHA1-RSA-PKCS SHA224-RSA-PKCS SHA256-RSA-PKCS SHA384-RSA-PKCS SHA512-RSA-PKCS \
    SHA1-RSA-PKCS-PSS SHA224-RSA-PKCS-PSS SHA256-RSA-PKCS-PSS SHA384-RSA-PKCS-PSS SHA512-RSA-PKCS-PSS RSA-PKCS; do
    check "sign/verify rsa $m" sign_verify 01 "$m" "$work/data"
done
check "sign/verify rsa RSA-PKCS-PSS (digest)" sign_verify 01 RSA-PKCS-PSS "$work/digest" --hash-algorithm SHA256 --mgf MGF1-SHA256
for id in 02 03 04; do
    for m in ECDSA-SHA1 ECDSA-SHA224 ECDSA-SHA256 ECDSA-SHA384 ECDSA-SHA512; do
        check "sign/verify ec $id $m" sign_verify "$id" "$m" "$work/data"
    done
    check "sign/verify ec $id ECDSA (digest)" sign_verify "$id" ECDSA "$work/digest"
done
for m in SHA-1-HMAC SHA224-HMAC SHA256-HMAC SHA384-HMAC SHA512-HMAC; do
    check "sign/verify hmac $m" sign_verify 05 "$m" "$work/data"
done

# Signatures verify in OpenSSL with the exported public key.
ossl_rsa() {
    "${U[@]}" --read-object --type pubkey --id 01 -o "$work/rsa.der" &&
        openssl pkey -pubin -inform DER -in "$work/rsa.der" -out "$work/rsa.pem" &&
        "${U[@]}" --sign --id 01 -m SHA256-RSA-PKCS -i "$work/data" -o "$work/sig" &&
        openssl dgst -sha256 -verify "$work/rsa.pem" -signature "$work/sig" "$work/data"
}
check "openssl verifies SHA256-RSA-PKCS" ossl_rsa
ossl_ec() {
    "${U[@]}" --read-object --type pubkey --id 02 -o "$work/ec.der" &&
        openssl pkey -pubin -inform DER -in "$work/ec.der" -out "$work/ec.pem" &&
        "${U[@]}" --sign --id 02 -m ECDSA-SHA256 --signature-format openssl -i "$work/data" -o "$work/sig" &&
        openssl dgst -sha256 -verify "$work/ec.pem" -signature "$work/sig" "$work/data"
}
check "openssl verifies ECDSA-SHA256 (P-256)" ossl_ec

# OAEP: OpenSSL encrypts, the module decrypts.
oaep() { # md
    printf 'secret for oaep\n' >"$work/plain"
    openssl pkeyutl -encrypt -pubin -inkey "$work/rsa.pem" -pkeyopt rsa_padding_mode:oaep \
        -pkeyopt "rsa_oaep_md:$1" -pkeyopt "rsa_mgf1_md:$1" -in "$work/plain" -out "$work/ct" &&
        "${U[@]}" --decrypt --id 01 -m RSA-PKCS-OAEP --hash-algorithm "$2" --mgf "$3" -i "$work/ct" -o "$work/dec" &&
        cmp -s "$work/plain" "$work/dec"
}
check "decrypt RSA-PKCS-OAEP sha1" oaep sha1 SHA-1 MGF1-SHA1
check "decrypt RSA-PKCS-OAEP sha256" oaep sha256 SHA256 MGF1-SHA256
pkcs1() {
    printf 'secret for pkcs1\n' >"$work/plain"
    openssl pkeyutl -encrypt -pubin -inkey "$work/rsa.pem" -in "$work/plain" -out "$work/ct" &&
        "${U[@]}" --decrypt --id 01 -m RSA-PKCS -i "$work/ct" -o "$work/dec" && cmp -s "$work/plain" "$work/dec"
}
check "decrypt RSA-PKCS" pkcs1

mechs() { "${T[@]}" -M >"$work/mechs" 2>&1 && grep -q "ECDSA-SHA256" "$work/mechs" && grep -q "RSA-PKCS-OAEP" "$work/mechs" && grep -q "SHA256-HMAC" "$work/mechs"; }
check "mechanism list" mechs
digest() {
    "${T[@]}" --hash -m SHA256 -i "$work/data" -o "$work/h" && cmp -s "$work/h" "$work/digest"
}
check "digest SHA256" digest

whole_test() {
    "${U[@]}" --test >"$work/test.log" 2>&1
    local r=$?
    cat "$work/test.log"
    [ $r -eq 0 ] && grep -q "No errors" "$work/test.log"
}
check "pkcs11-tool --test --login" whole_test

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

# shellcheck shell=bash
# The EC curves beyond P-256/384/521 (issue 13): P-224, secp256k1, brainpoolP256r1 and
# brainpoolP384r1, with OpenSC pkcs11-tool and OpenSSL. Keys generated on the token with
# `--keypairgen --key-type EC:<curve>`, CKM_ECDSA signatures verified by OpenSSL, and
# `--derive` (CKM_ECDH1_DERIVE) against an OpenSSL key giving OpenSSL's shared secret. SoftHSM
# 2.6.1 offers the same curves (through OpenSSL), so both modules run every step.

CV_CURVES="secp224r1:31 secp256k1:32 brainpoolP256r1:33 brainpoolP384r1:34"

cv_user() { p11_ok --login --pin "$USER_PIN" "$@"; }

# cv_der_len N: the DER length octets of N (< 65536), as hex
cv_der_len() {
    if [ "$1" -lt 128 ]; then printf '%02x' "$1"
    elif [ "$1" -lt 256 ]; then printf '81%02x' "$1"
    else printf '82%04x' "$1"; fi
}

# cv_spki ID NAME: the EC public key ID as $WORK/NAME.der (SubjectPublicKeyInfo), built from the
# CKA_EC_POINT and CKA_EC_PARAMS that `-O` prints (pkcs11-tool 0.23's `--read-object --type
# pubkey` reads freed memory for EC keys, see pkcs11-tool-crypto.sh)
cv_spki() {
    cv_user -O --type pubkey
    local ln point params alg bits
    ln=$(awk -v id="$1" '/^Public Key Object/ {p=""; q=""} /EC_POINT:/ {p=$2} /EC_PARAMS:/ {q=$2}
        $1 == "ID:" && $2 == id {print p, q; exit}' "$ALL")
    point=${ln% *} params=${ln#* }
    [ -n "$point" ] && [ -n "$params" ] || fail "no EC_POINT/EC_PARAMS for ID $1"
    # CKA_EC_POINT is a DER OCTET STRING: the point follows its header (04 LL, or 04 81 LL)
    case $point in
        0481*) point=${point:6} ;;
        04*) point=${point:4} ;;
    esac
    alg=06072a8648ce3d0201$params
    alg=30$(cv_der_len $((${#alg} / 2)))$alg
    bits=00$point
    bits=03$(cv_der_len $((${#bits} / 2)))$bits
    printf '%b' "$(printf '30%s%s%s' "$(cv_der_len $(((${#alg} + ${#bits}) / 2)))" "$alg" "$bits" | sed 's/../\\x&/g')" >"$WORK/$2.der"
    expect_ok openssl pkey -pubin -inform DER -in "$WORK/$2.der" -noout
}

check "EC curves: pkcs11-tool --keypairgen on P-224, secp256k1, brainpoolP256r1/P384r1; ECDSA verified by OpenSSL" t_cv_ecdsa
t_cv_ecdsa() {
    token_init curves
    pin_init
    printf 'signed on a curve beyond the NIST three\n' >"$WORK/data"
    openssl dgst -sha256 -binary "$WORK/data" >"$WORK/digest"
    local c id
    for c in $CV_CURVES; do
        id=${c#*:} c=${c%%:*}
        cv_user --keypairgen --key-type "EC:$c" --id "$id" --label "$c"
        cv_spki "$id" "$c"
        # The SPKI names the curve as OpenSSL knows it.
        expect_ok openssl pkey -pubin -inform DER -in "$WORK/$c.der" -noout -text
        expect_out "ASN1 OID: $c" "$c named by its OID"
        # CKM_ECDSA over a SHA-256 digest, DER-encoded by pkcs11-tool for OpenSSL
        cv_user --sign --id "$id" -m ECDSA --signature-format openssl -i "$WORK/digest" -o "$WORK/sig"
        expect_ok openssl pkeyutl -verify -pubin -inkey "$WORK/$c.der" -keyform DER -in "$WORK/digest" -sigfile "$WORK/sig"
        expect_out 'Signature Verified Successfully'
        cv_user --verify --id "$id" -m ECDSA --signature-format openssl -i "$WORK/digest" --signature-file "$WORK/sig"
        expect_out 'Signature is valid'
        # a signature made by OpenSSL with a key of the same curve does not verify with the token's
        expect_ok openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:$c" -out "$WORK/other.pem"
        expect_ok openssl pkeyutl -sign -inkey "$WORK/other.pem" -in "$WORK/digest" -out "$WORK/other.sig"
        p11_run --login --pin "$USER_PIN" --verify --id "$id" -m ECDSA --signature-format openssl \
            -i "$WORK/digest" --signature-file "$WORK/other.sig"
        expect_out 'Invalid signature' "another key's signature refused"
    done
}

check "EC curves: pkcs11-tool --derive (ECDH1, point raw and DER) equals OpenSSL's on P-224, secp256k1, brainpoolP256r1/P384r1" t_cv_ecdh
t_cv_ecdh() {
    token_init curves
    pin_init
    local c id
    for c in $CV_CURVES; do
        id=${c#*:} c=${c%%:*}
        cv_user --keypairgen --key-type "EC:$c" --id "$id" --label "ecdh-$c" --usage-derive
        expect_ok openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:$c" -out "$WORK/peer.pem"
        expect_ok openssl pkey -in "$WORK/peer.pem" -pubout -outform DER -out "$WORK/peer.der"
        cv_user --derive -m ECDH1-DERIVE --id "$id" -i "$WORK/peer.der" -o "$WORK/z-raw"
        cv_user --derive --derive-pass-der -m ECDH1-DERIVE --id "$id" -i "$WORK/peer.der" -o "$WORK/z-der"
        cv_spki "$id" token
        expect_ok openssl pkeyutl -derive -inkey "$WORK/peer.pem" -peerkey "$WORK/token.der" \
            -peerform DER -out "$WORK/z-openssl"
        expect_same_file "$WORK/z-openssl" "$WORK/z-raw"
        expect_same_file "$WORK/z-openssl" "$WORK/z-der"
    done
}

# shellcheck shell=bash
# Key agreement and EdDSA through real clients (issue 13): X25519 on the token against `openssl
# pkeyutl -derive` (pkcs11-tool 0.23 cannot make X25519 keys nor read X25519 peers: c/x25519.c), an Ed25519 signature made on the token verified by `openssl pkeyutl
# -verify -rawin` with the public key pkcs11-tool exports, Java SunPKCS11 `KeyAgreement("ECDH")`
# against SunEC, and OpenSSH's `ssh-keygen -D` listing the token's keys.
#
# SoftHSM 2.6.1 has no CKK_EC_MONTGOMERY (X25519): that part runs on ferrohsm alone (D14).

ag_user() { p11_ok --login --pin "$USER_PIN" "$@"; }

# ag_hex HEX: the bytes of HEX on stdout
ag_hex() { printf '%b' "$(printf '%s' "$1" | sed 's/../\\x&/g')"; }

# ag_point ID: the CKA_EC_POINT of the public key ID as `-O` prints it (hex)
ag_point() {
    ag_user -O --type pubkey
    AG_POINT=$(awk -v id="$1" '/^Public Key Object/ {p=""} /EC_POINT:/ {p=$2}
        $1 == "ID:" && $2 == id {print p; exit}' "$ALL")
    [ -n "$AG_POINT" ] || fail "no EC_POINT for public key ID $1"
}

check "agreement: X25519 token derive equals openssl pkeyutl -derive, both sides" t_ag_x25519 --divergence D14
t_ag_x25519() {
    token_init agree
    pin_init
    if softhsm_lacks X25519; then
        # verify that SoftHSM still lacks it, so a stale D14 entry fails
        p11_run --login --pin "$USER_PIN" --keypairgen --key-type EC:curve25519 --id 40 --label x25519 --usage-derive
        [ "$RC" != 0 ] || fail "SoftHSM generated an X25519 key: D14 is stale"
        expect_out 'mechanism 1056 not supported|CKR_MECHANISM_INVALID' "SoftHSM refuses CKM_EC_MONTGOMERY_KEY_PAIR_GEN"
        return 0
    fi
    # pkcs11-tool 0.23 cannot make an X25519 key (its CKA_EC_PARAMS for EC:curve25519 is malformed
    # DER) nor read an X25519 peer key for --derive: c/x25519.c does those two calls (see there).
    # Logged, not judged: what pkcs11-tool does.
    p11_run --login --pin "$USER_PIN" --keypairgen --key-type EC:curve25519 --id 4f --label x-p11tool --usage-derive
    note "pkcs11-tool --keypairgen EC:curve25519: exit $RC (not judged)"
    ag_xtool
    expect_ok "$AG_X" "$MODULE" "$USER_PIN" gen 40 x25519
    ag_point 40
    # CKA_EC_POINT: a DER OCTET STRING of the 32-byte u-coordinate; the RFC 8410 SPKI wraps it
    expect_eq "${AG_POINT:0:4}" "0420" "X25519 CKA_EC_POINT encoding"
    expect_eq "${#AG_POINT}" 68 "X25519 CKA_EC_POINT length (hex digits)"
    ag_hex "302a300506032b656e032100${AG_POINT:4}" >"$WORK/token.der"
    expect_ok openssl pkey -pubin -inform DER -in "$WORK/token.der" -noout
    local i
    for i in 1 2; do
        expect_ok openssl genpkey -algorithm X25519 -out "$WORK/peer.pem"
        expect_ok openssl pkey -in "$WORK/peer.pem" -pubout -outform DER -out "$WORK/peer.der"
        tail -c 32 "$WORK/peer.der" >"$WORK/peer.raw"
        rm -f "$WORK/z-token" "$WORK/z-openssl"
        # the token's side: its private key and OpenSSL's public key (CKD_NULL, a generic secret
        # read back); pkcs11-tool first, the C API where pkcs11-tool cannot read the peer key
        p11_run --login --pin "$USER_PIN" --derive -m ECDH1-DERIVE --id 40 -i "$WORK/peer.der" -o "$WORK/z-token"
        if [ "$RC" != 0 ]; then
            expect_out 'Failed to parse other EC key' "pkcs11-tool's known X25519 limitation, nothing else"
            note "pkcs11-tool cannot read an X25519 peer key: deriving through c/x25519.c"
            expect_ok "$AG_X" "$MODULE" "$USER_PIN" derive 40 "$WORK/peer.raw" "$WORK/z-token"
        fi
        # OpenSSL's side: its private key and the token's public key
        expect_ok openssl pkeyutl -derive -inkey "$WORK/peer.pem" -peerkey "$WORK/token.der" \
            -peerform DER -out "$WORK/z-openssl"
        expect_eq "$(wc -c <"$WORK/z-openssl")" 32 "X25519 secret length"
        expect_same_file "$WORK/z-openssl" "$WORK/z-token"
        cp "$WORK/z-token" "$WORK/z-$i"
    done
    # two peers, two secrets (the token does not return a constant)
    if cmp -s "$WORK/z-1" "$WORK/z-2"; then fail "two different peers gave the same secret"; fi
    # an all-zero u-coordinate (a low-order point: the secret would be zero) is refused
    head -c 32 /dev/zero >"$WORK/zero.raw"
    run "$AG_X" "$MODULE" "$USER_PIN" derive 40 "$WORK/zero.raw" "$WORK/z-zero"
    [ "$RC" != 0 ] || fail "a low-order X25519 point was accepted"
    expect_out '^C_DeriveKey: rv=' "refused by C_DeriveKey"
    [ ! -s "$WORK/z-zero" ] || fail "output written for a refused derivation"
}

# ag_xtool: c/x25519.c built once per run (gcc); sets AG_X to the program
ag_xtool() {
    local dir src inc
    dir=$(dirname "$FIXTURES")/x25519
    src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../c" && pwd)/x25519.c
    inc=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../include" && pwd)
    if [ ! -x "$dir/x25519" ]; then
        mkdir -p "$dir"
        run gcc -O1 -Wall -I"$inc" -o "$dir/x25519.tmp" "$src" -ldl
        [ "$RC" = 0 ] || fail "gcc x25519.c failed"
        mv "$dir/x25519.tmp" "$dir/x25519"
    fi
    AG_X=$dir/x25519
}

check "agreement: Ed25519 --sign -m EDDSA verified by openssl pkeyutl -verify -rawin (exported key)" t_ag_ed25519
t_ag_ed25519() {
    token_init agree
    pin_init
    ag_user --keypairgen --key-type EC:edwards25519 --id 41 --label ed25519
    # the public key as pkcs11-tool exports it (a PEM SubjectPublicKeyInfo for EdDSA keys)
    ag_user --read-object --type pubkey --id 41 -o "$WORK/ed.pub"
    expect_ok openssl pkey -pubin -in "$WORK/ed.pub" -text -noout
    expect_out '^ED25519 Public-Key:' "exported key is an Ed25519 key"
    local f
    printf 'signed with Ed25519 on the token\n' >"$WORK/short"
    # (no empty message: OpenSSL 3.0's pkeyutl -rawin cannot read one, "Could not allocate 0 bytes")
    for f in short data; do
        [ "$f" = data ] && cp "$FIXTURES/data.bin" "$WORK/data"
        rm -f "$WORK/sig"
        ag_user --sign -m EDDSA --id 41 -i "$WORK/$f" -o "$WORK/sig"
        expect_eq "$(wc -c <"$WORK/sig")" 64 "Ed25519 signature length ($f)"
        expect_ok openssl pkeyutl -verify -pubin -inkey "$WORK/ed.pub" -rawin -in "$WORK/$f" -sigfile "$WORK/sig"
        expect_out 'Signature Verified Successfully'
    done
    # the last signature does not verify another message, nor when one bit is flipped
    run openssl pkeyutl -verify -pubin -inkey "$WORK/ed.pub" -rawin -in "$WORK/short" -sigfile "$WORK/sig"
    [ "$RC" != 0 ] || fail "OpenSSL verified the signature of another message"
    cp "$WORK/sig" "$WORK/badsig"
    printf '\x01' | dd of="$WORK/badsig" bs=1 seek=10 count=1 conv=notrunc 2>/dev/null
    run openssl pkeyutl -verify -pubin -inkey "$WORK/ed.pub" -rawin -in "$WORK/data" -sigfile "$WORK/badsig"
    [ "$RC" != 0 ] || fail "OpenSSL verified a modified signature"
}

# j_classes and j_setup are java-sunpkcs11.sh's (JcaCheck compiled once per run, the SunPKCS11 config)
check "agreement: Java SunPKCS11 KeyAgreement ECDH equals SunEC (P-256; P-224 where the JDK has it)" t_ag_java_ecdh
t_ag_java_ecdh() {
    j_classes
    j_setup
    expect_ok java "${JAVA_FLAGS[@]}" -cp "$J_CLASSES" JcaCheck "$WORK/p11.cfg" "$USER_PIN" ecdh secp256r1 secp224r1
    expect_out '^ok - KeyAgreement ECDH on secp256r1 \(token key\) equals SunEC'"'"'s$' "P-256 agreement"
    # P-224: either agreed and compared, or SunEC of this JDK has no secp224r1 (JDK 16+ removed it),
    # which JcaCheck reports as a skipped sub-check with the reason
    expect_out '^(ok - KeyAgreement ECDH on secp224r1 \(token key\) equals SunEC'"'"'s|# skip - secp224r1: .*)$' "P-224 agreement or its skip"
    expect_out '^# all passed$'
    expect_no_out '^FAIL - '
}

# ag_listed "TYPE BASE64": $WORK/listing has a key line with that type and key (any comment)
ag_listed() { awk -v k="$1" '$1 " " $2 == k { f = 1 } END { exit !f }' "$WORK/listing"; }

check "agreement: OpenSSH ssh-keygen -D lists the token's P-256 and Ed25519 keys" t_ag_openssh
t_ag_openssh() {
    token_init agree
    pin_init
    ag_user --keypairgen --key-type EC:prime256v1 --id 42 --label ssh-p256
    ag_user --keypairgen --key-type EC:edwards25519 --id 43 --label ssh-ed25519
    ag_user --read-object --type pubkey --id 43 -o "$WORK/ed.pub"
    # the expected OpenSSH lines, from the public keys pkcs11-tool exports
    ag_point 42
    expect_eq "${AG_POINT:0:6}" "044104" "P-256 CKA_EC_POINT encoding"
    ag_hex "3059301306072a8648ce3d020106082a8648ce3d030107034200${AG_POINT:4}" >"$WORK/p256.der"
    expect_ok openssl pkey -pubin -inform DER -in "$WORK/p256.der" -out "$WORK/p256.pem"
    expect_ok ssh-keygen -i -m PKCS8 -f "$WORK/p256.pem"
    local want_ec want_ed
    want_ec=$(awk '{print $1, $2; exit}' "$OUT")
    [[ $want_ec == "ecdsa-sha2-nistp256 "* ]] || fail "ssh-keygen -i of the P-256 key: got '$want_ec'"
    expect_ok ssh-keygen -D "$MODULE"
    cp "$ALL" "$WORK/listing"
    ag_listed "$want_ec" || fail "ssh-keygen -D did not list the token's P-256 key ($want_ec)"
    if grep -q '^ssh-ed25519 ' "$WORK/listing"; then
        expect_ok ssh-keygen -i -m PKCS8 -f "$WORK/ed.pub"
        want_ed=$(awk '{print $1, $2; exit}' "$OUT")
        ag_listed "$want_ed" || fail "ssh-keygen -D listed another Ed25519 key than the token's ($want_ed)"
        return 0
    fi
    # OpenSSH before PKCS#11 Ed25519 support prints this for the Ed25519 key and leaves it out
    grep -q 'skipping unsupported key type' "$WORK/listing" ||
        fail "ssh-keygen -D listed no Ed25519 key and gave no reason"
    skip "$(ssh -V 2>&1) has no Ed25519 in PKCS#11 (ssh-keygen -D: 'skipping unsupported key type'); the P-256 key was listed"
}

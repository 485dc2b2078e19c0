# shellcheck shell=bash
# OpenSC pkcs11-tool with symmetric keys (issue 12): AES and triple-DES key generation, the
# symmetric mechanism list, and --encrypt / --decrypt with AES-ECB, AES-CBC and AES-CBC-PAD on
# generated keys and on keys of known value (--write-object --type secrkey), cross-checked against
# `openssl enc` in both directions.
#
# pkcs11-tool 0.23 (Debian 12) encrypts and decrypts with AES-ECB, AES-CBC and AES-CBC-PAD only: for
# AES-CTR, AES-GCM and the DES3 modes it stops with "Mechanism ... illegal or not supported" before
# calling the module, and --sign finds no secret key for AES-CMAC (keys it writes or generates have
# no CKA_SIGN). Those are exercised by Java SunPKCS11 (java-sunpkcs11.sh) and python-pkcs11's suite
# (conformance/python-pkcs11.sh). Where SoftHSM 2.6.1 lacks something, the check carries a
# divergence tag and the section's "SoftHSM lacks:" line names it (softhsm_lacks in lib.sh).

# ---------------------------------------------------------------- helpers

pa_user() { p11_ok --login --pin "$USER_PIN" "$@"; }

pa_setup() {
    token_init aes
    pin_init
}

# pa_hex HEX FILE: the bytes of HEX into FILE
pa_hex() { printf '%b' "$(printf '%s' "$1" | sed 's/../\\x&/g')" >"$2"; }

# Known keys (FIPS-197 appendix C keys) and IV.
PA_K16=000102030405060708090a0b0c0d0e0f
PA_K24=000102030405060708090a0b0c0d0e0f1011121314151617
PA_K32=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
PA_IV=f0e1d2c3b4a5968778695a4b3c2d1e0f

# pa_known ID HEX: an AES key of that value on the token, as a secret key object
pa_known() {
    pa_hex "$2" "$WORK/key$1.bin"
    pa_user --write-object "$WORK/key$1.bin" --type secrkey --key-type "AES:$((${#2} / 2))" \
        --id "$1" --label "known$1" --usage-decrypt
    expect_out "Secret Key Object; AES length $((${#2} / 2))"
}

# ---------------------------------------------------------------- checks

check "pkcs11-tool aes: --keygen AES:16/24/32, listed with length and access flags" t_pa_keygen
t_pa_keygen() {
    pa_setup
    local n
    for n in 16 24 32; do
        pa_user --keygen --key-type "AES:$n" --id "$(printf %02x "$n")" --label "aes$n"
        expect_out "^Secret Key Object; AES length $n\$"
    done
    pa_user -O --type secrkey
    for n in 16 24 32; do
        expect_out "^Secret Key Object; AES length $n\$"
        expect_out "label: +aes$n\$"
    done
    expect_out 'Access: +never extractable, local'
    expect_out 'Usage: +encrypt, decrypt'
    # the keys persist: a later process encrypts with each
    printf 'sixteen byte msg' >"$WORK/in"
    for n in 16 24 32; do
        pa_user --encrypt --id "$(printf %02x "$n")" -m AES-ECB -i "$WORK/in" -o "$WORK/ct$n"
        pa_user --decrypt --id "$(printf %02x "$n")" -m AES-ECB -i "$WORK/ct$n" -o "$WORK/pt$n"
        expect_same_file "$WORK/in" "$WORK/pt$n"
    done
    # a key length AES does not have
    p11_run --login --pin "$USER_PIN" --keygen --key-type AES:20 --label bad
    [ "$RC" != 0 ] || fail "AES:20 key generation: expected a failure"
    expect_out 'CKR_KEY_SIZE_RANGE|CKR_ATTRIBUTE_VALUE_INVALID|CKR_TEMPLATE_INCONSISTENT'
}

# The symmetric mechanisms both modules list, then those only ferrohsm offers (D8).
check "pkcs11-tool aes: -M lists the AES and DES3 mechanisms" t_pa_mechanisms --divergence D8
t_pa_mechanisms() {
    token_init aes
    p11_ok -M
    local m
    for m in 'AES-KEY-GEN, .*generate' 'AES-ECB, .*encrypt, decrypt' 'AES-CBC, .*encrypt, decrypt' \
        'AES-CBC-PAD, .*encrypt, decrypt' 'AES-CTR, .*encrypt, decrypt' 'AES-GCM, .*encrypt, decrypt' \
        'AES-CMAC, .*sign, verify' 'AES-KEY-WRAP, .*wrap, unwrap' 'AES-ECB-ENCRYPT-DATA, .*derive' \
        'AES-CBC-ENCRYPT-DATA, .*derive' 'DES2-KEY-GEN, .*generate' 'DES3-KEY-GEN, .*generate' \
        'DES3-ECB, .*encrypt, decrypt' 'DES3-CBC, .*encrypt, decrypt' 'DES3-CBC-PAD, .*encrypt, decrypt' \
        'DES3-CMAC, .*sign, verify' 'DES3-ECB-ENCRYPT-DATA, .*derive' 'DES3-CBC-ENCRYPT-DATA, .*derive'; do
        expect_out "^  $m"
    done
    # AES key sizes in bytes, as PKCS #11 says for AES (SoftHSM and ferrohsm: 16..32)
    expect_out '^  AES-ECB, keySize=\{16,32\}'
    # CKM_AES_MAC (0x1083), CKM_AES_MAC_GENERAL (0x1084), CKM_AES_CTS (0x1089),
    # CKM_AES_CMAC_GENERAL (0x108B), CKM_AES_KEY_WRAP_KWP (0x210B), CKM_DES3_CMAC_GENERAL (0x137)
    for m in AES-MAC AES-MAC-GENERAL mechtype-0x1089 mechtype-0x108B mechtype-0x210B mechtype-0x137; do
        if softhsm_lacks "$m"; then
            expect_no_out "^  $m," "SoftHSM lacks $m (D8): if it lists it now, shorten D8"
        else
            expect_out "^  $m,"
        fi
    done
}

check "pkcs11-tool aes: DES3 key generation (--keygen --key-type DES3:24)" t_pa_des3_keygen --divergence D9
t_pa_des3_keygen() {
    pa_setup
    p11_run --login --pin "$USER_PIN" --keygen --key-type DES3:24 --id 30 --label des3
    if softhsm_lacks DES3:24; then
        [ "$RC" != 0 ] || fail "SoftHSM generated a DES3 key from pkcs11-tool's template: shorten D9"
        expect_out 'CKR_ATTRIBUTE_TYPE_INVALID'
        return 0
    fi
    [ "$RC" = 0 ] || fail "DES3:24 key generation failed"
    expect_out '^Secret Key Object; DES3'
    pa_user -O --type secrkey
    expect_out '^Secret Key Object; DES3'
    expect_out 'label: +des3$'
    # a triple-DES key has 24 bytes: 16 through CKM_DES3_KEY_GEN is refused
    p11_run --login --pin "$USER_PIN" --keygen --key-type DES3:16 --label des3short
    [ "$RC" != 0 ] || fail "DES3:16 key generation: expected a failure"
}

check "pkcs11-tool aes: --encrypt/--decrypt AES-ECB, AES-CBC, AES-CBC-PAD round trip (generated keys)" t_pa_roundtrip
t_pa_roundtrip() {
    pa_setup
    local n m
    head -c 1000 "$FIXTURES/data.bin" >"$WORK/odd"
    for n in 16 32; do
        pa_user --keygen --key-type "AES:$n" --id "$(printf %02x $((n + 1)))" --label "rt$n"
        for m in AES-ECB AES-CBC AES-CBC-PAD; do
            pa_user --encrypt --id "$(printf %02x $((n + 1)))" -m "$m" --iv "$PA_IV" -i "$FIXTURES/data.bin" -o "$WORK/ct"
            [ "$(wc -c <"$WORK/ct")" = "$([ "$m" = AES-CBC-PAD ] && echo 1040 || echo 1024)" ] ||
                fail "$m ciphertext of 1024 bytes: got $(wc -c <"$WORK/ct") bytes"
            cmp -s "$WORK/ct" "$FIXTURES/data.bin" && fail "$m ciphertext equals the plaintext"
            pa_user --decrypt --id "$(printf %02x $((n + 1)))" -m "$m" --iv "$PA_IV" -i "$WORK/ct" -o "$WORK/pt"
            expect_same_file "$FIXTURES/data.bin" "$WORK/pt"
        done
        # CBC-PAD takes any length; ECB and CBC only whole blocks (CKR_DATA_LEN_RANGE)
        pa_user --encrypt --id "$(printf %02x $((n + 1)))" -m AES-CBC-PAD --iv "$PA_IV" -i "$WORK/odd" -o "$WORK/ct"
        expect_eq "$(wc -c <"$WORK/ct" | tr -d ' ')" 1008 "CBC-PAD ciphertext length of 1000 bytes"
        pa_user --decrypt --id "$(printf %02x $((n + 1)))" -m AES-CBC-PAD --iv "$PA_IV" -i "$WORK/ct" -o "$WORK/pt"
        expect_same_file "$WORK/odd" "$WORK/pt"
        for m in AES-ECB AES-CBC; do
            p11_run --login --pin "$USER_PIN" --encrypt --id "$(printf %02x $((n + 1)))" -m "$m" --iv "$PA_IV" -i "$WORK/odd" -o "$WORK/ct"
            [ "$RC" != 0 ] || fail "$m of 1000 bytes: expected a failure"
            expect_out 'CKR_DATA_LEN_RANGE'
        done
    done
}

check "pkcs11-tool aes: AES-ECB/CBC/CBC-PAD on known keys agree with openssl enc (128, 192, 256)" t_pa_openssl
t_pa_openssl() {
    pa_setup
    local hex id bits m
    head -c 1000 "$FIXTURES/data.bin" >"$WORK/odd"
    for hex in "$PA_K16" "$PA_K24" "$PA_K32"; do
        bits=$((${#hex} * 4)) id=$((${#hex} / 2))
        pa_known "$id" "$hex"
        # pkcs11-tool encrypts, OpenSSL gets the same bytes
        pa_user --encrypt --id "$id" -m AES-ECB -i "$FIXTURES/data.bin" -o "$WORK/p11.ecb"
        expect_ok openssl enc "-aes-$bits-ecb" -K "$hex" -nopad -in "$FIXTURES/data.bin" -out "$WORK/ossl.ecb"
        expect_same_file "$WORK/ossl.ecb" "$WORK/p11.ecb"
        pa_user --encrypt --id "$id" -m AES-CBC --iv "$PA_IV" -i "$FIXTURES/data.bin" -o "$WORK/p11.cbc"
        expect_ok openssl enc "-aes-$bits-cbc" -K "$hex" -iv "$PA_IV" -nopad -in "$FIXTURES/data.bin" -out "$WORK/ossl.cbc"
        expect_same_file "$WORK/ossl.cbc" "$WORK/p11.cbc"
        pa_user --encrypt --id "$id" -m AES-CBC-PAD --iv "$PA_IV" -i "$WORK/odd" -o "$WORK/p11.pad"
        expect_ok openssl enc "-aes-$bits-cbc" -K "$hex" -iv "$PA_IV" -in "$WORK/odd" -out "$WORK/ossl.pad"
        expect_same_file "$WORK/ossl.pad" "$WORK/p11.pad"
        # OpenSSL encrypts (other data), pkcs11-tool decrypts
        printf 'OpenSSL encrypted this, %s bits, for the token to decrypt.\n' "$bits" >"$WORK/msg"
        expect_ok openssl enc "-aes-$bits-cbc" -K "$hex" -iv "$PA_IV" -in "$WORK/msg" -out "$WORK/msg.pad"
        pa_user --decrypt --id "$id" -m AES-CBC-PAD --iv "$PA_IV" -i "$WORK/msg.pad" -o "$WORK/msg.out"
        expect_same_file "$WORK/msg" "$WORK/msg.out"
        for m in ecb cbc; do
            pa_user --decrypt --id "$id" -m "AES-${m^^}" --iv "$PA_IV" -i "$WORK/ossl.$m" -o "$WORK/dec.$m"
            expect_same_file "$FIXTURES/data.bin" "$WORK/dec.$m"
        done
    done
    # FIPS-197 appendix C.1: AES-128 of 00112233445566778899aabbccddeeff
    pa_hex 00112233445566778899aabbccddeeff "$WORK/c1.in"
    pa_user --encrypt --id 16 -m AES-ECB -i "$WORK/c1.in" -o "$WORK/c1.out"
    expect_eq "$(od -An -tx1 "$WORK/c1.out" | tr -d ' \n')" 69c4e0d86a7b0430d8cdb78070b4c55a "FIPS-197 C.1 ciphertext"
}

check "pkcs11-tool aes: AES-CBC-PAD refuses a ciphertext with bad padding or a partial block" t_pa_badpad --divergence D10
t_pa_badpad() {
    pa_setup
    pa_known 16 "$PA_K16"
    # 32 bytes whose last block decrypts to garbage padding: OpenSSL CBC without padding of data
    # ending in 0x00 (a pad length of 0 is invalid)
    head -c 32 "$FIXTURES/data.bin" >"$WORK/nopad"
    expect_ok openssl enc -aes-128-cbc -K "$PA_K16" -iv "$PA_IV" -nopad -in "$WORK/nopad" -out "$WORK/bad.ct"
    p11_run --login --pin "$USER_PIN" --decrypt --id 16 -m AES-CBC-PAD --iv "$PA_IV" -i "$WORK/bad.ct" -o "$WORK/bad.out"
    [ "$RC" != 0 ] || fail "bad padding: expected a failure"
    if softhsm_lacks CKR_ENCRYPTED_DATA_INVALID; then
        expect_out 'CKR_GENERAL_ERROR' "SoftHSM's code for bad padding (D10)"
    else
        expect_out 'CKR_ENCRYPTED_DATA_INVALID'
    fi
    # a ciphertext that is not a whole number of blocks
    head -c 31 "$WORK/bad.ct" >"$WORK/short.ct"
    p11_run --login --pin "$USER_PIN" --decrypt --id 16 -m AES-CBC-PAD --iv "$PA_IV" -i "$WORK/short.ct" -o "$WORK/short.out"
    [ "$RC" != 0 ] || fail "31-byte ciphertext: expected a failure"
    expect_out 'CKR_ENCRYPTED_DATA_LEN_RANGE'
}

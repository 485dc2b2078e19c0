# shellcheck shell=bash
# Key families (issue 7, a ferrohsm feature): after `ferrohsm-util key rotate`, real clients that
# name a key by its label (RFC 7512 URIs: OpenSSL's libp11 engine signs, p11tool lists) get the
# newest version; older versions are found by their kid (CKA_ID, pkcs11-tool --id) and only verify;
# disabled ones are refused. (pkcs11-tool 0.23 ignores --label when signing: it takes the first
# private key, so it names keys by ID here.)
# SoftHSM has no key families: there the check only notes that (reference column not meaningful).

# kr_util ARGS...: ferrohsm-util beside the module under test (as cargo and the install put it)
kr_util() { expect_ok "$(dirname "$MODULE")/ferrohsm-util" "$@" --token kr --pin "$USER_PIN"; }

# kr_hex TEXT: TEXT as hex digits (pkcs11-tool --id)
kr_hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }

check "key rotation: pkcs11-tool and p11tool use the newest version by label (ferrohsm)" t_key_rotation_clients --divergence D7
t_key_rotation_clients() {
    if is_softhsm; then
        note "SoftHSM has no key families: not applicable"
        return 0
    fi
    [ -x "$(dirname "$MODULE")/ferrohsm-util" ] || fail "ferrohsm-util not found beside $MODULE"
    token_init kr
    pin_init
    local enginesdir
    enginesdir=$(openssl version -e | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p')
    [ -f "$enginesdir/pkcs11.so" ] || fail "libp11 engine not found: $enginesdir/pkcs11.so (apt-get install libengine-pkcs11-openssl)"
    printf 'openssl_conf = openssl_init\n[openssl_init]\nengines = engine_section\n[engine_section]\npkcs11 = pkcs11_section\n[pkcs11_section]\nengine_id = pkcs11\ndynamic_path = %s\nMODULE_PATH = %s\ninit = 0\n' \
        "$enginesdir/pkcs11.so" "$MODULE" >"$WORK/openssl.cnf"
    printf 'sign me\n' >"$WORK/data"
    expect_ok openssl dgst -sha256 -binary -out "$WORK/dgst" "$WORK/data"
    local v kid uri="pkcs11:token=kr;object=jwt;type=private;pin-value=$USER_PIN"
    for v in 1 2 3; do
        kr_util key rotate jwt --type ec:P-256
        expect_out "version $v \(jwt\.v$v\) is the newest"
        kr_util key public jwt --version "$v"
        cp "$OUT" "$WORK/v$v.pem"
        # Signed through the engine with the key named by its label (the family name).
        expect_ok env OPENSSL_CONF="$WORK/openssl.cnf" openssl pkeyutl -engine pkcs11 -keyform engine \
            -sign -inkey "$uri" -in "$WORK/dgst" -out "$WORK/sig$v"
        expect_ok openssl pkeyutl -verify -pubin -inkey "$WORK/v$v.pem" -in "$WORK/dgst" -sigfile "$WORK/sig$v"
        expect_out '^Signature Verified Successfully'
        if [ "$v" -gt 1 ]; then
            run openssl pkeyutl -verify -pubin -inkey "$WORK/v$((v - 1)).pem" -in "$WORK/dgst" -sigfile "$WORK/sig$v"
            [ "$RC" != 0 ] || fail "the signature by label after rotation $v verifies under version $((v - 1))"
        fi
    done
    # The RFC 7512 URI with the family name finds exactly one private key: version 3.
    export GNUTLS_PIN=$USER_PIN
    expect_ok p11tool --provider "$MODULE" --login --list-privkeys 'pkcs11:token=kr;object=jwt;type=private'
    expect_out '^Object 0:'
    expect_no_out '^Object 1:' "one private key labelled with the family"
    expect_out "^	ID: $(kr_hex jwt.v3 | sed 's/../&:/g; s/:$//')\$"
    # An older version, by kid: verifies what it signed, cannot sign.
    kid=$(kr_hex jwt.v1)
    p11_ok --login --pin "$USER_PIN" --verify --id "$kid" -m ECDSA-SHA256 --signature-format openssl \
        -i "$WORK/data" --signature-file "$WORK/sig1"
    p11_fail --login --pin "$USER_PIN" --sign --id "$kid" -m ECDSA-SHA256 -i "$WORK/data" -o "$WORK/x"
    expect_out 'CKR_KEY_FUNCTION_NOT_PERMITTED'
    # Disabled: refused; enabled again: verifies.
    kr_util key disable jwt --version 1
    p11_fail --login --pin "$USER_PIN" --verify --id "$kid" -m ECDSA-SHA256 --signature-format openssl \
        -i "$WORK/data" --signature-file "$WORK/sig1"
    expect_out 'CKR_KEY_FUNCTION_NOT_PERMITTED'
    kr_util key enable jwt --version 1
    p11_ok --login --pin "$USER_PIN" --verify --id "$kid" -m ECDSA-SHA256 --signature-format openssl \
        -i "$WORK/data" --signature-file "$WORK/sig1"
}

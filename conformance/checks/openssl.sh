# shellcheck shell=bash
# OpenSSL 3 with the libp11 engine (Debian libengine-pkcs11-openssl), keys named by RFC 7512 `pkcs11:`
# URIs with the PIN as `pin-value`. The engine is loaded by an OPENSSL_CONF file that names the module
# (MODULE_PATH), so no p11-kit configuration is involved. Keys are made with pkcs11-tool.
#
# SoftHSM 2.6.1 has no OAEP with SHA-2: that decryption runs against ferrohsm only.

# os_setup: token "ossl" with the user PIN, keys rsa (ID 01, RSA 2048), p256 (02), p384 (03), and
# $WORK/openssl.cnf loading the engine for $MODULE (exported as OPENSSL_CONF)
os_setup() {
    token_init ossl
    pin_init
    p11_ok --login --pin "$USER_PIN" --keypairgen --key-type rsa:2048 --id 01 --label rsa
    p11_ok --login --pin "$USER_PIN" --keypairgen --key-type EC:prime256v1 --id 02 --label p256
    p11_ok --login --pin "$USER_PIN" --keypairgen --key-type EC:secp384r1 --id 03 --label p384
    local enginesdir
    enginesdir=$(openssl version -e | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p')
    [ -f "$enginesdir/pkcs11.so" ] || fail "libp11 engine not found: $enginesdir/pkcs11.so (apt-get install libengine-pkcs11-openssl)"
    cat >"$WORK/openssl.cnf" <<EOC
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = $enginesdir/pkcs11.so
MODULE_PATH = $MODULE
init = 0
EOC
    note "OPENSSL_CONF:"
    sed 's/^/#   /' "$WORK/openssl.cnf"
    export OPENSSL_CONF=$WORK/openssl.cnf
    printf 'data signed through the libp11 engine\n' >"$WORK/data"
}

# os_uri LABEL TYPE: the RFC 7512 URI of a token object (with the PIN for private keys)
os_uri() {
    if [ "$2" = private ]; then
        printf 'pkcs11:token=ossl;object=%s;type=private;pin-value=%s' "$1" "$USER_PIN"
    else
        printf 'pkcs11:token=ossl;object=%s;type=%s' "$1" "$2"
    fi
}

# os_pubkey LABEL: the token's public key, read through the engine, as $WORK/LABEL.pub.pem
os_pubkey() {
    expect_ok openssl pkey -engine pkcs11 -pubin -inform engine -in "$(os_uri "$1" public)" \
        -out "$WORK/$1.pub.pem"
    expect_ok openssl pkey -pubin -in "$WORK/$1.pub.pem" -noout -text
}

check "openssl (libp11 engine): req -x509 with RSA, P-256, P-384 token keys, openssl verify" t_openssl_req
t_openssl_req() {
    os_setup
    local k md
    for k in rsa:sha256 p256:sha256 p384:sha384; do
        md=${k#*:} k=${k%%:*}
        expect_ok openssl req -new -x509 -engine pkcs11 -keyform engine -key "$(os_uri "$k" private)" \
            -"$md" -subj "/CN=$k" -days 30 -out "$WORK/$k.crt"
        expect_ok openssl verify -CAfile "$WORK/$k.crt" "$WORK/$k.crt"
        expect_out ": OK\$"
        # the certificate holds the token's public key
        os_pubkey "$k"
        expect_ok openssl x509 -in "$WORK/$k.crt" -pubkey -noout -out "$WORK/$k.crt.pub.pem"
        expect_same_file "$WORK/$k.pub.pem" "$WORK/$k.crt.pub.pem"
    done
    # a certificate request signed on the token
    expect_ok openssl req -new -engine pkcs11 -keyform engine -key "$(os_uri p256 private)" \
        -subj /CN=csr -out "$WORK/p256.csr"
    expect_ok openssl req -in "$WORK/p256.csr" -verify -noout
    expect_out 'verify OK'
}

check "openssl (libp11 engine): pkeyutl -sign (RSA PKCS#1, PSS, ECDSA) verified by OpenSSL" t_openssl_pkeyutl_sign
t_openssl_pkeyutl_sign() {
    os_setup
    os_pubkey rsa
    os_pubkey p256
    os_pubkey p384
    expect_ok openssl dgst -sha256 -binary -out "$WORK/dgst" "$WORK/data"
    expect_ok openssl dgst -sha256 -binary -out "$WORK/bad" "$WORK/dgst"
    local k opts
    for k in 'rsa' 'rsa rsa_padding_mode:pss rsa_pss_saltlen:32' 'p256' 'p384'; do
        read -r -a opts <<<"$k"
        k=${opts[0]}
        opts=("${opts[@]:1}")
        local po=(-pkeyopt digest:sha256) o
        for o in "${opts[@]}"; do po+=(-pkeyopt "$o"); done
        [ "$k" = rsa ] || po=()
        expect_ok openssl pkeyutl -engine pkcs11 -keyform engine -sign -inkey "$(os_uri "$k" private)" \
            "${po[@]}" -in "$WORK/dgst" -out "$WORK/sig"
        expect_ok openssl pkeyutl -verify -pubin -inkey "$WORK/$k.pub.pem" "${po[@]}" -in "$WORK/dgst" \
            -sigfile "$WORK/sig"
        expect_out '^Signature Verified Successfully'
        expect_fail openssl pkeyutl -verify -pubin -inkey "$WORK/$k.pub.pem" "${po[@]}" -in "$WORK/bad" \
            -sigfile "$WORK/sig"
        expect_out 'Signature Verification Failure' "a signature of another digest is rejected"
    done
    # openssl dgst -sign with the engine key (the whole message hashed by OpenSSL)
    expect_ok openssl dgst -sha384 -engine pkcs11 -keyform engine -sign "$(os_uri p384 private)" \
        -out "$WORK/sig" "$WORK/data"
    expect_ok openssl dgst -sha384 -verify "$WORK/p384.pub.pem" -signature "$WORK/sig" "$WORK/data"
    expect_out '^Verified OK'
}

check "openssl (libp11 engine): pkeyutl -decrypt of OpenSSL ciphertexts (PKCS#1, OAEP)" t_openssl_pkeyutl_decrypt --divergence D6
t_openssl_pkeyutl_decrypt() {
    os_setup
    os_pubkey rsa
    printf 'a secret to decrypt\n' >"$WORK/plain"
    local modes=('' 'rsa_padding_mode:oaep')
    # D6: SoftHSM 2.6.1 has OAEP with SHA-1 only
    if is_ferrohsm; then
        modes+=('rsa_padding_mode:oaep rsa_oaep_md:sha256 rsa_mgf1_md:sha256')
    else
        note "SoftHSM: OAEP with SHA-256 not run (SoftHSM 2.6.1 has OAEP with SHA-1 only)"
    fi
    local m o po
    for m in "${modes[@]}"; do
        po=()
        for o in $m; do po+=(-pkeyopt "$o"); done
        rm -f "$WORK/dec"
        expect_ok openssl pkeyutl -encrypt -pubin -inkey "$WORK/rsa.pub.pem" "${po[@]}" -in "$WORK/plain" \
            -out "$WORK/ct"
        expect_ok openssl pkeyutl -engine pkcs11 -keyform engine -decrypt -inkey "$(os_uri rsa private)" \
            "${po[@]}" -in "$WORK/ct" -out "$WORK/dec"
        expect_same_file "$WORK/plain" "$WORK/dec"
    done
}

# os_tls LABEL: s_server with the token key LABEL and its certificate, one TLS 1.3 handshake with
# s_client (checking the certificate), the server killed at the end
os_tls() {
    local k=$1 srv=$WORK/server-$1 port
    : >"$srv.out"
    note "openssl s_server with $(os_uri "$k" private) in the background"
    timeout -k 2 "$CMD_TIMEOUT" openssl s_server -engine pkcs11 -keyform engine -key "$(os_uri "$k" private)" \
        -cert "$WORK/$k.crt" -accept 127.0.0.1:0 -tls1_3 -naccept 1 -www </dev/null >"$srv.out" 2>"$srv.err" &
    OS_SERVER=$!
    for _ in $(seq 100); do
        grep -q '^ACCEPT ' "$srv.out" && break
        kill -0 "$OS_SERVER" 2>/dev/null || break
        sleep 0.1
    done
    port=$(sed -n 's/^ACCEPT .*:\([0-9][0-9]*\)$/\1/p' "$srv.out")
    if [ -z "$port" ]; then
        sed 's/^/  server | /' "$srv.out"
        sed 's/^/  server ! /' "$srv.err"
        fail "s_server did not start"
    fi
    run openssl s_client -connect "127.0.0.1:$port" -servername localhost -tls1_3 -CAfile "$WORK/$k.crt" \
        -verify_return_error -brief
    wait "$OS_SERVER"
    local src=$?
    OS_SERVER=""
    sed 's/^/  server | /' "$srv.out"
    sed 's/^/  server ! /' "$srv.err"
    printf '  server -> exit %s\n' "$src"
    [ "$RC" = 0 ] || fail "s_client failed (exit $RC)"
    expect_out '^Protocol version: TLSv1\.3$'
    expect_out '^Verification: OK$'
    expect_out "^Peer certificate: CN ?= ?$k\$"
    expect_eq "$src" 0 "s_server exit status"
}

check "openssl (libp11 engine): TLS 1.3 s_server with token keys (P-256, RSA-PSS), s_client" t_openssl_tls
t_openssl_tls() {
    OS_SERVER=""
    trap '[ -n "$OS_SERVER" ] && kill "$OS_SERVER" 2>/dev/null' EXIT
    os_setup
    local k
    for k in p256 rsa; do
        expect_ok openssl req -new -x509 -engine pkcs11 -keyform engine -key "$(os_uri "$k" private)" \
            -subj "/CN=$k" -days 30 -out "$WORK/$k.crt"
        os_tls "$k"
    done
    expect_out '^Signature type: RSA-PSS$' "RSA key signs the handshake with PSS"
}

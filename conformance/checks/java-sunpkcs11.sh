# shellcheck shell=bash
# Java SunPKCS11 (OpenJDK 17): keytool and jarsigner with `-storetype PKCS11 -keystore NONE
# -providerClass sun.security.pkcs11.SunPKCS11 -providerArg CFG`, and conformance/java/JcaCheck.java
# (the JCA: Signature, Mac, Cipher, KeyPairGenerator, KeyGenerator, KeyStore, 16 signing threads).
# The SunPKCS11 configuration names the token by its slot ID (from `pkcs11-tool -L`).
#
# SunPKCS11 picks the PKCS#11 mechanisms itself (for SHA256withECDSA it uses CKM_ECDSA_SHA256 when the
# token lists it, else CKM_ECDSA on a digest made in Java), so the same script runs on both modules.
# SunPKCS11 of JDK 17 has no OAEP cipher: OAEP is left to pkcs11-tool-crypto.sh and openssl.sh.

# JVM flags for short runs on a shared machine: client compiler only, serial GC.
JAVA_FLAGS=(-XX:TieredStopAtLevel=1 -XX:+UseSerialGC)
JAVA_JFLAGS=(-J-XX:TieredStopAtLevel=1 -J-XX:+UseSerialGC)

# j_setup: token "java" with the user PIN, and $WORK/p11.cfg naming its slot
j_setup() {
    token_init java
    pin_init
    list_slots -L
    local id
    id=$(slot_field 1 1)
    [[ $id =~ ^0x[0-9a-f]+$ ]] || fail "slot ID of the token: got '$id'"
    printf 'name = conformance\nlibrary = %s\nslot = %d\n' "$MODULE" "$((id))" >"$WORK/p11.cfg"
    # KeyAgreement ECDH: SunPKCS11 derives a generic secret from a token EC private key and reads
    # its CKA_VALUE back. With neither module does that work by default (the generated key has
    # no CKA_DERIVE: CKR_KEY_FUNCTION_NOT_PERMITTED; the derived secret is not extractable:
    # CKR_ATTRIBUTE_SENSITIVE), so the configuration asks for both, as a deployment must.
    printf 'attributes(generate, CKO_PRIVATE_KEY, CKK_EC) = {\n  CKA_DERIVE = true\n}\n' >>"$WORK/p11.cfg"
    printf 'attributes(generate, CKO_SECRET_KEY, CKK_GENERIC_SECRET) = {\n  CKA_SENSITIVE = false\n  CKA_EXTRACTABLE = true\n}\n' >>"$WORK/p11.cfg"
    note "SunPKCS11 config:"
    sed 's/^/#   /' "$WORK/p11.cfg"
}

J_STORE=(-storetype PKCS11 -keystore NONE -providerClass sun.security.pkcs11.SunPKCS11)

j_keytool() { expect_ok keytool "${JAVA_JFLAGS[@]}" "${J_STORE[@]}" -providerArg "$WORK/p11.cfg" -storepass "$USER_PIN" "$@"; }

# j_genkeys: keytool key pairs rsa (RSA 2048), ec256 (P-256), ec384 (P-384), each with its self-signed
# certificate (signed on the token)
j_genkeys() {
    j_keytool -genkeypair -alias rsa -keyalg RSA -keysize 2048 -sigalg SHA256withRSA -dname CN=rsa -validity 30
    j_keytool -genkeypair -alias ec256 -keyalg EC -groupname secp256r1 -sigalg SHA256withECDSA -dname CN=ec256 -validity 30
    j_keytool -genkeypair -alias ec384 -keyalg EC -groupname secp384r1 -sigalg SHA384withECDSA -dname CN=ec384 -validity 30
}

# j_classes: JcaCheck compiled once per run, next to the run's fixtures; prints the class directory
j_classes() {
    local dir src
    dir=$(dirname "$FIXTURES")/java-classes
    src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../java" && pwd)/JcaCheck.java
    if [ ! -f "$dir/JcaCheck.class" ]; then
        mkdir -p "$dir.tmp"
        run javac -J-XX:TieredStopAtLevel=1 -d "$dir.tmp" "$src"
        [ "$RC" = 0 ] || fail "javac JcaCheck.java failed"
        mv "$dir.tmp" "$dir" 2>/dev/null || rm -rf "$dir.tmp"
    fi
    J_CLASSES=$dir
}

check "java: keytool -list on the token (SunPKCS11)" t_java_keytool_list
t_java_keytool_list() {
    j_setup
    j_keytool -list
    expect_out '^Keystore type: PKCS11$'
    expect_out '^Keystore provider: SunPKCS11-conformance$'
    expect_out '^Your keystore contains 0 entries$'
    # a private key and its certificate written by pkcs11-tool (same CKA_ID) are a key entry named
    # after the certificate's label
    p11_ok --login --pin "$USER_PIN" --write-object "$FIXTURES/cert.key" --type privkey --id 01 --label c1
    p11_ok --login --pin "$USER_PIN" --write-object "$FIXTURES/cert.der" --type cert --id 01 --label c1
    j_keytool -list -v
    expect_out '^Your keystore contains 1 entry$'
    expect_out '^Alias name: c1$'
    expect_out '^Entry type: PrivateKeyEntry$'
    expect_out '^Owner: CN=t$'
    # a wrong PIN is refused
    run keytool "${JAVA_JFLAGS[@]}" "${J_STORE[@]}" -providerArg "$WORK/p11.cfg" -storepass 9999 -list -v
    [ "$RC" != 0 ] || fail "keytool -list with a wrong PIN: expected a failure"
    expect_out "CKR_PIN_INCORRECT"
}

check "java: keytool -genkeypair RSA 2048, EC P-256, P-384 and -certreq" t_java_keytool_genkeypair
t_java_keytool_genkeypair() {
    j_setup
    j_genkeys
    j_keytool -list
    expect_out '^Your keystore contains 3 entries$'
    for a in rsa ec256 ec384; do
        expect_out "^$a, PrivateKeyEntry"
    done
    # the keys are token objects, seen by another client
    expect_ok pkcs11-tool --module "$MODULE" --login --pin "$USER_PIN" -O
    expect_out '^Private Key Object; RSA'
    expect_out '^Private Key Object; EC'
    local a
    for a in rsa ec256 ec384; do
        expect_out "subject: +DN: CN=$a\$" "certificate $a"
    done
    # certificate requests signed on the token, checked by OpenSSL
    for a in rsa ec256 ec384; do
        j_keytool -certreq -alias "$a" -file "$WORK/$a.csr"
        expect_ok openssl req -in "$WORK/$a.csr" -verify -noout -subject
        expect_out 'verify OK'
        expect_out "subject=CN *= *$a"
    done
    # the self-signed certificates keytool made verify with OpenSSL
    j_keytool -exportcert -alias ec384 -rfc -file "$WORK/ec384.pem"
    expect_ok openssl verify -CAfile "$WORK/ec384.pem" "$WORK/ec384.pem"
    expect_out ': OK$'
}

check "java: keytool -changealias and -delete on a token key entry" t_java_keytool_alias_delete
t_java_keytool_alias_delete() {
    j_setup
    j_keytool -genkeypair -alias k1 -keyalg EC -groupname secp256r1 -dname CN=k1 -validity 30
    # -changealias sets CKA_LABEL of the private key and the certificate (C_SetAttributeValue)
    j_keytool -changealias -alias k1 -destalias k2
    j_keytool -list
    expect_out '^Your keystore contains 1 entry$'
    expect_out '^k2, PrivateKeyEntry'
    expect_no_out '^k1, '
    expect_ok pkcs11-tool --module "$MODULE" --login --pin "$USER_PIN" -O
    expect_out 'label: +k2$'
    expect_no_out 'label: +k1$'
    # -delete destroys the entry's objects
    j_keytool -delete -alias k2
    j_keytool -list
    expect_out '^Your keystore contains 0 entries$'
    expect_ok pkcs11-tool --module "$MODULE" --login --pin "$USER_PIN" -O
    expect_no_out '^(Private Key|Certificate) Object' "objects of the deleted entry"
}

check "java: keytool -genseckey HmacSHA256" t_java_keytool_genseckey
t_java_keytool_genseckey() {
    j_setup
    j_keytool -genseckey -alias hmac -keyalg HmacSHA256 -keysize 256
    j_keytool -list
    expect_out '^Your keystore contains 1 entry$'
    expect_out '^hmac, SecretKeyEntry'
    expect_ok pkcs11-tool --module "$MODULE" --login --pin "$USER_PIN" -O --type secrkey
    expect_out '^Secret Key Object'
    expect_out 'label: +hmac'
}

check "java: jarsigner signs a jar with token keys (RSA, EC), jarsigner -verify" t_java_jarsigner
t_java_jarsigner() {
    j_setup
    j_genkeys
    mkdir -p "$WORK/jar"
    printf 'hello from a signed jar\n' >"$WORK/jar/a.txt"
    expect_ok jar "${JAVA_JFLAGS[@]}" cf "$WORK/t.jar" -C "$WORK/jar" a.txt
    local a
    for a in rsa ec256; do
        expect_ok jarsigner "${JAVA_JFLAGS[@]}" "${J_STORE[@]}" -providerArg "$WORK/p11.cfg" -storepass "$USER_PIN" \
            -signedjar "$WORK/$a.jar" "$WORK/t.jar" "$a"
        expect_out '^jar signed\.'
        expect_ok jarsigner "${JAVA_JFLAGS[@]}" -verify -verbose -certs "$WORK/$a.jar"
        expect_out '^jar verified\.'
        expect_out "Signed by \"CN=$a\""
    done
    # a jar whose content changed after signing is refused
    cp "$WORK/rsa.jar" "$WORK/bad.jar"
    printf 'tampered\n' >"$WORK/jar/a.txt"
    expect_ok jar "${JAVA_JFLAGS[@]}" uf "$WORK/bad.jar" -C "$WORK/jar" a.txt
    expect_fail jarsigner "${JAVA_JFLAGS[@]}" -verify "$WORK/bad.jar"
    expect_out 'digest error|SecurityException'
}

check "java: JCA through SunPKCS11 (Signature, Mac, Cipher, KeyAgreement, generators, 16 threads)" t_java_jca
t_java_jca() {
    j_classes
    j_setup
    j_genkeys
    expect_ok java "${JAVA_FLAGS[@]}" -cp "$J_CLASSES" JcaCheck "$WORK/p11.cfg" "$USER_PIN"
    expect_out '^# all passed$'
    expect_no_out '^FAIL - '
    local n
    n=$(grep -c '^ok - ' "$ALL")
    expect_eq "$n" 21 "number of JcaCheck sub-checks passed"
}

# SunPKCS11 hands C_Verify an ECDSA signature r||s with r and s as long as the longer of the two, not
# nLen: for P-521 (r, s < 2^521, nLen 66) a quarter of all signatures arrive as 2 x 65 bytes. PKCS #11
# (v2.40 2.3.1, same in 3.x) allows "an octet string of equal length of at most nLen" each.
# JcaCheck p521-short verifies a fixed OpenSSL signature of each form. SoftHSM 2.6.1 refuses the short
# form (CKR_SIGNATURE_LEN_RANGE); its result for that form is shown, not judged.
check "java: SunPKCS11 verifies P-521 ECDSA signatures with 65-byte r and s" t_java_p521_short --divergence D2
t_java_p521_short() {
    j_classes
    j_setup
    run java "${JAVA_FLAGS[@]}" -cp "$J_CLASSES" JcaCheck "$WORK/p11.cfg" "$USER_PIN" p521-short
    expect_out '^ok - SHA512withECDSA P-521 signature as 2 x 66 bytes'
    local rc=$RC verdict
    verdict=$(grep -E '^(ok|FAIL) - .*2 x 65 bytes' "$ALL" | cut -c1-4)
    # For the log: the same 130-byte r||s through pkcs11-tool, to show the return value of C_Verify
    # (not judged; the fixed key and signature are JcaCheck's P521_PUB and P521_SHORT).
    note "diagnosis: the 130-byte signature through pkcs11-tool (not judged)"
    j_hex 30819b301006072a8648ce3d020106052b810400230381860004017e3bf91aee68dbb908e85c4f49f013def48791cd0663de727c11b28fe63b8dfa50cb11d11ba606fa8c0b28e82157af229a2c27dc1cded9453da0c2351a02761c5a01abe63cae85ac29b7ead39fbc25932f05b395744a17e5838655c25612cf36dcb5dd5c692f50616e4dc50d3269522dc034843c1292706d8b008e481756021fa79121 >"$WORK/p521.der"
    j_hex 67889ce7b899bc891faa55d6e1c138b361449ccf47c8fd5f7feccc072ac8e4a194c3f69c6cd220a8fce620343828454f7aa8fbfe2926f2241f4bc989198cb93783b22502575bb651a1ca8790a063b08488cde21c31817b22504dce8c14b5f6ba994d4cb551f9ef8c2275c1e210bb2cabf9dadb2258a391ca5568982db2bd778ec896 >"$WORK/sig130"
    printf 'P-521 signature with short r and s\n' >"$WORK/msg"
    run openssl dgst -sha512 -binary -out "$WORK/msg.sha512" "$WORK/msg"
    p11_run --login --pin "$USER_PIN" --write-object "$WORK/p521.der" --type pubkey --id 21 --label p521fixed
    p11_run --login --pin "$USER_PIN" --verify --id 21 -m ECDSA -i "$WORK/msg.sha512" --signature-file "$WORK/sig130"
    if is_ferrohsm; then
        [ "$verdict" = "ok -" ] || fail "SunPKCS11 could not verify the P-521 signature sent as 2 x 65 bytes"
        expect_eq "$rc" 0 "JcaCheck p521-short exit status"
    else
        note "SoftHSM: 2 x 65-byte form: $verdict (reference only, not judged)"
    fi
}

# j_hex HEX: the bytes
j_hex() { printf '%b' "$(printf '%s' "$1" | sed 's/../\\x&/g')"; }

# ---------------------------------------------------------------- CA-signed chain, TLS server

# -importcert of a CA reply: the token key's certificate replaced by one signed by a throwaway OpenSSL
# CA, the key entry's chain then [srv, ca]. The reply file holds the whole chain (SunPKCS11 keeps no
# trusted-certificate entries, and the CA is not in the JDK's cacerts), so keytool is told to install
# it anyway (-noprompt).
check "java: keytool -importcert of a CA-signed chain onto a token key entry" t_java_keytool_importcert_chain
t_java_keytool_importcert_chain() {
    j_setup
    j_keytool -genkeypair -alias srv -keyalg EC -groupname secp256r1 -sigalg SHA256withECDSA -dname CN=srv -validity 30
    j_keytool -certreq -alias srv -file "$WORK/srv.csr"
    expect_ok openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=ca -days 30 \
        -keyout "$WORK/ca.key" -out "$WORK/ca.pem"
    printf 'basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n' >"$WORK/ext.cnf"
    expect_ok openssl x509 -req -in "$WORK/srv.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -set_serial 2 \
        -days 30 -sha256 -extfile "$WORK/ext.cnf" -out "$WORK/srv.pem"
    cat "$WORK/srv.pem" "$WORK/ca.pem" >"$WORK/chain.pem"
    j_keytool -importcert -trustcacerts -noprompt -alias srv -file "$WORK/chain.pem"
    expect_out 'Certificate reply was installed in keystore'
    j_keytool -list -v -alias srv
    expect_out '^Entry type: PrivateKeyEntry$'
    expect_out '^Certificate chain length: 2$'
    expect_out '^Owner: CN=srv$'
    expect_out '^Issuer: CN=ca$'
    expect_out '^Owner: CN=ca$'
    # the installed chain, exported, verifies against the CA with OpenSSL
    j_keytool -exportcert -alias srv -rfc -file "$WORK/got.pem"
    expect_ok openssl verify -CAfile "$WORK/ca.pem" "$WORK/got.pem"
    expect_out ': OK$'
    # the certificates are token objects: the CA-signed one under the key's label, and the CA
    expect_ok pkcs11-tool --module "$MODULE" --login --pin "$USER_PIN" -O --type cert
    expect_out 'subject: +DN: CN=srv$'
    expect_out 'subject: +DN: CN=ca$'
    # and the key still signs: a new CSR from the entry verifies
    j_keytool -certreq -alias srv -file "$WORK/srv2.csr"
    expect_ok openssl req -in "$WORK/srv2.csr" -verify -noout
    expect_out 'verify OK'
}

# j_tls_classes: TlsServer compiled once per run (own directory, beside JcaCheck's)
j_tls_classes() {
    local dir src
    dir=$(dirname "$FIXTURES")/java-tls-classes
    src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../java" && pwd)/TlsServer.java
    if [ ! -f "$dir/TlsServer.class" ]; then
        mkdir -p "$dir.tmp"
        run javac -J-XX:TieredStopAtLevel=1 -d "$dir.tmp" "$src"
        [ "$RC" = 0 ] || fail "javac TlsServer.java failed"
        mv "$dir.tmp" "$dir" 2>/dev/null || rm -rf "$dir.tmp"
    fi
    J_TLS_CLASSES=$dir
}

# j_tls_cleanup: on the check's exit, a server still running (a failed step) is killed and its output
# logged
j_tls_cleanup() {
    [ -n "$J_SERVER" ] || return 0
    kill "$J_SERVER" 2>/dev/null
    wait "$J_SERVER" 2>/dev/null
    note "TlsServer $J_ALIAS killed at the end of the check; its output:"
    sed 's/^/  server | /' "$WORK/tls-$J_ALIAS.out"
    sed 's/^/  server ! /' "$WORK/tls-$J_ALIAS.err"
}

# j_tls_server ALIAS N: TlsServer in the background presenting ALIAS for N connections; sets J_PORT
j_tls_server() {
    local srv=$WORK/tls-$1
    J_ALIAS=$1
    : >"$srv.out"
    note "java TlsServer $1 $2 in the background"
    timeout -k 2 "$((CMD_TIMEOUT + 10))" java "${JAVA_FLAGS[@]}" -cp "$J_TLS_CLASSES" TlsServer \
        "$WORK/p11.cfg" "$USER_PIN" "$1" "$2" </dev/null >"$srv.out" 2>"$srv.err" &
    J_SERVER=$!
    J_PORT=""
    for _ in $(seq 300); do
        grep -q '^PORT ' "$srv.out" && break
        kill -0 "$J_SERVER" 2>/dev/null || break
        sleep 0.1
    done
    J_PORT=$(sed -n 's/^PORT \([0-9][0-9]*\)$/\1/p' "$srv.out")
    [ -n "$J_PORT" ] || fail "TlsServer $1 did not start"
}

# j_tls_end ALIAS: waits for the server (it exits after its N connections), logs it, checks exit 0
j_tls_end() {
    local srv=$WORK/tls-$1 src
    wait "$J_SERVER"
    src=$?
    J_SERVER=""
    sed 's/^/  server | /' "$srv.out"
    sed 's/^/  server ! /' "$srv.err"
    printf '  server -> exit %s\n' "$src"
    expect_eq "$src" 0 "TlsServer $1 exit status"
}

# j_tls_client ALIAS LINE OPENSSL-ARGS...: s_client to the server sending LINE, checking the reply,
# the certificate (verified against the exported self-signed one) and the client's summary (-brief:
# "Signature type", "Hash used"; without it "Peer signature type", "Peer signature digest")
j_tls_client() {
    local k=$1 line=$2
    shift 2
    printf '%s\n' "$line" >"$WORK/line"
    run bash -c 'exec openssl s_client "$@" <"$0"' "$WORK/line" -connect "127.0.0.1:$J_PORT" \
        -servername localhost -CAfile "$WORK/$k.pem" -verify_return_error -brief -ign_eof "$@"
    [ "$RC" = 0 ] || fail "s_client failed (exit $RC)"
    expect_out '^Verification: OK$'
    expect_out "^Peer certificate: CN ?= ?$k\$"
    expect_out "^echo: $line\$" "the server's answer"
    expect_out '^(Peer signature digest|Hash used): SHA256$'
}

check "java: TLS server with the token key (SSLServerSocket, TLS 1.3 RSA-PSS and ECDSA, TLS 1.2)" t_java_tls_server
t_java_tls_server() {
    J_SERVER="" J_ALIAS=""
    trap j_tls_cleanup EXIT
    j_tls_classes
    j_setup
    j_keytool -genkeypair -alias rsa -keyalg RSA -keysize 2048 -sigalg SHA256withRSA -dname CN=rsa -validity 30
    j_keytool -genkeypair -alias ec256 -keyalg EC -groupname secp256r1 -sigalg SHA256withECDSA -dname CN=ec256 -validity 30
    local k
    for k in rsa ec256; do
        j_keytool -exportcert -alias "$k" -rfc -file "$WORK/$k.pem"
    done
    # RSA: TLS 1.3 with RSA-PSS (CKM_RSA_PKCS_PSS), TLS 1.2 with PKCS#1 v1.5 signatures
    j_tls_server rsa 2
    j_tls_client rsa "hello rsa tls13" -tls1_3 -sigalgs rsa_pss_rsae_sha256
    expect_out '^Protocol version: TLSv1\.3$'
    expect_out '^(Peer s|S)ignature type: RSA-PSS$'
    j_tls_client rsa "hello rsa tls12" -tls1_2 -sigalgs RSA+SHA256
    expect_out '^Protocol version: TLSv1\.2$'
    expect_out '^(Peer s|S)ignature type: RSA$'
    j_tls_end rsa
    # EC P-256: TLS 1.3 and TLS 1.2 with ECDSA
    j_tls_server ec256 2
    j_tls_client ec256 "hello ec tls13" -tls1_3 -sigalgs ecdsa_secp256r1_sha256
    expect_out '^Protocol version: TLSv1\.3$'
    expect_out '^(Peer s|S)ignature type: ECDSA$'
    j_tls_client ec256 "hello ec tls12" -tls1_2 -sigalgs ECDSA+SHA256
    expect_out '^Protocol version: TLSv1\.2$'
    expect_out '^(Peer s|S)ignature type: ECDSA$'
    j_tls_end ec256
}

# ---------------------------------------------------------------- symmetric keys (issue 12)

# j_sym_classes: SymCheck compiled once per run (own directory)
j_sym_classes() {
    local dir src
    dir=$(dirname "$FIXTURES")/java-sym-classes
    src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../java" && pwd)/SymCheck.java
    if [ ! -f "$dir/SymCheck.class" ]; then
        mkdir -p "$dir.tmp"
        run javac -J-XX:TieredStopAtLevel=1 -d "$dir.tmp" "$src"
        [ "$RC" = 0 ] || fail "javac SymCheck.java failed"
        mv "$dir.tmp" "$dir" 2>/dev/null || rm -rf "$dir.tmp"
    fi
    J_SYM_CLASSES=$dir
}

# java/SymCheck.java: AES/CBC/PKCS5Padding, AES/GCM/NoPadding, AES/CTR/NoPadding, AES/ECB/NoPadding,
# DESede/CBC/PKCS5Padding and DESede/ECB/NoPadding against SunJCE on the same key bytes (single-part
# and in uneven pieces), tampered GCM input and bad padding refused, KeyGenerator AES and DESede on
# the token, the AES keys pkcs11-tool wrote found through the KeyStore as SecretKeyEntry, a DES3 key
# and a generated AES key stored through the KeyStore and seen by pkcs11-tool afterwards.
# (JDK 17's SunPKCS11 has no Mac AESCMAC; SymCheck says so when it is missing.)
# SymCheck reaches the module through java/p11spy.c, a pass-through that logs each
# C_EncryptInit/C_DecryptInit with its parameter length and return value: SunPKCS11 sends
# CK_GCM_PARAMS without ulIvBits (40 bytes) first and, when the module refuses that, the 2.40
# header's layout with ulIvBits (48 bytes). ferrohsm takes both; SoftHSM only the second (D11).
check "java: SunPKCS11 AES (CBC, GCM, CTR, ECB) and DESede ciphers, AES KeyGenerator, token SecretKeyEntry" t_java_sym --divergence D11
t_java_sym() {
    j_sym_classes
    j_spy
    j_setup
    # the same configuration, through the spy
    sed "s|^library = .*|library = $J_SPY|" "$WORK/p11.cfg" >"$WORK/p11spy.cfg"
    local i hex=""
    for i in $(seq 0 31); do hex+=$(printf '%02x' "$i"); done
    j_hex "$hex" >"$WORK/k32"
    head -c 16 "$WORK/k32" >"$WORK/k16"
    p11_ok --login --pin "$USER_PIN" --write-object "$WORK/k32" --type secrkey --key-type AES:32 --id 41 --label aes-known --usage-decrypt
    p11_ok --login --pin "$USER_PIN" --write-object "$WORK/k16" --type secrkey --key-type AES:16 --id 42 --label aes-known128 --usage-decrypt
    P11SPY_MODULE=$MODULE P11SPY_LOG=$WORK/spy.log \
        expect_ok java "${JAVA_FLAGS[@]}" -cp "$J_SYM_CLASSES" SymCheck "$WORK/p11spy.cfg" "$USER_PIN"
    expect_out '^# all passed$'
    expect_no_out '^FAIL - '
    local n
    n=$(grep -c '^ok - ' "$ALL")
    expect_eq "$n" 11 "number of SymCheck sub-checks passed"
    # what Java stored through the KeyStore is on the token for other clients
    p11_ok --login --pin "$USER_PIN" -O --type secrkey
    expect_out 'label: +aes-gen$'
    expect_out 'label: +des3-known$'
    expect_out '^Secret Key Object; AES length 32'
    expect_out '^Secret Key Object; DES3'
    # the CK_GCM_PARAMS layouts SunPKCS11 sent (0x1087 CKM_AES_GCM) and the module's answers
    note "GCM inits through the spy (count, call, parameter length, CK_RV):"
    grep 'mech=0x1087 ' "$WORK/spy.log" | sort | uniq -c | sed 's/^/#   /'
    grep -q 'mech=0x1087 paramLen=40 ' "$WORK/spy.log" || fail "SunPKCS11 sent no 40-byte CK_GCM_PARAMS"
    if softhsm_lacks 'CK_GCM_PARAMS without ulIvBits'; then
        grep -q 'mech=0x1087 paramLen=40 rv=0x0$' "$WORK/spy.log" &&
            fail "SoftHSM accepted the 40-byte CK_GCM_PARAMS: shorten D11"
        grep -q 'mech=0x1087 paramLen=48 rv=0x0$' "$WORK/spy.log" || fail "no 48-byte CK_GCM_PARAMS accepted"
    else
        if grep 'mech=0x1087 ' "$WORK/spy.log" | grep -qv 'paramLen=40 rv=0x0$'; then
            fail "a GCM init other than a 40-byte CK_GCM_PARAMS accepted on the first try"
        fi
    fi
}

# j_spy: java/p11spy.c built once per run (gcc); sets J_SPY to the library
j_spy() {
    local dir src inc
    dir=$(dirname "$FIXTURES")/p11spy
    src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../java" && pwd)/p11spy.c
    inc=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../include" && pwd)
    if [ ! -f "$dir/libp11spy.so" ]; then
        mkdir -p "$dir"
        run gcc -shared -fPIC -O1 -I"$inc" -o "$dir/libp11spy.so.tmp" "$src" -ldl
        [ "$RC" = 0 ] || fail "gcc p11spy.c failed"
        mv "$dir/libp11spy.so.tmp" "$dir/libp11spy.so"
    fi
    J_SPY=$dir/libp11spy.so
}

# shellcheck shell=bash
# GnuTLS p11tool (gnutls-bin). `--provider M` loads only that module (no p11-kit config).
# Uses token_init / pin_init / list_slots from pkcs11-tool.sh to set the token up.
# Later (with cryptography): key listing with login, signing through gnutls-cli/certtool.

p11tool_manufacturer() { if is_ferrohsm; then echo ferrohsm; else echo 'SoftHSM project'; fi; }

check "p11tool: --list-tokens" t_p11tool_list_tokens
t_p11tool_list_tokens() {
    expect_ok p11tool --provider "$MODULE" --list-tokens
    expect_no_out '^Token [0-9]+:' "tokens listed on an empty store (p11tool skips uninitialized ones)"
    token_init test
    list_slots -L
    local serial
    serial=$(slot_field 1 3)
    expect_ok p11tool --provider "$MODULE" --list-tokens
    expect_out '^Token 0:'
    expect_no_out '^Token 1:' "only the initialized token"
    expect_out '^	Label: test$'
    expect_out "^	Manufacturer: $(p11tool_manufacturer)\$"
    expect_out "^	Serial: $serial\$"
    expect_out "^	URL: pkcs11:.*serial=$serial;token=test(;|\$)"
    expect_out '^	Flags: .*Requires login'
    expect_out '^	Flags: .*uPIN uninitialized' "before --init-pin"
    pin_init
    expect_ok p11tool --provider "$MODULE" --list-tokens
    expect_no_out 'uPIN uninitialized' "after --init-pin"
}

check "p11tool: --list-all-certs sees a certificate from pkcs11-tool" t_p11tool_list_certs
t_p11tool_list_certs() {
    token_init test
    pin_init
    expect_ok pkcs11-tool --module "$MODULE" --write-object "$FIXTURES/cert.der" --type cert --id 01 --label c1
    expect_ok p11tool --provider "$MODULE" --list-all-certs 'pkcs11:token=test'
    expect_out '^Object 0:'
    expect_no_out '^Object 1:' "only one certificate"
    expect_out '^	URL: pkcs11:.*token=test;id=%01;object=c1;type=cert$'
    expect_out '^	Type: X\.509 Certificate \(RSA-2048\)$'
    expect_out '^	Label: c1$'
    expect_out '^	ID: 01$'
    expect_ok p11tool --provider "$MODULE" --export 'pkcs11:token=test;object=c1;type=cert' \
        --outder --outfile "$WORK/exported.der"
    expect_same_file "$FIXTURES/cert.der" "$WORK/exported.der"
}

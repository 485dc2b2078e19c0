# shellcheck shell=bash
# OpenSC pkcs11-tool: slots, tokens, PINs, sessions, objects (issue 2: no cryptography yet).
# Every pkcs11-tool invocation is its own process: C_Initialize reads the config and the token
# store anew each time, so these checks also exercise persistence.

# Token setup helpers (p11_ok, token_init, pin_init, list_slots, ...) are in lib.sh.

# ---------------------------------------------------------------- checks

check "pkcs11-tool: -I shows module info" t_p11_info
t_p11_info() {
    p11_ok -I
    expect_out '^Cryptoki version [23]\.[0-9]+' "Cryptoki version"
    expect_out "^Manufacturer +$(lib_manufacturer) *\$" "library manufacturer"
}

check "pkcs11-tool: -L lists the uninitialized token" t_p11_list_fresh
t_p11_list_fresh() {
    list_slots -L
    expect_out '^Available slots:'
    expect_eq "$(slot_count)" 1 "number of slots on an empty store"
    expect_free_slot 1 0x0
}

check "pkcs11-tool: -T lists tokens" t_p11_list_tokens
t_p11_list_tokens() {
    list_slots -T
    expect_eq "$(slot_count)" 1 "number of tokens on an empty store"
    expect_free_slot 1 0x0
    token_init test
    list_slots -T
    expect_eq "$(slot_count)" 2 "number of tokens after --init-token"
    expect_initialized_slot 1 test
    expect_out "^  token manufacturer : $(token_manufacturer) *\$" "token manufacturer"
    expect_out "^  token model        : $(token_model) *\$" "token model"
    expect_out '^  token flags        : .*login required' "flag login required"
    expect_out '^  token flags        : .*rng' "flag rng"
    expect_out '^  pin min/max        : 4/255$' "PIN length range"
    expect_free_slot 2 0x1
}

check "pkcs11-tool: --init-token --slot-index 0" t_p11_init_token_index
t_p11_init_token_index() {
    token_init test
    list_slots -L
    expect_eq "$(slot_count)" 2 "number of slots after --init-token"
    expect_initialized_slot 1 test
    local id
    id=$(slot_field 1 1)
    case "$(slot_flags "$id")" in
        *"PIN initialized"*) fail "a fresh token must not have 'PIN initialized'" ;;
    esac
    expect_free_slot 2 0x1
}

check "pkcs11-tool: --init-token --slot ID (two tokens)" t_p11_init_token_slot
t_p11_init_token_slot() {
    p11_ok --init-token --slot 0 --label alpha --so-pin "$SO_PIN"
    expect_out '^Token successfully initialized'
    list_slots -L
    expect_eq "$(slot_count)" 2 "number of slots after the first token"
    expect_initialized_slot 1 alpha
    expect_free_slot 2 0x1
    p11_ok --init-token --slot 1 --label beta --so-pin "$SO_PIN"
    list_slots -L
    expect_eq "$(slot_count)" 3 "number of slots after the second token"
    local a b
    a=$(slot_field 1 1) b=$(slot_field 2 1)
    [ $((a)) -lt $((b)) ] || fail "initialized tokens must be listed in ascending slot ID order ($a, $b)"
    local labels
    labels=$(slot_field 1 4)/$(slot_field 2 4)
    case $labels in
        alpha/beta) expect_initialized_slot 1 alpha; expect_initialized_slot 2 beta ;;
        beta/alpha) expect_initialized_slot 1 beta; expect_initialized_slot 2 alpha ;;
        *) fail "expected tokens alpha and beta, got $labels" ;;
    esac
    expect_free_slot 3 0x2
    # each token is reachable by its slot ID
    p11_ok --slot "$a" --init-pin --login --login-type so --so-pin "$SO_PIN" --pin "$USER_PIN"
    p11_ok --slot "$a" --login --pin "$USER_PIN" -O
    p11_fail --slot "$b" --login --pin "$USER_PIN" -O
    expect_out 'CKR_USER_PIN_NOT_INITIALIZED' "the other token has no user PIN"
}

check "pkcs11-tool: --init-pin, -L shows PIN initialized" t_p11_init_pin
t_p11_init_pin() {
    token_init
    pin_init
    list_slots -L
    local id
    id=$(slot_field 1 1)
    case "$(slot_flags "$id")" in
        *"PIN initialized"*) ;;
        *) fail "slot $id: token flags lack 'PIN initialized' after --init-pin" ;;
    esac
    expect_initialized_slot 1 test
    expect_free_slot 2 0x1
}

check "pkcs11-tool: login before --init-pin fails" t_p11_login_no_pin
t_p11_login_no_pin() {
    token_init
    p11_fail --login --pin "$USER_PIN" -O
    expect_out 'CKR_USER_PIN_NOT_INITIALIZED'
}

check "pkcs11-tool: --login --pin -O (right PIN)" t_p11_login_ok
t_p11_login_ok() {
    token_init
    pin_init
    p11_ok --login --pin "$USER_PIN" -O
    expect_no_out 'error|CKR_'
}

check "pkcs11-tool: --login with a wrong PIN fails" t_p11_login_wrong
t_p11_login_wrong() {
    token_init
    pin_init
    p11_fail --login --pin 9999 -O
    expect_out 'C_Login failed: rv = CKR_PIN_INCORRECT'
    p11_ok -T
    expect_out '^  token flags *: .*user PIN count low' "CKF_USER_PIN_COUNT_LOW after a wrong PIN"
    p11_ok --login --pin "$USER_PIN" -O
    p11_ok -T
    expect_no_out 'user PIN count low' "a right PIN resets the counter"
}

check "pkcs11-tool: --change-pin (user)" t_p11_change_pin
t_p11_change_pin() {
    token_init
    pin_init
    p11_ok --change-pin --login --pin "$USER_PIN" --new-pin 5678
    expect_out 'PIN successfully changed'
    p11_ok --login --pin 5678 -O
    p11_fail --login --pin "$USER_PIN" -O
    expect_out 'CKR_PIN_INCORRECT'
}

check "pkcs11-tool: --change-pin --login-type so (SO)" t_p11_change_so_pin
t_p11_change_so_pin() {
    token_init
    p11_ok --change-pin --login --login-type so --so-pin "$SO_PIN" --new-pin 87654321
    expect_out 'PIN successfully changed'
    # SO operations now need the new SO PIN
    p11_fail --init-pin --login --login-type so --so-pin "$SO_PIN" --pin "$USER_PIN"
    expect_out 'CKR_PIN_INCORRECT'
    p11_ok --init-pin --login --login-type so --so-pin 87654321 --pin "$USER_PIN"
    p11_ok --login --pin "$USER_PIN" -O
}

check "pkcs11-tool: public data object write/read/list/delete" t_p11_data_public
t_p11_data_public() {
    token_init
    pin_init
    p11_ok --write-object "$FIXTURES/data.bin" --type data --label d1 --application-label app \
        --login --pin "$USER_PIN"
    p11_ok --read-object --type data --label d1 --output-file "$WORK/d1.out"
    expect_same_file "$FIXTURES/data.bin" "$WORK/d1.out"
    p11_ok -O
    expect_out "^  label: +'d1'" "the object's label without login"
    expect_out "^  application: +'app'" "the object's application"
    p11_ok --login --pin "$USER_PIN" -O
    expect_out "^  label: +'d1'" "the object's label with login"
    p11_ok --delete-object --type data --label d1
    p11_ok --login --pin "$USER_PIN" -O
    expect_no_out "'d1'" "the deleted object"
    p11_fail --read-object --type data --label d1 --output-file "$WORK/d1.again"
}

check "pkcs11-tool: private data object (--private)" t_p11_data_private
t_p11_data_private() {
    token_init
    pin_init
    p11_ok --write-object "$FIXTURES/data.bin" --type data --label p1 --private --login --pin "$USER_PIN"
    p11_ok -O
    expect_no_out "'p1'" "a private object listed without login"
    p11_fail --read-object --type data --label p1 --output-file "$WORK/p1.nologin"
    p11_ok --login --pin "$USER_PIN" -O
    expect_out "^  label: +'p1'" "the private object with login"
    expect_out '^  flags: .*private' "the private flag"
    p11_ok --read-object --type data --label p1 --output-file "$WORK/p1.out" --login --pin "$USER_PIN"
    expect_same_file "$FIXTURES/data.bin" "$WORK/p1.out"
    p11_ok --delete-object --type data --label p1 --login --pin "$USER_PIN"
    p11_ok --login --pin "$USER_PIN" -O
    expect_no_out "'p1'" "the deleted private object"
}

check "pkcs11-tool: certificate write/read/list/delete" t_p11_cert
t_p11_cert() {
    token_init
    pin_init
    p11_ok --write-object "$FIXTURES/cert.der" --type cert --id 01 --label c1
    p11_ok --read-object --type cert --id 01 --output-file "$WORK/c1.der"
    expect_same_file "$FIXTURES/cert.der" "$WORK/c1.der"
    p11_ok -O
    expect_out '^Certificate Object; type = X\.509 cert' "a certificate object"
    expect_out '^  label: +c1$' "its label"
    expect_out '^  subject: +DN: CN=t$' "its subject"
    expect_out '^  ID: +01$' "its ID"
    p11_ok --delete-object --type cert --id 01
    p11_ok -O
    expect_no_out 'Certificate Object' "the deleted certificate"
    p11_fail --read-object --type cert --id 01 --output-file "$WORK/c1.again"
}

check "pkcs11-tool: several data objects, found by label" t_p11_data_many
t_p11_data_many() {
    token_init
    pin_init
    printf 'first object' >"$WORK/d1.in"
    head -c 300 "$FIXTURES/data.bin" >"$WORK/d2.in"
    tail -c 700 "$FIXTURES/data.bin" >"$WORK/d3.in"
    local n
    for n in 1 2 3; do
        p11_ok --write-object "$WORK/d$n.in" --type data --label "d$n" --application-label "app$n"
    done
    p11_ok --write-object "$WORK/d2.in" --type data --label d2p --private --login --pin "$USER_PIN"
    p11_ok --read-object --type data --label d2 --output-file "$WORK/d2.out"
    expect_same_file "$WORK/d2.in" "$WORK/d2.out"
    p11_ok --read-object --type data --label d3 --output-file "$WORK/d3.out"
    expect_same_file "$WORK/d3.in" "$WORK/d3.out"
    p11_ok --delete-object --type data --label d2
    p11_ok --login --pin "$USER_PIN" -O
    expect_out "^  label: +'d1'"
    expect_out "^  label: +'d3'"
    expect_out "^  label: +'d2p'"
    expect_no_out "^  label: +'d2'\$" "the deleted object"
    p11_ok --read-object --type data --label d1 --output-file "$WORK/d1.out"
    expect_same_file "$WORK/d1.in" "$WORK/d1.out"
}

check "pkcs11-tool: --set-id changes an object's CKA_ID" t_p11_set_id
t_p11_set_id() {
    token_init
    pin_init
    p11_ok --write-object "$FIXTURES/cert.der" --type cert --id 01 --label c1
    p11_ok --set-id 05 --type cert --id 01
    p11_ok -O
    expect_out '^  ID: +05$' "the new ID"
    expect_no_out '^  ID: +01$' "the old ID"
    p11_ok --read-object --type cert --id 05 --output-file "$WORK/c5.der"
    expect_same_file "$FIXTURES/cert.der" "$WORK/c5.der"
    p11_fail --read-object --type cert --id 01 --output-file "$WORK/c1.der"
}

check "pkcs11-tool: PIN length limits" t_p11_pin_len
t_p11_pin_len() {
    # C_InitToken does not list CKR_PIN_LEN_RANGE among its return values; SoftHSM says PIN_INCORRECT
    p11_fail --init-token --slot-index 0 --label test --so-pin 123
    expect_out 'C_InitToken failed: rv = CKR_PIN_(INCORRECT|LEN_RANGE)'
    list_slots -L
    expect_eq "$(slot_count)" 1 "number of slots after a refused --init-token"
    expect_free_slot 1 0x0
    token_init
    p11_fail --init-pin --login --login-type so --so-pin "$SO_PIN" --pin 123
    expect_out 'C_InitPIN failed: rv = CKR_PIN_LEN_RANGE'
    pin_init
    p11_fail --change-pin --login --pin "$USER_PIN" --new-pin 12
    expect_out 'C_SetPIN failed: rv = CKR_PIN_LEN_RANGE'
    p11_ok --login --pin "$USER_PIN" -O
}

check "pkcs11-tool: re-init with the right SO PIN" t_p11_reinit
t_p11_reinit() {
    token_init test
    pin_init
    p11_ok --write-object "$FIXTURES/data.bin" --type data --label d1
    p11_ok --write-object "$FIXTURES/data.bin" --type data --label p1 --private --login --pin "$USER_PIN"
    p11_ok --write-object "$FIXTURES/cert.der" --type cert --id 01 --label c1
    list_slots -L
    local id serial
    id=$(slot_field 1 1) serial=$(slot_field 1 3)
    p11_ok --init-token --slot "$id" --label again --so-pin "$SO_PIN"
    expect_out '^Token successfully initialized'
    list_slots -L
    expect_eq "$(slot_count)" 2 "number of slots after re-init"
    expect_initialized_slot 1 again
    expect_eq "$(slot_field 1 1)" "$id" "slot ID after re-init"
    expect_eq "$(slot_field 1 3)" "$serial" "serial after re-init"
    case "$(slot_flags "$id")" in
        *"PIN initialized"*) fail "re-init must remove the user PIN ('PIN initialized' still set)" ;;
    esac
    expect_free_slot 2 0x1
    p11_ok -O
    expect_no_out "[Oo]bject" "objects after re-init"
    p11_fail --login --pin "$USER_PIN" -O
    expect_out 'CKR_USER_PIN_NOT_INITIALIZED' "the user PIN after re-init"
    pin_init
    p11_ok --login --pin "$USER_PIN" -O
    expect_no_out "[Oo]bject" "objects (private included) after re-init"
}

check "pkcs11-tool: re-init with a wrong SO PIN fails" t_p11_reinit_wrong
t_p11_reinit_wrong() {
    token_init test
    pin_init
    p11_ok --write-object "$FIXTURES/data.bin" --type data --label d1
    p11_fail --init-token --slot-index 0 --label again --so-pin 87654321
    expect_out 'C_InitToken failed: rv = CKR_PIN_INCORRECT'
    list_slots -L
    expect_initialized_slot 1 test
    case "$(slot_flags "$(slot_field 1 1)")" in
        *"PIN initialized"*) ;;
        *) fail "a refused re-init must keep the user PIN" ;;
    esac
    p11_ok --login --pin "$USER_PIN" -O
    expect_out "^  label: +'d1'" "objects survive a refused re-init"
}

check "pkcs11-tool: tokens persist between processes" t_p11_persist
t_p11_persist() {
    token_init keep
    pin_init
    p11_ok --write-object "$FIXTURES/data.bin" --type data --label pub --application-label app
    p11_ok --write-object "$FIXTURES/data.bin" --type data --label priv --private --login --pin "$USER_PIN"
    p11_ok --write-object "$FIXTURES/cert.der" --type cert --id 02 --label c2
    # every call below is a new process that finds the same state
    list_slots -T
    expect_initialized_slot 1 keep
    case "$(slot_flags "$(slot_field 1 1)")" in
        *"PIN initialized"*) ;;
        *) fail "'PIN initialized' lost between processes" ;;
    esac
    expect_free_slot 2 0x1
    p11_ok -O
    expect_out "^  label: +'pub'"
    expect_out '^  label: +c2$'
    expect_no_out "'priv'" "a private object without login"
    p11_ok --login --pin "$USER_PIN" -O
    expect_out "^  label: +'priv'"
    p11_ok --read-object --type data --label priv --login --pin "$USER_PIN" --output-file "$WORK/priv.out"
    expect_same_file "$FIXTURES/data.bin" "$WORK/priv.out"
    p11_ok --read-object --type cert --id 02 --output-file "$WORK/c2.der"
    expect_same_file "$FIXTURES/cert.der" "$WORK/c2.der"
    # a PIN change persists too
    p11_ok --change-pin --login --pin "$USER_PIN" --new-pin 5678
    p11_fail --login --pin "$USER_PIN" -O
    p11_ok --login --pin 5678 --read-object --type data --label priv --output-file "$WORK/priv2.out"
    expect_same_file "$FIXTURES/data.bin" "$WORK/priv2.out"
}

check "pkcs11-tool: PIN lockout after pin.max_attempts" t_p11_lockout --divergence D1
t_p11_lockout() {
    ferrohsm_conf "pin.max_attempts = 3"
    token_init
    pin_init
    local i
    for i in 1 2 3; do
        note "wrong PIN #$i"
        p11_fail --login --pin 9999 -O
        expect_out 'C_Login failed: rv = CKR_PIN_(INCORRECT|LOCKED)'
    done
    if is_ferrohsm; then
        p11_fail --login --pin "$USER_PIN" -O
        expect_out 'C_Login failed: rv = CKR_PIN_LOCKED' "the right PIN after 3 wrong ones"
        p11_ok -T
        expect_out '^  token flags *: .*user PIN locked' "CKF_USER_PIN_LOCKED"
    else
        # D1: SoftHSM never locks a PIN
        p11_ok --login --pin "$USER_PIN" -O
        p11_ok -T
        expect_no_out 'user PIN locked'
    fi
    # the SO sets a new user PIN, which unlocks it
    p11_ok --init-pin --login --login-type so --so-pin "$SO_PIN" --pin 4321
    p11_ok -T
    expect_no_out 'user PIN locked' "after the SO's --init-pin"
    p11_ok --login --pin 4321 -O
}

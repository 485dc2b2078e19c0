# shellcheck shell=bash
# shellcheck disable=SC2030,SC2031,SC2153  # check context variables are set in the per-check subshell on purpose
# Conformance harness library: check registry, per-module sandbox, command helpers, result table.
#
# Sourced by conformance/run. Check files (conformance/checks/*.sh) only call `check` at top level
# and define check functions; see README.md ("Adding a client").
#
# A check function runs in a subshell, in a fresh temp dir, once per module. It sees:
#   MODNAME   ferrohsm | softhsm
#   MODULE    absolute path of the PKCS#11 module under test
#   WORK      its temp dir (also the cwd); HOME=$WORK/home
#   CONF      the module's config file (FERROHSM_CONF or SOFTHSM2_CONF points to it)
#   TOKENDIR  the token directory named in CONF
#   FIXTURES  run-wide read-only inputs (see fixtures_init)
# It passes when it returns 0. The expect_* helpers `exit 1` on a mismatch (the subshell ends there),
# so do not call them inside $(...).
# Token setup through pkcs11-tool (token_init, pin_init, list_slots, slot_field, ...) is at the end
# of this file, for every client's checks.

# ---------------------------------------------------------------- registry

CHECK_NAMES=()
CHECK_FUNCS=()
CHECK_DIVS=()     # divergence ID (D1, ...) or empty

# check NAME FUNC [--divergence ID]
check() {
    local name=$1 func=$2 div=""
    shift 2
    while [ $# -gt 0 ]; do
        case $1 in
            --divergence) div=$2; shift 2 ;;
            *) echo "lib.sh: check '$name': unknown option $1" >&2; return 1 ;;
        esac
    done
    CHECK_NAMES+=("$name")
    CHECK_FUNCS+=("$func")
    CHECK_DIVS+=("$div")
}

# ---------------------------------------------------------------- helpers for check functions

# Log lines go to the check's log (stdout of the subshell), shown indented when the check fails.
note() { printf '# %s\n' "$*"; }

fail() {
    printf 'FAIL: %s\n' "$*"
    exit 1
}

# skip REASON: the check cannot be judged on this machine (a client too old for the feature): ends
# it with SKIP, which counts neither as passed nor as failed; the reason is printed after the run.
# Only for a missing client capability the check has verified (never for a module's failure).
skip() {
    printf 'SKIP: %s\n' "$*"
    exit 77
}

# is_ferrohsm / is_softhsm: a module-specific expectation. Only a check registered with
# `--divergence Dn` may branch on the module (every difference goes through DIVERGENCES.md): in
# any other check these end it with a harness failure. The identity strings below, and
# ferrohsm_conf, are not expectations and use _mod_is.
is_ferrohsm() { _need_divergence is_ferrohsm; _mod_is ferrohsm; }
is_softhsm() { _need_divergence is_softhsm; _mod_is softhsm; }
_mod_is() { [ "$MODNAME" = "$1" ]; }
_need_divergence() {
    [ -n "${CHECK_DIV:-}" ] || fail "harness: $1 in a check without --divergence: a module-specific expectation needs a DIVERGENCES.md entry"
}

# softhsm_lacks FEATURE: true when the module under test is SoftHSM and the check's divergence
# section in DIVERGENCES.md (`## Dn`, from `check ... --divergence Dn`) has a line
# "- SoftHSM lacks: `A`, `B`, ..." naming FEATURE (a mechanism name as pkcs11-tool prints it, or a
# short name the section explains). A check expects such a feature to be absent or refused on
# SoftHSM and to work on ferrohsm, so the table shows the difference as [Dn] and the reason is
# written down; a check should also verify that SoftHSM really lacks it, so a stale entry fails.
softhsm_lacks() {
    is_softhsm || return 1
    [ -n "${CHECK_DIV:-}" ] || return 1
    awk -v d="$CHECK_DIV" '
        /^## / { on = ($2 == d ":" || $2 == d); next }
        on && /^- SoftHSM lacks:/ { print }
    ' "$DIVFILE" | grep -qF -- "\`$1\`"
}

# Append a line to the ferrohsm config (ignored for SoftHSM). The config is read at C_Initialize,
# i.e. by every later client process.
ferrohsm_conf() { if _mod_is ferrohsm; then printf '%s\n' "$*" >>"$CONF"; fi; }

CMD_TIMEOUT=${CONFORMANCE_CMD_TIMEOUT:-20}

# run CMD... : runs CMD with a timeout, stdin from /dev/null. Sets RC; stdout in $OUT, stderr in $ERR,
# both in $ALL. Logs the command, its status and output. Never fails by itself.
run() {
    OUT=$WORK/.out ERR=$WORK/.err ALL=$WORK/.all
    printf '$ %s\n' "$(_quote_cmd "$@")"
    timeout -k 5 "$CMD_TIMEOUT" "$@" </dev/null >"$OUT" 2>"$ERR"
    RC=$?
    cat "$OUT" "$ERR" >"$ALL"
    [ "$RC" = 124 ] && printf '  (killed after %ss)\n' "$CMD_TIMEOUT"
    if [ -s "$OUT" ]; then sed 's/^/  | /' "$OUT"; fi
    if [ -s "$ERR" ]; then sed 's/^/  ! /' "$ERR"; fi
    printf '  -> exit %s\n' "$RC"
    return 0
}

_quote_cmd() {
    local a s=""
    for a in "$@"; do
        case $a in
            *[!A-Za-z0-9_./:=@%+,-]*|'') s+=" '${a//\'/\'\\\'\'}'" ;;
            *) s+=" $a" ;;
        esac
    done
    printf '%s' "${s# }"
}

expect_ok() {
    run "$@"
    [ "$RC" = 0 ] || fail "expected exit status 0, got $RC"
}

expect_fail() {
    run "$@"
    [ "$RC" != 0 ] || fail "expected a non-zero exit status, got 0"
}

# expect_out ERE [what]: the last command's stdout+stderr has a line matching ERE.
expect_out() {
    grep -Eq -- "$1" "$ALL" || fail "expected output matching /$1/${2:+ ($2)}"
}

# expect_no_out ERE [what]
expect_no_out() {
    if grep -Eq -- "$1" "$ALL"; then fail "expected no output matching /$1/${2:+ ($2)}"; fi
}

# expect_eq ACTUAL EXPECTED WHAT
expect_eq() {
    [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"
}

# expect_same_file EXPECTED ACTUAL
expect_same_file() {
    printf '$ cmp %s %s\n' "$1" "$2"
    [ -f "$2" ] || fail "$2 was not written"
    cmp -- "$1" "$2" | sed 's/^/  | /'
    cmp -s -- "$1" "$2" || fail "$2 differs from $1 ($(wc -c <"$1") vs $(wc -c <"$2") bytes)"
}

# ---------------------------------------------------------------- per-module setup

# Writes the module's config into $1 (a fresh dir) and prints the env assignments to use.
module_sandbox() {
    local mod=$1 dir=$2
    mkdir -p "$dir/home" "$dir/tokens"
    chmod 700 "$dir/tokens"
    case $mod in
        ferrohsm)
            cat >"$dir/ferrohsm.conf" <<EOF
# conformance sandbox
directories.tokendir = $dir/tokens
log.level = INFO
log.file = $dir/ferrohsm.log
kdf.argon2.memory_kib = 1024
kdf.argon2.iterations = 1
EOF
            ;;
        softhsm)
            cat >"$dir/softhsm2.conf" <<EOF
# conformance sandbox
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
            ;;
    esac
}

# run_one MODNAME MODULE FUNC DIR [DIVERGENCE] -> status of the check; its log in DIR/check.log
run_one() {
    local mod=$1 module=$2 func=$3 dir=$4 div=${5:-} conf
    module_sandbox "$mod" "$dir"
    case $mod in
        ferrohsm) conf=$dir/ferrohsm.conf ;;
        softhsm) conf=$dir/softhsm2.conf ;;
    esac
    (
        set -u
        unset FERROHSM_CONF SOFTHSM2_CONF XDG_CONFIG_HOME XDG_DATA_HOME XDG_CACHE_HOME \
            XDG_RUNTIME_DIR OPENSC_CONF P11_KIT_SERVER_ADDRESS
        export HOME=$dir/home LC_ALL=C
        case $mod in
            ferrohsm) export FERROHSM_CONF=$conf ;;
            softhsm) export SOFTHSM2_CONF=$conf ;;
        esac
        # shellcheck disable=SC2034  # TOKENDIR is for check functions
        MODNAME=$mod MODULE=$module WORK=$dir CONF=$conf TOKENDIR=$dir/tokens CHECK_DIV=$div
        cd "$dir" || exit 1
        note "env: HOME=$HOME $([ "$mod" = ferrohsm ] && echo "FERROHSM_CONF" || echo "SOFTHSM2_CONF")=$conf"
        "$func"
    ) >"$dir/check.log" 2>&1
}

# ---------------------------------------------------------------- fixtures (once per run)

fixtures_init() {
    FIXTURES=$1
    mkdir -p "$FIXTURES"
    # 1024 deterministic bytes covering every byte value (NUL and high bytes included).
    local i one=""
    for i in $(seq 0 255); do one+=$(printf '\\%03o' "$i"); done
    # shellcheck disable=SC2059  # $one is a format of octal escapes on purpose
    for i in 1 2 3 4; do printf "$one"; done >"$FIXTURES/data.bin"
    # A self-signed certificate, as a user would make one.
    if ! openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=t -days 30 -outform DER \
        -keyout "$FIXTURES/cert.key" -out "$FIXTURES/cert.der" >"$FIXTURES/openssl.log" 2>&1; then
        echo "conformance: could not make the test certificate:" >&2
        sed 's/^/    /' "$FIXTURES/openssl.log" >&2
        return 1
    fi
    export FIXTURES
}

# ---------------------------------------------------------------- runner, table, counting

# Results per check index: RES_FERRO[i], RES_SOFT[i] in PASS | FAIL | SKIP | - (not run)
RES_FERRO=()
RES_SOFT=()
FAIL_REPORTS=()
SKIP_REPORTS=()     # "[module] check: reason"

# run_checks: uses RUN_FERRO (0/1), RUN_SOFT (0/1), FERRO_MODULE, SOFT_MODULE,
# FERRO_UNAVAILABLE (reason, empty when loadable), FILTER (ERE or empty), KEEP (0/1), RUN_ROOT, DIVFILE
run_checks() {
    local i n=${#CHECK_NAMES[@]} name func div mod module dir res total=0
    local -a mods
    for ((i = 0; i < n; i++)); do
        name=${CHECK_NAMES[i]}
        if [ -n "$FILTER" ] && ! grep -Eq -- "$FILTER" <<<"$name"; then continue; fi
        total=$((total + 1))
    done
    local k=0
    for ((i = 0; i < n; i++)); do
        name=${CHECK_NAMES[i]} func=${CHECK_FUNCS[i]} div=${CHECK_DIVS[i]}
        RES_FERRO[i]=- RES_SOFT[i]=-
        if [ -n "$FILTER" ] && ! grep -Eq -- "$FILTER" <<<"$name"; then continue; fi
        k=$((k + 1))
        mods=()
        [ "$RUN_FERRO" = 1 ] && mods+=(ferrohsm)
        [ "$RUN_SOFT" = 1 ] && mods+=(softhsm)
        local line
        line=$(printf '[%2d/%d] %s' "$k" "$total" "$name")
        for mod in "${mods[@]}"; do
            dir=$RUN_ROOT/$(printf '%03d' "$i")-$mod
            mkdir -p "$dir"
            if [ "$mod" = ferrohsm ]; then module=$FERRO_MODULE; else module=$SOFT_MODULE; fi
            if [ -n "$div" ] && ! grep -Eq "^##+ +$div([^0-9]|$)" "$DIVFILE" 2>/dev/null; then
                printf 'FAIL: harness: divergence %s is not described in %s\n' "$div" "$DIVFILE" \
                    >"$dir/check.log"
                res=FAIL
            elif [ "$mod" = ferrohsm ] && [ -n "$FERRO_UNAVAILABLE" ]; then
                printf 'FAIL: ferrohsm module not usable: %s\n' "$FERRO_UNAVAILABLE" >"$dir/check.log"
                res=FAIL
            else
                run_one "$mod" "$module" "$func" "$dir" "$div"
                case $? in
                    0) res=PASS ;;
                    77) res=SKIP ;;
                    *) res=FAIL ;;
                esac
            fi
            if [ "$mod" = ferrohsm ]; then RES_FERRO[i]=$res; else RES_SOFT[i]=$res; fi
            line+=" $mod=$res"
            if [ "$res" = SKIP ]; then
                SKIP_REPORTS+=("[$mod] $name: $(sed -n 's/^SKIP: //p' "$dir/check.log" | tail -n 1)")
            fi
            if [ "$res" = FAIL ]; then
                FAIL_REPORTS+=("$i $mod $dir")
            elif [ "$KEEP" != 1 ]; then
                rm -rf "$dir"
            fi
        done
        echo "$line"
    done
}

print_skips() {
    local r
    [ ${#SKIP_REPORTS[@]} -eq 0 ] && return 0
    echo
    echo "=== Skipped (the check could not be judged on this machine) ==="
    for r in "${SKIP_REPORTS[@]}"; do echo "SKIP $r"; done
}

print_failures() {
    local r i mod dir
    [ ${#FAIL_REPORTS[@]} -eq 0 ] && return 0
    echo
    echo "=== Failures (command log per failed check; '|' stdout, '!' stderr) ==="
    for r in "${FAIL_REPORTS[@]}"; do
        read -r i mod dir <<<"$r"
        echo
        echo "--- FAIL [$mod] ${CHECK_NAMES[i]}${CHECK_DIVS[i]:+ (divergence ${CHECK_DIVS[i]})}"
        echo "    module: $([ "$mod" = ferrohsm ] && echo "$FERRO_MODULE" || echo "$SOFT_MODULE")"
        echo "    sandbox: $dir"
        sed 's/^/    /' "$dir/check.log"
        if [ -s "$dir/ferrohsm.log" ]; then
            echo "    ferrohsm log.file (last 40 lines):"
            tail -n 40 "$dir/ferrohsm.log" | sed 's/^/      /'
        fi
    done
}

# print_table -> sets PASSED FAILED SKIPPED (primary module) and REF_FAILED (SoftHSM reference failures)
print_table() {
    local i n=${#CHECK_NAMES[@]} w=5 name f s primary shown_div=0
    for ((i = 0; i < n; i++)); do
        name=${CHECK_NAMES[i]}${CHECK_DIVS[i]:+ [${CHECK_DIVS[i]}]}
        [ "${#name}" -gt "$w" ] && w=${#name}
    done
    PASSED=0 FAILED=0 SKIPPED=0 REF_FAILED=0
    echo
    printf '%-*s  %-8s  %-8s\n' "$w" "CHECK" "ferrohsm" "softhsm"
    printf '%s\n' "$(printf '%*s' $((w + 20)) '' | tr ' ' -)"
    for ((i = 0; i < n; i++)); do
        f=${RES_FERRO[i]:--} s=${RES_SOFT[i]:--}
        [ "$f" = - ] && [ "$s" = - ] && continue
        name=${CHECK_NAMES[i]}${CHECK_DIVS[i]:+ [${CHECK_DIVS[i]}]}
        printf '%-*s  %-8s  %-8s\n' "$w" "$name" "$f" "$s"
        [ -n "${CHECK_DIVS[i]}" ] && shown_div=1
        if [ "$RUN_FERRO" = 1 ]; then primary=$f; else primary=$s; fi
        case $primary in
            PASS) PASSED=$((PASSED + 1)) ;;
            FAIL) FAILED=$((FAILED + 1)) ;;
            SKIP) SKIPPED=$((SKIPPED + 1)) ;;
        esac
        if [ "$RUN_FERRO" = 1 ] && [ "$s" = FAIL ]; then REF_FAILED=$((REF_FAILED + 1)); fi
    done
    if [ "$shown_div" = 1 ]; then
        echo "[Dn]: expected results differ per module by design; see conformance/DIVERGENCES.md"
    fi
}

# ---------------------------------------------------------------- pkcs11-tool output parsing

# p11_slots FILE: one line per slot of `pkcs11-tool -L`/`-T` output:
#   ID STATE SERIAL LABEL   (ID as printed, e.g. 0x7ee962f9; STATE initialized|uninitialized|absent;
#                            SERIAL or '-'; LABEL with spaces kept, '-' if none)
p11_slots() {
    awk '
        function flush() { if (id != "") print id, state, serial, label }
        /^Slot [0-9]+ \(0x[0-9a-fA-F]+\):/ {
            flush(); id = $3; gsub(/[():]/, "", id); state = "absent"; serial = "-"; label = "-"; next }
        /^  token state: *uninitialized/ { state = "uninitialized"; next }
        /^  token label *:/ { state = "initialized"; l = $0; sub(/^  token label *: ?/, "", l);
                               sub(/ +$/, "", l); label = (l == "" ? "-" : l); next }
        /^  serial num *:/ { serial = $NF; next }
        END { flush() }
    ' "$1"
}

# p11_flags FILE SLOT_ID: the "token flags" line of that slot (empty if none)
p11_flags() {
    awk -v want="$2" '
        /^Slot [0-9]+ \(0x[0-9a-fA-F]+\):/ { id = $3; gsub(/[():]/, "", id); next }
        /^  token flags *:/ && id == want { l = $0; sub(/^  token flags *: ?/, "", l); print l }
    ' "$1"
}

# slot_id_from_serial SERIAL: 0x%x of (low 32 bits of the serial) & 0x7fffffff
slot_id_from_serial() {
    local s=$1
    printf '0x%x' $((16#${s: -8} & 0x7fffffff))
}

# ---------------------------------------------------------------- token setup through pkcs11-tool
# Shared by every client's checks: tokens are set up with pkcs11-tool, then used by the client.

SO_PIN=12345678
USER_PIN=1234

p11_run() { run pkcs11-tool --module "$MODULE" "$@"; }
p11_ok() { expect_ok pkcs11-tool --module "$MODULE" "$@"; }
p11_fail() { expect_fail pkcs11-tool --module "$MODULE" "$@"; }

# The manufacturer strings each module reports (C_GetInfo / C_GetTokenInfo).
lib_manufacturer() { if _mod_is ferrohsm; then echo ferrohsm; else echo SoftHSM; fi; }
token_manufacturer() { if _mod_is ferrohsm; then echo ferrohsm; else echo 'SoftHSM project'; fi; }
token_model() { if _mod_is ferrohsm; then echo ferrohsm; else echo 'SoftHSM v2'; fi; }

# token_init [LABEL]: initialize the token in the free slot (slot index 0 on a fresh store)
token_init() {
    p11_ok --init-token --slot-index 0 --label "${1:-test}" --so-pin "$SO_PIN"
    expect_out '^Token successfully initialized'
}

pin_init() {
    p11_ok --init-pin --login --login-type so --so-pin "$SO_PIN" --pin "${1:-$USER_PIN}"
}

# list_slots [-L|-T]: runs pkcs11-tool and leaves the parsed slot table in $WORK/slots
# (lines "ID STATE SERIAL LABEL", see p11_slots in lib.sh), and the raw listing in $WORK/listing
list_slots() {
    p11_ok "${1:--L}"
    cp "$OUT" "$WORK/listing"
    p11_slots "$OUT" >"$WORK/slots"
    note "parsed slots:"
    sed 's/^/#   /' "$WORK/slots"
}

slot_count() { wc -l <"$WORK/slots" | tr -d ' '; }
slot_field() { sed -n "${1}p" "$WORK/slots" | awk -v f="$2" '{ if (f < 4) print $f; else { $1 = $2 = $3 = ""; sub(/^ +/, ""); print } }'; }
slot_flags() { p11_flags "$WORK/listing" "$1"; }

# expect_initialized_slot N LABEL: the Nth listed slot holds an initialized token LABEL whose slot ID
# is derived from its serial (low 32 bits & 0x7fffffff)
expect_initialized_slot() {
    local n=$1 label=$2 id serial
    id=$(slot_field "$n" 1) serial=$(slot_field "$n" 3)
    expect_eq "$(slot_field "$n" 2)" initialized "state of slot #$n"
    expect_eq "$(slot_field "$n" 4)" "$label" "label of slot #$n"
    [[ $serial =~ ^[0-9a-f]{16}$ ]] || fail "serial of slot #$n: expected 16 lowercase hex digits, got '$serial'"
    expect_eq "$id" "$(slot_id_from_serial "$serial")" "slot ID of slot #$n (from serial $serial)"
    case "$(slot_flags "$id")" in
        *"token initialized"*) ;;
        *) fail "slot $id: token flags lack 'token initialized'" ;;
    esac
}

# expect_free_slot N ID: the Nth listed slot is the free one, with slot ID ID, and is the last one
expect_free_slot() {
    expect_eq "$(slot_field "$1" 2)" uninitialized "state of slot #$1"
    expect_eq "$(slot_field "$1" 1)" "$2" "slot ID of the free slot"
    expect_eq "$(slot_count)" "$1" "number of slots (the free slot is listed last)"
}

#!/bin/sh
# Build and run the C-level tests.
#
#   tests/c/run.sh                 # against ${FERROHSM_MODULE:-target/release/libferrohsm.so}
#   FERROHSM_MODULE=/path/x.so tests/c/run.sh   (relative paths: from the repo root)
#   SOFTHSM_TOO=1 tests/c/run.sh   # additionally run boundary against SoftHSM,
#                                  # for comparison only (never affects the status)
#   VALGRIND=1 tests/c/run.sh      # run boundary under valgrind memcheck: any invalid read or
#                                  # write, use of uninitialised memory or definite leak fails.
#                                  # One suppression (tests/c/valgrind.supp): the fork test's
#                                  # child forgets the parent's module state, by design.
#
# Exit status: 0 if the layout check and the boundary test both pass, else the
# first non-zero status (1 = checks failed, 2 = could not run).
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 2

module=${FERROHSM_MODULE:-target/release/libferrohsm.so}
out=${C_TEST_BUILD_DIR:-target/c-tests}
cc=${CC:-gcc}
mkdir -p "$out" || exit 2

echo "== build"
$cc -std=c11 -Wall -Wextra -Werror -I include -o "$out/header_layout" \
    tests/c/header_layout.c || exit 2
$cc -std=c99 -Wall -Wextra -Werror -I include -o "$out/boundary" \
    tests/c/boundary.c -ldl -pthread || exit 2

status=0

echo "== header layout"
"$out/header_layout" || status=$?

echo "== boundary: $module"
if [ ! -f "$module" ]; then
    echo "module not found: $module (build with: cargo build --release)" >&2
    [ "$status" -eq 0 ] && status=2
else
    if [ "${VALGRIND:-0}" = 1 ]; then
        FERROHSM_MODULE="$module" valgrind --quiet --error-exitcode=9 --leak-check=full \
            --errors-for-leak-kinds=definite --child-silent-after-fork=yes \
            --suppressions=tests/c/valgrind.supp \
            "$out/boundary" "$module"
    else
        FERROHSM_MODULE="$module" "$out/boundary" "$module"
    fi
    rc=$?
    [ "$status" -eq 0 ] && status=$rc
fi

if [ "${SOFTHSM_TOO:-0}" = 1 ]; then
    softhsm=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
    echo "== boundary (informational): $softhsm"
    if [ -f "$softhsm" ]; then
        "$out/boundary" "$softhsm" | grep -v '^ok - ' || true
    else
        echo "SoftHSM not found at $softhsm"
    fi
fi

exit "$status"

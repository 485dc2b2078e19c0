/*
 * boundary.c -- PKCS #11 boundary tests that a Rust client cannot express.
 *
 * Loads a PKCS #11 module with dlopen() and checks the C-level contract:
 * function lists and interfaces, the not-initialized state, C_Initialize
 * argument validation, NULL pointer handling, the two-call size protocol,
 * C_GetAttributeValue's per-attribute error reporting, and behaviour across
 * fork().
 *
 * Usage: boundary [path/to/module.so]      (else $FERROHSM_MODULE)
 *
 * The test creates a fresh temporary token directory and configuration file
 * and points both FERROHSM_CONF and SOFTHSM2_CONF at it, so it can also be
 * run against SoftHSM v2 for comparison.
 *
 * Output: one line per check, "ok - ..." or "FAIL - ... (got X, want Y)",
 * then "N passed, N failed".  Exit status 1 if any check failed, 2 if the
 * test could not run at all.
 */
#define _DEFAULT_SOURCE 1
#define _XOPEN_SOURCE 700

#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define FERROHSM_PKCS11_NO_PROTOTYPES 1
#include "pkcs11.h"

/* ------------------------------------------------------------------------ */
/* Reporting                                                                */
/* ------------------------------------------------------------------------ */

static int n_passed, n_failed;

static const struct { CK_RV rv; const char *name; } rv_names[] = {
#define RV(x) { x, #x }
    RV(CKR_OK), RV(CKR_CANCEL), RV(CKR_HOST_MEMORY), RV(CKR_SLOT_ID_INVALID),
    RV(CKR_GENERAL_ERROR), RV(CKR_FUNCTION_FAILED), RV(CKR_ARGUMENTS_BAD),
    RV(CKR_NO_EVENT), RV(CKR_NEED_TO_CREATE_THREADS), RV(CKR_CANT_LOCK),
    RV(CKR_ATTRIBUTE_READ_ONLY), RV(CKR_ATTRIBUTE_SENSITIVE),
    RV(CKR_ATTRIBUTE_TYPE_INVALID), RV(CKR_ATTRIBUTE_VALUE_INVALID),
    RV(CKR_ACTION_PROHIBITED), RV(CKR_DATA_INVALID), RV(CKR_DATA_LEN_RANGE),
    RV(CKR_DEVICE_ERROR), RV(CKR_DEVICE_MEMORY), RV(CKR_DEVICE_REMOVED),
    RV(CKR_ENCRYPTED_DATA_INVALID), RV(CKR_ENCRYPTED_DATA_LEN_RANGE),
    RV(CKR_AEAD_DECRYPT_FAILED), RV(CKR_FUNCTION_CANCELED),
    RV(CKR_FUNCTION_NOT_PARALLEL), RV(CKR_FUNCTION_NOT_SUPPORTED),
    RV(CKR_KEY_HANDLE_INVALID), RV(CKR_KEY_SIZE_RANGE),
    RV(CKR_KEY_TYPE_INCONSISTENT), RV(CKR_KEY_NOT_NEEDED), RV(CKR_KEY_CHANGED),
    RV(CKR_KEY_NEEDED), RV(CKR_KEY_INDIGESTIBLE),
    RV(CKR_KEY_FUNCTION_NOT_PERMITTED), RV(CKR_KEY_NOT_WRAPPABLE),
    RV(CKR_KEY_UNEXTRACTABLE), RV(CKR_MECHANISM_INVALID),
    RV(CKR_MECHANISM_PARAM_INVALID), RV(CKR_OBJECT_HANDLE_INVALID),
    RV(CKR_OPERATION_ACTIVE), RV(CKR_OPERATION_NOT_INITIALIZED),
    RV(CKR_PIN_INCORRECT), RV(CKR_PIN_INVALID), RV(CKR_PIN_LEN_RANGE),
    RV(CKR_PIN_EXPIRED), RV(CKR_PIN_LOCKED), RV(CKR_SESSION_CLOSED),
    RV(CKR_SESSION_COUNT), RV(CKR_SESSION_HANDLE_INVALID),
    RV(CKR_SESSION_PARALLEL_NOT_SUPPORTED), RV(CKR_SESSION_READ_ONLY),
    RV(CKR_SESSION_EXISTS), RV(CKR_SESSION_READ_ONLY_EXISTS),
    RV(CKR_SESSION_READ_WRITE_SO_EXISTS), RV(CKR_SIGNATURE_INVALID),
    RV(CKR_SIGNATURE_LEN_RANGE), RV(CKR_TEMPLATE_INCOMPLETE),
    RV(CKR_TEMPLATE_INCONSISTENT), RV(CKR_TOKEN_NOT_PRESENT),
    RV(CKR_TOKEN_NOT_RECOGNIZED), RV(CKR_TOKEN_WRITE_PROTECTED),
    RV(CKR_UNWRAPPING_KEY_HANDLE_INVALID), RV(CKR_UNWRAPPING_KEY_SIZE_RANGE),
    RV(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT), RV(CKR_USER_ALREADY_LOGGED_IN),
    RV(CKR_USER_NOT_LOGGED_IN), RV(CKR_USER_PIN_NOT_INITIALIZED),
    RV(CKR_USER_TYPE_INVALID), RV(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
    RV(CKR_USER_TOO_MANY_TYPES), RV(CKR_WRAPPED_KEY_INVALID),
    RV(CKR_WRAPPED_KEY_LEN_RANGE), RV(CKR_WRAPPING_KEY_HANDLE_INVALID),
    RV(CKR_WRAPPING_KEY_SIZE_RANGE), RV(CKR_WRAPPING_KEY_TYPE_INCONSISTENT),
    RV(CKR_RANDOM_SEED_NOT_SUPPORTED), RV(CKR_RANDOM_NO_RNG),
    RV(CKR_DOMAIN_PARAMS_INVALID), RV(CKR_CURVE_NOT_SUPPORTED),
    RV(CKR_BUFFER_TOO_SMALL), RV(CKR_SAVED_STATE_INVALID),
    RV(CKR_INFORMATION_SENSITIVE), RV(CKR_STATE_UNSAVEABLE),
    RV(CKR_CRYPTOKI_NOT_INITIALIZED), RV(CKR_CRYPTOKI_ALREADY_INITIALIZED),
    RV(CKR_MUTEX_BAD), RV(CKR_MUTEX_NOT_LOCKED), RV(CKR_NEW_PIN_MODE),
    RV(CKR_NEXT_OTP), RV(CKR_EXCEEDED_MAX_ITERATIONS),
    RV(CKR_FIPS_SELF_TEST_FAILED), RV(CKR_LIBRARY_LOAD_FAILED),
    RV(CKR_PIN_TOO_WEAK), RV(CKR_PUBLIC_KEY_INVALID), RV(CKR_FUNCTION_REJECTED),
    RV(CKR_TOKEN_RESOURCE_EXCEEDED), RV(CKR_OPERATION_CANCEL_FAILED),
#undef RV
};

static const char *rv_name(CK_RV rv)
{
    static char buf[8][32];
    static int next;
    size_t i;
    char *b;

    for (i = 0; i < sizeof rv_names / sizeof rv_names[0]; i++)
        if (rv_names[i].rv == rv)
            return rv_names[i].name;
    b = buf[next++ % 8];
    snprintf(b, sizeof buf[0], "0x%08lx", rv);
    return b;
}

static void pass(const char *desc)
{
    n_passed++;
    printf("ok - %s\n", desc);
}

static void fail(const char *desc, const char *got, const char *want)
{
    n_failed++;
    printf("FAIL - %s (got %s, want %s)\n", desc, got, want);
}

/* A check whose outcome is a return value compared with one expected value */
static int check_rv(CK_RV got, CK_RV want, const char *desc)
{
    if (got == want) {
        pass(desc);
        return 1;
    }
    fail(desc, rv_name(got), rv_name(want));
    return 0;
}

/* A return value that may legitimately be either of two values */
static int check_rv2(CK_RV got, CK_RV want1, CK_RV want2, const char *desc)
{
    char want[80];

    if (got == want1 || got == want2) {
        pass(desc);
        return 1;
    }
    snprintf(want, sizeof want, "%s or %s", rv_name(want1), rv_name(want2));
    fail(desc, rv_name(got), want);
    return 0;
}

/* A return value that must differ from one value */
static int check_rv_not(CK_RV got, CK_RV unwanted, const char *desc)
{
    char want[64];

    if (got != unwanted) {
        pass(desc);
        return 1;
    }
    snprintf(want, sizeof want, "anything but %s", rv_name(unwanted));
    fail(desc, rv_name(got), want);
    return 0;
}

/* A boolean check: got/want are free-form descriptions for the FAIL line */
static int check(int cond, const char *desc, const char *want,
                 const char *gotfmt, ...)
{
    char got[512];
    va_list ap;

    if (cond) {
        pass(desc);
        return 1;
    }
    va_start(ap, gotfmt);
    vsnprintf(got, sizeof got, gotfmt, ap);
    va_end(ap);
    fail(desc, got, want);
    return 0;
}

/* A check that could not run is a failure, never a silent pass: every check
 * here applies to ferrohsm, so "could not run" means something broke. */
static void skip(const char *desc, const char *why)
{
    fail(desc, why, "the check to run");
}

#define CHECK_RV(expr, want, desc)  check_rv((expr), (want), (desc))
#define CHECK(cond, desc, want, ...) check((cond), (desc), (want), __VA_ARGS__)

/* ------------------------------------------------------------------------ */
/* Module, function lists, test fixtures                                   */
/* ------------------------------------------------------------------------ */

static CK_FUNCTION_LIST_PTR f;         /* from C_GetFunctionList            */
static CK_FUNCTION_LIST_3_0_PTR f3;    /* from C_GetInterface, may be NULL   */
static CK_C_GetFunctionList p_GetFunctionList;
static CK_C_GetInterfaceList p_GetInterfaceList;
static CK_C_GetInterface p_GetInterface;

static char tmpdir[] = "/tmp/ferrohsm-boundary-XXXXXX";
static char confpath[4096];

#define SO_PIN    "12345678"
#define USER_PIN  "1234"
#define LABEL     "ferrohsm boundary test"

static CK_UTF8CHAR token_label[32];

static const char *fn_names_240[] = {
    "C_Initialize", "C_Finalize", "C_GetInfo", "C_GetFunctionList",
    "C_GetSlotList", "C_GetSlotInfo", "C_GetTokenInfo", "C_GetMechanismList",
    "C_GetMechanismInfo", "C_InitToken", "C_InitPIN", "C_SetPIN",
    "C_OpenSession", "C_CloseSession", "C_CloseAllSessions",
    "C_GetSessionInfo", "C_GetOperationState", "C_SetOperationState",
    "C_Login", "C_Logout", "C_CreateObject", "C_CopyObject",
    "C_DestroyObject", "C_GetObjectSize", "C_GetAttributeValue",
    "C_SetAttributeValue", "C_FindObjectsInit", "C_FindObjects",
    "C_FindObjectsFinal", "C_EncryptInit", "C_Encrypt", "C_EncryptUpdate",
    "C_EncryptFinal", "C_DecryptInit", "C_Decrypt", "C_DecryptUpdate",
    "C_DecryptFinal", "C_DigestInit", "C_Digest", "C_DigestUpdate",
    "C_DigestKey", "C_DigestFinal", "C_SignInit", "C_Sign", "C_SignUpdate",
    "C_SignFinal", "C_SignRecoverInit", "C_SignRecover", "C_VerifyInit",
    "C_Verify", "C_VerifyUpdate", "C_VerifyFinal", "C_VerifyRecoverInit",
    "C_VerifyRecover", "C_DigestEncryptUpdate", "C_DecryptDigestUpdate",
    "C_SignEncryptUpdate", "C_DecryptVerifyUpdate", "C_GenerateKey",
    "C_GenerateKeyPair", "C_WrapKey", "C_UnwrapKey", "C_DeriveKey",
    "C_SeedRandom", "C_GenerateRandom", "C_GetFunctionStatus",
    "C_CancelFunction", "C_WaitForSlotEvent",
};

static const char *fn_names_30[] = {
    "C_GetInterfaceList", "C_GetInterface", "C_LoginUser", "C_SessionCancel",
    "C_MessageEncryptInit", "C_EncryptMessage", "C_EncryptMessageBegin",
    "C_EncryptMessageNext", "C_MessageEncryptFinal", "C_MessageDecryptInit",
    "C_DecryptMessage", "C_DecryptMessageBegin", "C_DecryptMessageNext",
    "C_MessageDecryptFinal", "C_MessageSignInit", "C_SignMessage",
    "C_SignMessageBegin", "C_SignMessageNext", "C_MessageSignFinal",
    "C_MessageVerifyInit", "C_VerifyMessage", "C_VerifyMessageBegin",
    "C_VerifyMessageNext", "C_MessageVerifyFinal",
};

/* PKCS #11 3.2 appends these to the 3.0 table (include/pkcs11.h is the 3.0 header, so they
 * are reached by offset: right after the 3.0 table's last pointer). */
static const char *fn_names_32[] = {
    "C_EncapsulateKey", "C_DecapsulateKey", "C_VerifySignatureInit",
    "C_VerifySignature", "C_VerifySignatureUpdate", "C_VerifySignatureFinal",
    "C_GetSessionValidationFlags", "C_AsyncComplete", "C_AsyncGetID",
    "C_AsyncJoin", "C_WrapKeyAuthenticated", "C_UnwrapKeyAuthenticated",
};

#define N_FN_240 (sizeof fn_names_240 / sizeof fn_names_240[0])
#define N_FN_30  (sizeof fn_names_30 / sizeof fn_names_30[0])
#define N_FN_32  (sizeof fn_names_32 / sizeof fn_names_32[0])

/*
 * A function list is a CK_VERSION followed by function pointers; the
 * pointers start at the first suitably aligned offset after the version
 * (offsetof(..., C_Initialize)).  Walk them generically.
 */
static void check_all_non_null(const void *list, size_t first_offset,
                               const char **names, size_t count,
                               const char *desc)
{
    char missing[2048] = "";
    size_t i, len = 0;
    int nulls = 0;

    for (i = 0; i < count; i++) {
        void (*fp)(void);
        memcpy(&fp, (const char *)list + first_offset + i * sizeof fp,
               sizeof fp);
        if (fp == NULL) {
            nulls++;
            if (len < sizeof missing - 64)
                len += (size_t)snprintf(missing + len, sizeof missing - len,
                                        "%s%s", nulls > 1 ? " " : "",
                                        names[i]);
        }
    }
    CHECK(nulls == 0, desc, "no NULL entries", "NULL: %s", missing);
}

static int version_is(CK_VERSION v, int major, int minor)
{
    return v.major == major && v.minor == minor;
}

/* Mutex callbacks for C_Initialize, backed by pthreads */
static int mutex_calls;

static CK_RV cb_create(CK_VOID_PTR_PTR pp)
{
    pthread_mutex_t *m = malloc(sizeof *m);

    mutex_calls++;
    if (m == NULL)
        return CKR_HOST_MEMORY;
    pthread_mutex_init(m, NULL);
    *pp = m;
    return CKR_OK;
}

static CK_RV cb_destroy(CK_VOID_PTR p)
{
    mutex_calls++;
    pthread_mutex_destroy(p);
    free(p);
    return CKR_OK;
}

static CK_RV cb_lock(CK_VOID_PTR p)
{
    mutex_calls++;
    return pthread_mutex_lock(p) == 0 ? CKR_OK : CKR_MUTEX_BAD;
}

static CK_RV cb_unlock(CK_VOID_PTR p)
{
    mutex_calls++;
    return pthread_mutex_unlock(p) == 0 ? CKR_OK : CKR_MUTEX_NOT_LOCKED;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static void cleanup_tmpdir(void)
{
    if (tmpdir[strlen(tmpdir) - 1] != 'X')
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int setup_config(void)
{
    char tokens[4096];
    FILE *fp;

    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return -1;
    }
    snprintf(tokens, sizeof tokens, "%s/tokens", tmpdir);
    if (mkdir(tokens, 0700) != 0) {
        perror("mkdir tokens");
        return -1;
    }
    snprintf(confpath, sizeof confpath, "%s/ferrohsm.conf", tmpdir);
    fp = fopen(confpath, "w");
    if (fp == NULL) {
        perror("fopen conf");
        return -1;
    }
    fprintf(fp,
            "# written by tests/c/boundary.c\n"
            "directories.tokendir = %s\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "kdf.argon2.memory_kib = 1024\n"
            "kdf.argon2.iterations = 1\n",
            tokens);
    fclose(fp);
    setenv("FERROHSM_CONF", confpath, 1);
    setenv("SOFTHSM2_CONF", confpath, 1);   /* lets the test run on SoftHSM */
    return 0;
}

/* Slot IDs with a token present; returns the count (<= max) or -1 */
static long list_slots(CK_BBOOL present, CK_SLOT_ID *slots, CK_ULONG max)
{
    CK_ULONG n = max;

    if (f->C_GetSlotList(present, slots, &n) != CKR_OK)
        return -1;
    return (long)n;
}

/* The slot whose token is not initialized, or (CK_SLOT_ID)-1 */
static CK_SLOT_ID find_free_slot(void)
{
    CK_SLOT_ID slots[64];
    CK_TOKEN_INFO ti;
    long n, i;

    n = list_slots(CK_TRUE, slots, 64);
    for (i = 0; i < n; i++)
        if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK
            && !(ti.flags & CKF_TOKEN_INITIALIZED))
            return slots[i];
    return (CK_SLOT_ID)-1;
}

/* The slot holding our initialized token, or (CK_SLOT_ID)-1 */
static CK_SLOT_ID find_token_slot(void)
{
    CK_SLOT_ID slots[64];
    CK_TOKEN_INFO ti;
    long n, i;

    n = list_slots(CK_TRUE, slots, 64);
    for (i = 0; i < n; i++)
        if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK
            && (ti.flags & CKF_TOKEN_INITIALIZED)
            && memcmp(ti.label, token_label, 32) == 0)
            return slots[i];
    return (CK_SLOT_ID)-1;
}

/* A slot ID that the module does not list */
static CK_SLOT_ID unused_slot_id(void)
{
    CK_SLOT_ID slots[64], cand = 0x7ffffff0UL;
    long n, i;
    int clash;

    n = list_slots(CK_FALSE, slots, 64);
    do {
        clash = 0;
        for (i = 0; i < n; i++)
            if (slots[i] == cand) {
                clash = 1;
                cand--;
            }
    } while (clash);
    return cand;
}

/* ------------------------------------------------------------------------ */
/* 1. Entry points, function lists, interfaces                              */
/* ------------------------------------------------------------------------ */

static void test_function_lists(void)
{
    CK_INTERFACE ifs[16];
    CK_INTERFACE_PTR ip = NULL;
    CK_ULONG n, needed, i;
    CK_VERSION v240 = { 2, 40 }, v30 = { 3, 0 }, vbad = { 9, 99 };
    int have30 = 0, have32 = 0, have240 = 0, bad_flags = 0;
    CK_RV rv;

    printf("# entry points and function lists\n");

    CHECK_RV(p_GetFunctionList(NULL), CKR_ARGUMENTS_BAD,
             "C_GetFunctionList(NULL) -> CKR_ARGUMENTS_BAD");
    rv = p_GetFunctionList(&f);
    CHECK(rv == CKR_OK && f != NULL, "C_GetFunctionList returns a list",
          "CKR_OK and a list", "%s, list %p", rv_name(rv), (void *)f);
    if (f == NULL) {
        fprintf(stderr, "no function list; cannot continue\n");
        exit(2);
    }
    CHECK(version_is(f->version, 2, 40), "C_GetFunctionList list version 2.40",
          "2.40", "%d.%d", f->version.major, f->version.minor);
    check_all_non_null(f, offsetof(CK_FUNCTION_LIST, C_Initialize),
                       fn_names_240, N_FN_240,
                       "2.40 list: all 68 function pointers non-NULL");

    if (p_GetInterfaceList == NULL || p_GetInterface == NULL) {
        skip("v3.0 interface checks", "module does not export them");
        return;
    }

    CHECK_RV(p_GetInterfaceList(NULL, NULL), CKR_ARGUMENTS_BAD,
             "C_GetInterfaceList(NULL, NULL) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(p_GetInterfaceList(ifs, NULL), CKR_ARGUMENTS_BAD,
             "C_GetInterfaceList(list, NULL count) -> CKR_ARGUMENTS_BAD");
    needed = 0;
    rv = p_GetInterfaceList(NULL, &needed);
    CHECK(rv == CKR_OK && needed >= 2 && needed <= 16,
          "C_GetInterfaceList(NULL, &n) returns the count (>= 2)",
          "CKR_OK, n >= 2", "%s, n = %lu", rv_name(rv), needed);
    if (rv != CKR_OK || needed < 1 || needed > 16)
        return;

    n = needed - 1;
    rv = p_GetInterfaceList(ifs, &n);
    CHECK(rv == CKR_BUFFER_TOO_SMALL && n == needed,
          "C_GetInterfaceList with a too-small count -> CKR_BUFFER_TOO_SMALL, count set",
          "CKR_BUFFER_TOO_SMALL, n = needed", "%s, n = %lu (needed %lu)",
          rv_name(rv), n, needed);

    n = 16;
    memset(ifs, 0, sizeof ifs);
    rv = p_GetInterfaceList(ifs, &n);
    CHECK(rv == CKR_OK && n == needed,
          "C_GetInterfaceList with room -> CKR_OK, count unchanged",
          "CKR_OK, n = needed", "%s, n = %lu (needed %lu)",
          rv_name(rv), n, needed);
    if (rv == CKR_OK) {
        for (i = 0; i < n && i < 16; i++) {
            const CK_VERSION *lv = ifs[i].pFunctionList;
            int pkcs = ifs[i].pInterfaceName != NULL
                && strcmp((const char *)ifs[i].pInterfaceName, "PKCS 11") == 0;
            if (pkcs && lv && version_is(*lv, 3, 0))
                have30 = 1;
            if (pkcs && lv && version_is(*lv, 3, 2))
                have32 = 1;
            if (pkcs && lv && version_is(*lv, 2, 40))
                have240 = 1;
            if (ifs[i].flags & ~CKF_INTERFACE_FORK_SAFE)
                bad_flags = 1;
        }
        CHECK(have30, "interface list has \"PKCS 11\" 3.0", "present",
              "absent");
        CHECK(have32, "interface list has \"PKCS 11\" 3.2", "present",
              "absent");
        CHECK(have240, "interface list has \"PKCS 11\" 2.40", "present",
              "absent");
        CHECK(!bad_flags, "interface flags are 0 or CKF_INTERFACE_FORK_SAFE",
              "only defined bits", "undefined bits set");
    }

    ip = NULL;
    rv = p_GetInterface(NULL, NULL, &ip, 0);
    CHECK(rv == CKR_OK && ip && ip->pFunctionList
          && version_is(*(CK_VERSION *)ip->pFunctionList, 3, 2)
          && ip->pInterfaceName
          && strcmp((char *)ip->pInterfaceName, "PKCS 11") == 0,
          "C_GetInterface(NULL, NULL) -> default \"PKCS 11\" 3.2",
          "CKR_OK, \"PKCS 11\" 3.2", "%s, %s %d.%d", rv_name(rv),
          ip && ip->pInterfaceName ? (char *)ip->pInterfaceName : "(none)",
          ip && ip->pFunctionList ? ((CK_VERSION *)ip->pFunctionList)->major : -1,
          ip && ip->pFunctionList ? ((CK_VERSION *)ip->pFunctionList)->minor : -1);
    if (rv == CKR_OK && ip && ip->pFunctionList
        && version_is(*(CK_VERSION *)ip->pFunctionList, 3, 2)) {
        f3 = ip->pFunctionList;
        check_all_non_null(f3, offsetof(CK_FUNCTION_LIST_3_0, C_Initialize),
                           fn_names_240, N_FN_240,
                           "3.2 list: all 68 v2.40 function pointers non-NULL");
        check_all_non_null(f3, offsetof(CK_FUNCTION_LIST_3_0, C_GetInterfaceList),
                           fn_names_30, N_FN_30,
                           "3.2 list: all 24 v3.0 function pointers non-NULL (3.2 keeps 3.0's layout)");
        check_all_non_null(f3, sizeof(CK_FUNCTION_LIST_3_0), fn_names_32, N_FN_32,
                           "3.2 list: all 12 v3.2 function pointers non-NULL");
    }

    ip = NULL;
    rv = p_GetInterface((CK_UTF8CHAR_PTR)"PKCS 11", &v240, &ip, 0);
    CHECK(rv == CKR_OK && ip && ip->pFunctionList
          && version_is(*(CK_VERSION *)ip->pFunctionList, 2, 40),
          "C_GetInterface(\"PKCS 11\", 2.40) -> 2.40 list", "CKR_OK, 2.40",
          "%s, %d.%d", rv_name(rv),
          ip && ip->pFunctionList ? ((CK_VERSION *)ip->pFunctionList)->major : -1,
          ip && ip->pFunctionList ? ((CK_VERSION *)ip->pFunctionList)->minor : -1);
    if (rv == CKR_OK && ip && ip->pFunctionList)
        check_all_non_null(ip->pFunctionList,
                           offsetof(CK_FUNCTION_LIST, C_Initialize),
                           fn_names_240, N_FN_240,
                           "2.40 interface list: all 68 function pointers non-NULL");

    ip = NULL;
    rv = p_GetInterface((CK_UTF8CHAR_PTR)"PKCS 11", &v30, &ip, 0);
    CHECK(rv == CKR_OK && ip && ip->pFunctionList
          && version_is(*(CK_VERSION *)ip->pFunctionList, 3, 0),
          "C_GetInterface(\"PKCS 11\", 3.0) -> 3.0 list", "CKR_OK, 3.0",
          "%s", rv_name(rv));

    ip = NULL;
    CHECK_RV(p_GetInterface((CK_UTF8CHAR_PTR)"No Such Interface", NULL, &ip, 0),
             CKR_ARGUMENTS_BAD,
             "C_GetInterface(unknown name) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(p_GetInterface((CK_UTF8CHAR_PTR)"PKCS 11", &vbad, &ip, 0),
             CKR_ARGUMENTS_BAD,
             "C_GetInterface(\"PKCS 11\", 9.99) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(p_GetInterface(NULL, NULL, NULL, 0), CKR_ARGUMENTS_BAD,
             "C_GetInterface(.., ppInterface NULL) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(p_GetInterface(NULL, NULL, &ip, 0x100), CKR_ARGUMENTS_BAD,
             "C_GetInterface(flags = undefined bit) -> CKR_ARGUMENTS_BAD");

    /* Requesting CKF_INTERFACE_FORK_SAFE: either an interface that has the
     * flag, or no match at all (CKR_ARGUMENTS_BAD). */
    ip = NULL;
    rv = p_GetInterface(NULL, NULL, &ip, CKF_INTERFACE_FORK_SAFE);
    CHECK((rv == CKR_OK && ip && (ip->flags & CKF_INTERFACE_FORK_SAFE))
          || rv == CKR_ARGUMENTS_BAD,
          "C_GetInterface(flags = FORK_SAFE) honours the flag",
          "CKR_OK with FORK_SAFE set, or CKR_ARGUMENTS_BAD",
          "%s, flags 0x%lx", rv_name(rv), ip ? ip->flags : 0UL);
}

/* ------------------------------------------------------------------------ */
/* 2. Everything before C_Initialize                                        */
/* ------------------------------------------------------------------------ */

static void test_not_initialized(const char *when)
{
    CK_INFO info;
    CK_SLOT_INFO si;
    CK_TOKEN_INFO ti;
    CK_SESSION_INFO sess;
    CK_MECHANISM_INFO mi;
    CK_MECHANISM mech = { CKM_SHA256, NULL, 0 };
    CK_SESSION_HANDLE h = 0;
    CK_SLOT_ID slot = 0;
    CK_OBJECT_HANDLE obj = 0;
    CK_ATTRIBUTE attr = { CKA_LABEL, NULL, 0 };
    CK_BYTE buf[64];
    CK_ULONG n = 0;
    CK_UTF8CHAR label[32];
    char desc[160];

    printf("# %s: functions return CKR_CRYPTOKI_NOT_INITIALIZED\n", when);
    memset(label, ' ', sizeof label);

#define NOT_INIT(expr, name)                                                \
    do {                                                                    \
        snprintf(desc, sizeof desc, "%s: %s -> CKR_CRYPTOKI_NOT_INITIALIZED", \
                 when, name);                                               \
        CHECK_RV((expr), CKR_CRYPTOKI_NOT_INITIALIZED, desc);               \
    } while (0)

    NOT_INIT(f->C_GetInfo(&info), "C_GetInfo");
    NOT_INIT(f->C_GetSlotList(CK_FALSE, NULL, &n), "C_GetSlotList");
    NOT_INIT(f->C_GetSlotInfo(0, &si), "C_GetSlotInfo");
    NOT_INIT(f->C_GetTokenInfo(0, &ti), "C_GetTokenInfo");
    NOT_INIT(f->C_GetMechanismList(0, NULL, &n), "C_GetMechanismList");
    NOT_INIT(f->C_GetMechanismInfo(0, CKM_SHA256, &mi), "C_GetMechanismInfo");
    NOT_INIT(f->C_InitToken(0, (CK_UTF8CHAR_PTR)SO_PIN, 8, label), "C_InitToken");
    NOT_INIT(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &h),
             "C_OpenSession");
    NOT_INIT(f->C_CloseSession(1), "C_CloseSession");
    NOT_INIT(f->C_CloseAllSessions(0), "C_CloseAllSessions");
    NOT_INIT(f->C_GetSessionInfo(1, &sess), "C_GetSessionInfo");
    NOT_INIT(f->C_Login(1, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4), "C_Login");
    NOT_INIT(f->C_Logout(1), "C_Logout");
    NOT_INIT(f->C_InitPIN(1, (CK_UTF8CHAR_PTR)USER_PIN, 4), "C_InitPIN");
    NOT_INIT(f->C_CreateObject(1, &attr, 1, &obj), "C_CreateObject");
    NOT_INIT(f->C_GetAttributeValue(1, 1, &attr, 1), "C_GetAttributeValue");
    NOT_INIT(f->C_FindObjectsInit(1, NULL, 0), "C_FindObjectsInit");
    NOT_INIT(f->C_DigestInit(1, &mech), "C_DigestInit");
    NOT_INIT(f->C_GenerateRandom(1, buf, 16), "C_GenerateRandom");
    NOT_INIT(f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL),
             "C_WaitForSlotEvent");
    NOT_INIT(f->C_Finalize(NULL), "C_Finalize(NULL)");
    if (f3 != NULL) {
        NOT_INIT(f3->C_LoginUser(1, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4,
                                 (CK_UTF8CHAR_PTR)"u", 1), "C_LoginUser");
        NOT_INIT(f3->C_SessionCancel(1, 0), "C_SessionCancel");
        NOT_INIT(f3->C_MessageEncryptInit(1, &mech, 1), "C_MessageEncryptInit");
    }
#undef NOT_INIT
}

/* ------------------------------------------------------------------------ */
/* 3. C_Initialize / C_Finalize                                              */
/* ------------------------------------------------------------------------ */

static void test_initialize(void)
{
    CK_C_INITIALIZE_ARGS args;
    CK_INFO info;
    CK_ULONG n;
    int dummy;
    CK_RV rv;

    printf("# C_Initialize / C_Finalize\n");

    memset(&args, 0, sizeof args);
    args.pReserved = &dummy;
    CHECK_RV(f->C_Initialize(&args), CKR_ARGUMENTS_BAD,
             "C_Initialize(pReserved != NULL) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(f->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED,
             "after rejected C_Initialize: still not initialized");

    memset(&args, 0, sizeof args);
    args.CreateMutex = cb_create;
    CHECK_RV(f->C_Initialize(&args), CKR_ARGUMENTS_BAD,
             "C_Initialize(only CreateMutex) -> CKR_ARGUMENTS_BAD");
    memset(&args, 0, sizeof args);
    args.CreateMutex = cb_create;
    args.DestroyMutex = cb_destroy;
    args.LockMutex = cb_lock;
    args.flags = CKF_OS_LOCKING_OK;
    CHECK_RV(f->C_Initialize(&args), CKR_ARGUMENTS_BAD,
             "C_Initialize(3 of 4 mutex callbacks, OS_LOCKING_OK) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(f->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED,
             "after rejected C_Initialize: still not initialized (2)");

    /* All four callbacks, no CKF_OS_LOCKING_OK: the module must use them or
     * its own locking; CKR_CANT_LOCK only if it can do neither. */
    memset(&args, 0, sizeof args);
    args.CreateMutex = cb_create;
    args.DestroyMutex = cb_destroy;
    args.LockMutex = cb_lock;
    args.UnlockMutex = cb_unlock;
    rv = f->C_Initialize(&args);
    if (CHECK_RV(rv, CKR_OK, "C_Initialize(all four mutex callbacks) -> CKR_OK")) {
        CHECK_RV(f->C_GetInfo(&info), CKR_OK,
                 "C_GetInfo works with application mutexes");
        CHECK_RV(f->C_Finalize(NULL), CKR_OK, "C_Finalize(NULL) -> CKR_OK");
    }

    memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    CHECK_RV(f->C_Initialize(&args), CKR_OK,
             "C_Initialize(CKF_OS_LOCKING_OK) -> CKR_OK");
    CHECK_RV(f->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED,
             "second C_Initialize -> CKR_CRYPTOKI_ALREADY_INITIALIZED");
    CHECK_RV(f->C_Finalize(&dummy), CKR_ARGUMENTS_BAD,
             "C_Finalize(non-NULL) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(f->C_GetInfo(&info), CKR_OK,
             "still initialized after rejected C_Finalize");
    CHECK_RV(f->C_Finalize(NULL), CKR_OK, "C_Finalize(NULL) -> CKR_OK");

    test_not_initialized("after C_Finalize");

    CHECK_RV(f->C_Initialize(NULL), CKR_OK,
             "C_Initialize(NULL) after C_Finalize -> CKR_OK");
    n = 0;
    CHECK_RV(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK,
             "C_GetSlotList works after re-initialization");
}

/* ------------------------------------------------------------------------ */
/* 4. Token set-up                                                          */
/* ------------------------------------------------------------------------ */

static CK_SLOT_ID slot = (CK_SLOT_ID)-1;

static int setup_token(void)
{
    CK_SESSION_HANDLE h;
    CK_SLOT_ID free_slot;
    CK_RV rv;
    size_t len = strlen(LABEL);

    printf("# token set-up\n");
    memset(token_label, ' ', sizeof token_label);
    memcpy(token_label, LABEL, len);

    free_slot = find_free_slot();
    if (!CHECK(free_slot != (CK_SLOT_ID)-1,
               "a slot with an uninitialized token is listed", "found",
               "none"))
        return -1;
    rv = f->C_InitToken(free_slot, (CK_UTF8CHAR_PTR)SO_PIN, strlen(SO_PIN),
                        token_label);
    if (!CHECK_RV(rv, CKR_OK, "C_InitToken on the free slot"))
        return -1;
    slot = find_token_slot();
    if (!CHECK(slot != (CK_SLOT_ID)-1,
               "initialized token is listed with its label", "found", "none"))
        return -1;

    rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
                          NULL, &h);
    if (!CHECK_RV(rv, CKR_OK, "C_OpenSession(RW) for SO"))
        return -1;
    rv = f->C_Login(h, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN, strlen(SO_PIN));
    if (!CHECK_RV(rv, CKR_OK, "C_Login(SO)"))
        return -1;
    rv = f->C_InitPIN(h, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN));
    if (!CHECK_RV(rv, CKR_OK, "C_InitPIN(\"" USER_PIN "\")"))
        return -1;
    CHECK_RV(f->C_Logout(h), CKR_OK, "C_Logout(SO)");
    CHECK_RV(f->C_CloseSession(h), CKR_OK, "C_CloseSession");
    return 0;
}

/* ------------------------------------------------------------------------ */
/* 5. NULL pointers and the size protocol                                   */
/* ------------------------------------------------------------------------ */

static CK_SESSION_HANDLE user_session;

/* Every function that takes a CK_MECHANISM, given NULL: CKR_ARGUMENTS_BAD, whether the module
 * implements the function or not (issue 17, item 6); and a digest that takes no parameter, given
 * one: CKR_MECHANISM_PARAM_INVALID. `key` is a generic secret in session `h`. */
static void null_mechanism_sweep(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE key)
{
    CK_OBJECT_CLASS key_class = CKO_SECRET_KEY;
    CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &key_class, sizeof key_class } };
    CK_OBJECT_HANDLE out = CK_INVALID_HANDLE, out2 = CK_INVALID_HANDLE;
    CK_BYTE buf[64], param[4] = { 0 };
    CK_ULONG n = sizeof buf;
    CK_MECHANISM sha_with_param = { CKM_SHA256, param, sizeof param };

    printf("# NULL mechanism\n");
    memset(buf, 0x11, sizeof buf);
    CHECK_RV(f->C_EncryptInit(h, NULL, key), CKR_ARGUMENTS_BAD,
             "C_EncryptInit(h, NULL, key) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(f->C_DecryptInit(h, NULL, key), CKR_ARGUMENTS_BAD,
             "C_DecryptInit(h, NULL, key) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(f->C_DigestInit(h, NULL), CKR_ARGUMENTS_BAD,
             "C_DigestInit(h, NULL) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(f->C_SignInit(h, NULL, key), CKR_ARGUMENTS_BAD,
             "C_SignInit(h, NULL, key) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(f->C_VerifyInit(h, NULL, key), CKR_ARGUMENTS_BAD,
             "C_VerifyInit(h, NULL, key) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(f->C_SignRecoverInit(h, NULL, key), CKR_ARGUMENTS_BAD,
             "C_SignRecoverInit(h, NULL, key) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(f->C_VerifyRecoverInit(h, NULL, key), CKR_ARGUMENTS_BAD,
             "C_VerifyRecoverInit(h, NULL, key) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(f->C_GenerateKey(h, NULL, tmpl, 1, &out), CKR_ARGUMENTS_BAD,
             "C_GenerateKey(h, NULL, ..) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(f->C_GenerateKeyPair(h, NULL, tmpl, 1, tmpl, 1, &out, &out2),
             CKR_ARGUMENTS_BAD, "C_GenerateKeyPair(h, NULL, ..) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(f->C_WrapKey(h, NULL, key, key, buf, &n), CKR_ARGUMENTS_BAD,
             "C_WrapKey(h, NULL, ..) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(f->C_UnwrapKey(h, NULL, key, buf, 24, tmpl, 1, &out), CKR_ARGUMENTS_BAD,
             "C_UnwrapKey(h, NULL, ..) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(f->C_DeriveKey(h, NULL, key, tmpl, 1, &out), CKR_ARGUMENTS_BAD,
             "C_DeriveKey(h, NULL, ..) -> CKR_ARGUMENTS_BAD");
    if (f3 != NULL) {
        CHECK_RV(f3->C_MessageEncryptInit(h, NULL, key), CKR_ARGUMENTS_BAD,
                 "C_MessageEncryptInit(h, NULL, key) -> CKR_ARGUMENTS_BAD");
        CHECK_RV(f3->C_MessageDecryptInit(h, NULL, key), CKR_ARGUMENTS_BAD,
                 "C_MessageDecryptInit(h, NULL, key) -> CKR_ARGUMENTS_BAD");
        CHECK_RV(f3->C_MessageSignInit(h, NULL, key), CKR_ARGUMENTS_BAD,
                 "C_MessageSignInit(h, NULL, key) -> CKR_ARGUMENTS_BAD");
        CHECK_RV(f3->C_MessageVerifyInit(h, NULL, key), CKR_ARGUMENTS_BAD,
                 "C_MessageVerifyInit(h, NULL, key) -> CKR_ARGUMENTS_BAD");
    }
    CHECK_RV(f->C_DigestInit(h, &sha_with_param), CKR_MECHANISM_PARAM_INVALID,
             "C_DigestInit(CKM_SHA256 with a 4-byte parameter) -> CKR_MECHANISM_PARAM_INVALID");
    /* The refusal left no operation behind: a digest starts. */
    sha_with_param.pParameter = NULL;
    sha_with_param.ulParameterLen = 0;
    if (CHECK_RV(f->C_DigestInit(h, &sha_with_param), CKR_OK,
                 "C_DigestInit(CKM_SHA256) after the refusal -> CKR_OK")) {
        n = sizeof buf;
        CHECK_RV(f->C_Digest(h, param, sizeof param, buf, &n), CKR_OK,
                 "C_Digest after it -> CKR_OK");
    }
}

static void test_null_pointers_and_sizes(void)
{
    CK_OBJECT_CLASS data_class = CKO_DATA, key_class = CKO_SECRET_KEY;
    CK_KEY_TYPE key_type = CKK_GENERIC_SECRET;
    CK_BBOOL ck_false = CK_FALSE, ck_true = CK_TRUE;
    static const char label[] = "boundary-label";
    static const char value[] = "0123456789abcdef";
    CK_BYTE key_value[32];
    CK_ATTRIBUTE data_tmpl[] = {
        { CKA_CLASS, &data_class, sizeof data_class },
        { CKA_TOKEN, &ck_false, sizeof ck_false },
        { CKA_LABEL, (void *)label, sizeof label - 1 },
        { CKA_VALUE, (void *)value, sizeof value - 1 },
    };
    CK_ATTRIBUTE null_value_tmpl[] = {
        { CKA_CLASS, &data_class, sizeof data_class },
        { CKA_TOKEN, &ck_false, sizeof ck_false },
        { CKA_LABEL, NULL, 5 },
    };
    CK_ATTRIBUTE key_tmpl[] = {
        { CKA_CLASS, &key_class, sizeof key_class },
        { CKA_KEY_TYPE, &key_type, sizeof key_type },
        { CKA_TOKEN, &ck_false, sizeof ck_false },
        { CKA_SENSITIVE, &ck_true, sizeof ck_true },
        { CKA_EXTRACTABLE, &ck_false, sizeof ck_false },
        { CKA_LABEL, (void *)label, sizeof label - 1 },
        { CKA_VALUE, key_value, sizeof key_value },
    };
    CK_ATTRIBUTE get[3];
    CK_OBJECT_CLASS got_class;
    CK_BYTE small[4], big[64], lbuf[64];
    CK_OBJECT_HANDLE data_obj = CK_INVALID_HANDLE, key_obj = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE found[4];
    CK_SLOT_ID slots[64], bad_slot;
    CK_MECHANISM_TYPE mechs[512];
    CK_SLOT_INFO si;
    CK_TOKEN_INFO ti;
    CK_SESSION_INFO sess;
    CK_SESSION_HANDLE h, h2;
    CK_ULONG n, needed;
    CK_RV rv;

    memset(key_value, 0x5a, sizeof key_value);

    printf("# NULL pointers\n");
    CHECK_RV(f->C_GetInfo(NULL), CKR_ARGUMENTS_BAD,
             "C_GetInfo(NULL) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(f->C_GetSlotList(CK_FALSE, NULL, NULL), CKR_ARGUMENTS_BAD,
             "C_GetSlotList(.., NULL count) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(f->C_GetSlotInfo(slot, NULL), CKR_ARGUMENTS_BAD,
             "C_GetSlotInfo(slot, NULL) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(f->C_GetTokenInfo(slot, NULL), CKR_ARGUMENTS_BAD,
             "C_GetTokenInfo(slot, NULL) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(f->C_GetMechanismList(slot, NULL, NULL), CKR_ARGUMENTS_BAD,
             "C_GetMechanismList(slot, NULL, NULL) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
                              NULL, NULL),
             CKR_ARGUMENTS_BAD,
             "C_OpenSession(.., NULL phSession) -> CKR_ARGUMENTS_BAD");

    rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
                          NULL, &h);
    if (!CHECK_RV(rv, CKR_OK, "C_OpenSession(RW) for the user"))
        return;
    user_session = h;
    CHECK_RV(f->C_GetSessionInfo(h, NULL), CKR_ARGUMENTS_BAD,
             "C_GetSessionInfo(h, NULL) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(f->C_Login(h, CKU_USER, NULL, 4), CKR_ARGUMENTS_BAD,
             "C_Login(NULL pin, length 4) -> CKR_ARGUMENTS_BAD");
    if (!CHECK_RV(f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN,
                             strlen(USER_PIN)),
                  CKR_OK, "C_Login(USER)"))
        return;
    CHECK_RV(f->C_GenerateRandom(h, NULL, 16), CKR_ARGUMENTS_BAD,
             "C_GenerateRandom(h, NULL, 16) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(f->C_FindObjectsInit(h, NULL, 1), CKR_ARGUMENTS_BAD,
             "C_FindObjectsInit(h, NULL, 1) -> CKR_ARGUMENTS_BAD");
    if (CHECK_RV(f->C_FindObjectsInit(h, NULL, 0), CKR_OK,
                 "C_FindObjectsInit(h, NULL, 0) -> CKR_OK (match all)")) {
        n = 0;
        CHECK_RV(f->C_FindObjects(h, NULL, 4, &n), CKR_ARGUMENTS_BAD,
                 "C_FindObjects(h, NULL handles, ..) -> CKR_ARGUMENTS_BAD");
        CHECK_RV(f->C_FindObjects(h, found, 4, NULL), CKR_ARGUMENTS_BAD,
                 "C_FindObjects(h, .., NULL count) -> CKR_ARGUMENTS_BAD");
        CHECK_RV(f->C_FindObjectsFinal(h), CKR_OK, "C_FindObjectsFinal");
    }
    CHECK_RV(f->C_CreateObject(h, data_tmpl, 4, NULL), CKR_ARGUMENTS_BAD,
             "C_CreateObject(.., NULL phObject) -> CKR_ARGUMENTS_BAD");
    CHECK_RV(f->C_CreateObject(h, NULL, 4, &data_obj), CKR_ARGUMENTS_BAD,
             "C_CreateObject(h, NULL template, 4) -> CKR_ARGUMENTS_BAD");
    data_obj = CK_INVALID_HANDLE;
    rv = f->C_CreateObject(h, null_value_tmpl, 3, &data_obj);
    check_rv2(rv, CKR_ATTRIBUTE_VALUE_INVALID, CKR_ARGUMENTS_BAD,
              "C_CreateObject(attribute pValue NULL, ulValueLen 5) rejected");
    if (rv == CKR_OK)
        f->C_DestroyObject(h, data_obj);

    data_obj = CK_INVALID_HANDLE;
    rv = f->C_CreateObject(h, data_tmpl, 4, &data_obj);
    CHECK_RV(rv, CKR_OK, "C_CreateObject(session data object)");
    if (rv == CKR_OK)
        CHECK_RV(f->C_GetAttributeValue(h, data_obj, NULL, 1),
                 CKR_ARGUMENTS_BAD,
                 "C_GetAttributeValue(h, o, NULL, 1) -> CKR_ARGUMENTS_BAD");

    printf("# size protocol\n");
    needed = 0;
    rv = f->C_GetSlotList(CK_FALSE, NULL, &needed);
    CHECK(rv == CKR_OK && needed >= 2 && needed <= 64,
          "C_GetSlotList(FALSE, NULL, &n) returns the count (>= 2)",
          "CKR_OK, n >= 2", "%s, n = %lu", rv_name(rv), needed);
    if (rv == CKR_OK && needed >= 1 && needed <= 64) {
        n = needed - 1;
        rv = f->C_GetSlotList(CK_FALSE, slots, &n);
        CHECK(rv == CKR_BUFFER_TOO_SMALL && n == needed,
              "C_GetSlotList with a too-small buffer -> CKR_BUFFER_TOO_SMALL, count set",
              "CKR_BUFFER_TOO_SMALL, n = needed", "%s, n = %lu (needed %lu)",
              rv_name(rv), n, needed);
        n = 64;
        rv = f->C_GetSlotList(CK_FALSE, slots, &n);
        CHECK(rv == CKR_OK && n == needed,
              "C_GetSlotList with room -> CKR_OK, all slots",
              "CKR_OK, n = needed", "%s, n = %lu (needed %lu)",
              rv_name(rv), n, needed);
    }

    needed = 0;
    rv = f->C_GetMechanismList(slot, NULL, &needed);
    CHECK(rv == CKR_OK && needed <= 512,
          "C_GetMechanismList(slot, NULL, &n) -> CKR_OK with the count",
          "CKR_OK", "%s, n = %lu", rv_name(rv), needed);
    /* The specification allows an empty list; ferrohsm is meant to list its
     * mechanisms (SoftHSM-compatible), and the buffer checks need one. */
    CHECK(rv == CKR_OK && needed >= 1,
          "token lists at least one mechanism (project expectation)",
          "n >= 1", "n = %lu", needed);
    if (rv == CKR_OK && needed >= 1 && needed <= 512) {
        n = needed - 1;
        rv = f->C_GetMechanismList(slot, mechs, &n);
        CHECK(rv == CKR_BUFFER_TOO_SMALL && n == needed,
              "C_GetMechanismList with a too-small buffer -> CKR_BUFFER_TOO_SMALL, count set",
              "CKR_BUFFER_TOO_SMALL, n = needed", "%s, n = %lu (needed %lu)",
              rv_name(rv), n, needed);
        n = 512;
        rv = f->C_GetMechanismList(slot, mechs, &n);
        CHECK(rv == CKR_OK && n == needed,
              "C_GetMechanismList with room -> CKR_OK", "CKR_OK, n = needed",
              "%s, n = %lu (needed %lu)", rv_name(rv), n, needed);
    }

    if (data_obj != CK_INVALID_HANDLE) {
        /* Length query: pValue NULL */
        get[0].type = CKA_LABEL;  get[0].pValue = NULL; get[0].ulValueLen = 0;
        get[1].type = CKA_VALUE;  get[1].pValue = NULL; get[1].ulValueLen = 0;
        rv = f->C_GetAttributeValue(h, data_obj, get, 2);
        CHECK(rv == CKR_OK && get[0].ulValueLen == sizeof label - 1
              && get[1].ulValueLen == sizeof value - 1,
              "C_GetAttributeValue(pValue NULL) returns the lengths",
              "CKR_OK, 14 and 16", "%s, %lu and %lu", rv_name(rv),
              get[0].ulValueLen, get[1].ulValueLen);

        /* One short buffer among good ones */
        got_class = (CK_OBJECT_CLASS)-1;
        memset(lbuf, 0, sizeof lbuf);
        get[0].type = CKA_CLASS; get[0].pValue = &got_class;
        get[0].ulValueLen = sizeof got_class;
        get[1].type = CKA_VALUE; get[1].pValue = small;
        get[1].ulValueLen = sizeof small;
        get[2].type = CKA_LABEL; get[2].pValue = lbuf;
        get[2].ulValueLen = sizeof lbuf;
        rv = f->C_GetAttributeValue(h, data_obj, get, 3);
        CHECK_RV(rv, CKR_BUFFER_TOO_SMALL,
                 "C_GetAttributeValue(short buffer) -> CKR_BUFFER_TOO_SMALL");
        CHECK(get[1].ulValueLen == CK_UNAVAILABLE_INFORMATION,
              "short-buffer attribute: ulValueLen = CK_UNAVAILABLE_INFORMATION",
              "CK_UNAVAILABLE_INFORMATION", "%lu", get[1].ulValueLen);
        CHECK(got_class == CKO_DATA && get[0].ulValueLen == sizeof got_class
              && get[2].ulValueLen == sizeof label - 1
              && memcmp(lbuf, label, sizeof label - 1) == 0,
              "short buffer: the other attributes are still filled",
              "CKO_DATA and the label", "class %lu (len %lu), label len %lu",
              got_class, get[0].ulValueLen, get[2].ulValueLen);

        /* An attribute the object does not have */
        memset(lbuf, 0, sizeof lbuf);
        get[0].type = CKA_LABEL; get[0].pValue = lbuf;
        get[0].ulValueLen = sizeof lbuf;
        get[1].type = CKA_MODULUS; get[1].pValue = big;
        get[1].ulValueLen = sizeof big;
        rv = f->C_GetAttributeValue(h, data_obj, get, 2);
        CHECK_RV(rv, CKR_ATTRIBUTE_TYPE_INVALID,
                 "C_GetAttributeValue(CKA_MODULUS of a data object) -> CKR_ATTRIBUTE_TYPE_INVALID");
        CHECK(get[1].ulValueLen == CK_UNAVAILABLE_INFORMATION
              && get[0].ulValueLen == sizeof label - 1
              && memcmp(lbuf, label, sizeof label - 1) == 0,
              "invalid type: ulValueLen = CK_UNAVAILABLE_INFORMATION, label still filled",
              "UNAVAILABLE and label", "len %lu, label len %lu",
              get[1].ulValueLen, get[0].ulValueLen);

        /* A type that is not defined at all */
        get[0].type = 0x00007ff0UL; get[0].pValue = big;
        get[0].ulValueLen = sizeof big;
        rv = f->C_GetAttributeValue(h, data_obj, get, 1);
        CHECK(rv == CKR_ATTRIBUTE_TYPE_INVALID
              && get[0].ulValueLen == CK_UNAVAILABLE_INFORMATION,
              "C_GetAttributeValue(undefined type 0x7ff0) -> CKR_ATTRIBUTE_TYPE_INVALID, UNAVAILABLE",
              "CKR_ATTRIBUTE_TYPE_INVALID, CK_UNAVAILABLE_INFORMATION",
              "%s, len %lu", rv_name(rv), get[0].ulValueLen);
    }

    rv = f->C_CreateObject(h, key_tmpl, 7, &key_obj);
    if (CHECK_RV(rv, CKR_OK, "C_CreateObject(sensitive generic secret key)")) {
        memset(lbuf, 0, sizeof lbuf);
        get[0].type = CKA_VALUE; get[0].pValue = big;
        get[0].ulValueLen = sizeof big;
        get[1].type = CKA_LABEL; get[1].pValue = lbuf;
        get[1].ulValueLen = sizeof lbuf;
        rv = f->C_GetAttributeValue(h, key_obj, get, 2);
        CHECK_RV(rv, CKR_ATTRIBUTE_SENSITIVE,
                 "C_GetAttributeValue(CKA_VALUE of sensitive key) -> CKR_ATTRIBUTE_SENSITIVE");
        CHECK(get[0].ulValueLen == CK_UNAVAILABLE_INFORMATION
              && get[1].ulValueLen == sizeof label - 1
              && memcmp(lbuf, label, sizeof label - 1) == 0,
              "sensitive: ulValueLen = CK_UNAVAILABLE_INFORMATION, label still filled",
              "UNAVAILABLE and label", "len %lu, label len %lu",
              get[0].ulValueLen, get[1].ulValueLen);
        get[0].pValue = NULL;
        get[0].ulValueLen = 0;
        rv = f->C_GetAttributeValue(h, key_obj, get, 1);
        CHECK(rv == CKR_ATTRIBUTE_SENSITIVE
              && get[0].ulValueLen == CK_UNAVAILABLE_INFORMATION,
              "sensitive length query -> CKR_ATTRIBUTE_SENSITIVE, UNAVAILABLE",
              "CKR_ATTRIBUTE_SENSITIVE, CK_UNAVAILABLE_INFORMATION",
              "%s, len %lu", rv_name(rv), get[0].ulValueLen);
        null_mechanism_sweep(h, key_obj);
        f->C_DestroyObject(h, key_obj);
    }

    printf("# invalid slot, slot events\n");
    bad_slot = unused_slot_id();
    CHECK_RV(f->C_GetSlotInfo(bad_slot, &si), CKR_SLOT_ID_INVALID,
             "C_GetSlotInfo(unlisted slot) -> CKR_SLOT_ID_INVALID");
    CHECK_RV(f->C_GetTokenInfo(bad_slot, &ti), CKR_SLOT_ID_INVALID,
             "C_GetTokenInfo(unlisted slot) -> CKR_SLOT_ID_INVALID");
    n = 0;
    CHECK_RV(f->C_GetMechanismList(bad_slot, NULL, &n), CKR_SLOT_ID_INVALID,
             "C_GetMechanismList(unlisted slot) -> CKR_SLOT_ID_INVALID");
    CHECK_RV(f->C_OpenSession(bad_slot, CKF_SERIAL_SESSION, NULL, NULL, &h2),
             CKR_SLOT_ID_INVALID,
             "C_OpenSession(unlisted slot) -> CKR_SLOT_ID_INVALID");

    CHECK_RV(f->C_GetSessionInfo(h, &sess), CKR_OK, "C_GetSessionInfo(user)");
    CHECK(sess.state == CKS_RW_USER_FUNCTIONS && sess.slotID == slot,
          "session state is CKS_RW_USER_FUNCTIONS on our slot",
          "CKS_RW_USER_FUNCTIONS", "state %lu, slot %lu", sess.state,
          sess.slotID);
    if (data_obj != CK_INVALID_HANDLE)
        f->C_DestroyObject(h, data_obj);
}

/* ------------------------------------------------------------------------ */
/* 6. fork()                                                                */
/* ------------------------------------------------------------------------ */

struct child_report {
    CK_RV init;            /* first C_Initialize in the child               */
    CK_RV fin;             /* C_Finalize, if init said ALREADY_INITIALIZED   */
    CK_RV reinit;          /* C_Initialize after that                        */
    CK_RV parent_session;  /* C_GetSessionInfo(parent's handle)              */
    CK_RV open;            /* C_OpenSession of its own                       */
    CK_RV login;           /* C_Login(USER) in its own session               */
    CK_RV final;           /* C_Finalize at the end                          */
    int   slot_found;
};

static int child_main(int fd)
{
    struct child_report r;
    CK_SESSION_INFO sess;
    CK_SESSION_HANDLE h = 0;
    CK_SLOT_ID s;
    ssize_t wr;
    int bad = 0;

    alarm(30);   /* a deadlocked module must not hang the test */
    memset(&r, 0xff, sizeof r);
    r.slot_found = 0;
    r.init = f->C_Initialize(NULL);
    if (r.init == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        r.fin = f->C_Finalize(NULL);
        r.reinit = f->C_Initialize(NULL);
    }
    if (r.init == CKR_OK
        || (r.init == CKR_CRYPTOKI_ALREADY_INITIALIZED && r.fin == CKR_OK
            && r.reinit == CKR_OK)) {
        r.parent_session = f->C_GetSessionInfo(user_session, &sess);
        s = find_token_slot();
        r.slot_found = s != (CK_SLOT_ID)-1;
        if (r.slot_found) {
            r.open = f->C_OpenSession(s, CKF_SERIAL_SESSION | CKF_RW_SESSION,
                                      NULL, NULL, &h);
            if (r.open == CKR_OK)
                r.login = f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN,
                                     strlen(USER_PIN));
        }
        r.final = f->C_Finalize(NULL);
    } else {
        bad = 1;
    }
    if (r.parent_session == CKR_OK || !r.slot_found || r.open != CKR_OK
        || r.login != CKR_OK)
        bad = 1;
    wr = write(fd, &r, sizeof r);
    (void)wr;
    return bad ? 1 : 0;
}

static void test_fork(void)
{
    struct child_report r;
    CK_SESSION_INFO sess;
    int fds[2], status = 0;
    ssize_t got = 0, k;
    pid_t pid;
    CK_RV rv;

    printf("# fork\n");
    if (user_session == 0) {
        skip("fork checks", "no logged-in parent session");
        return;
    }
    if (!CHECK(pipe(fds) == 0, "pipe() for the fork checks", "0",
               "-1, errno %d (%s)", errno, strerror(errno)))
        return;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (!CHECK(pid >= 0, "fork()", "a child", "-1, errno %d (%s)", errno,
               strerror(errno))) {
        close(fds[0]);
        close(fds[1]);
        return;
    }
    if (pid == 0) {
        close(fds[0]);
        _exit(child_main(fds[1]));
    }
    close(fds[1]);
    memset(&r, 0, sizeof r);
    while (got < (ssize_t)sizeof r
           && (k = read(fds[0], (char *)&r + got, sizeof r - (size_t)got)) > 0)
        got += k;
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;

    if (!CHECK(got == (ssize_t)sizeof r, "child ran to completion",
               "a full report", WIFSIGNALED(status) ? "killed by signal %d"
               : "exit status %d, no report", WIFSIGNALED(status)
               ? WTERMSIG(status) : WEXITSTATUS(status)))
        return;

    /* A fork-aware module resets itself in the child, so C_Initialize is
     * CKR_OK.  CKR_CRYPTOKI_ALREADY_INITIALIZED is tolerated only if
     * C_Finalize + C_Initialize then bring the child to a clean state. */
    if (r.init == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        printf("# note: module is not fork-aware (child C_Initialize -> "
               "CKR_CRYPTOKI_ALREADY_INITIALIZED)\n");
        CHECK(r.fin == CKR_OK && r.reinit == CKR_OK,
              "child: C_Initialize works (ALREADY_INITIALIZED, then C_Finalize + C_Initialize recover)",
              "CKR_OK, CKR_OK", "C_Finalize %s, C_Initialize %s",
              rv_name(r.fin), rv_name(r.reinit));
    } else {
        check_rv(r.init, CKR_OK,
                 "child: C_Initialize -> CKR_OK (module resets on fork)");
    }
    if (r.init != CKR_OK
        && !(r.init == CKR_CRYPTOKI_ALREADY_INITIALIZED && r.fin == CKR_OK
             && r.reinit == CKR_OK)) {
        skip("child session checks", "child could not initialize");
        return;
    }
    check_rv_not(r.parent_session, CKR_OK,
                 "child: C_GetSessionInfo(parent's session) is not CKR_OK");
    CHECK(r.slot_found, "child: token is listed", "found", "not found");
    check_rv(r.open, CKR_OK, "child: C_OpenSession of its own");
    check_rv(r.login, CKR_OK,
             "child: C_Login(USER) -> CKR_OK (parent's login not inherited)");
    check_rv(r.final, CKR_OK, "child: C_Finalize");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "child exit status 0", "0", WIFSIGNALED(status) ? "signal %d"
          : "%d", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));

    rv = f->C_GetSessionInfo(user_session, &sess);
    CHECK(rv == CKR_OK && sess.state == CKS_RW_USER_FUNCTIONS,
          "parent: session and login survive the child",
          "CKR_OK, CKS_RW_USER_FUNCTIONS", "%s, state %lu", rv_name(rv),
          sess.state);
}

/* ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : getenv("FERROHSM_MODULE");
    CK_SLOT_ID ev_slot = 0;
    void *lib;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (path == NULL || *path == '\0') {
        fprintf(stderr, "usage: %s MODULE.so   (or set FERROHSM_MODULE)\n",
                argv[0]);
        return 2;
    }
    if (setup_config() != 0) {
        cleanup_tmpdir();
        return 2;
    }
    printf("# module %s\n# config %s\n", path, confpath);

    lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        cleanup_tmpdir();
        return 2;
    }
    *(void **)&p_GetFunctionList = dlsym(lib, "C_GetFunctionList");
    *(void **)&p_GetInterfaceList = dlsym(lib, "C_GetInterfaceList");
    *(void **)&p_GetInterface = dlsym(lib, "C_GetInterface");
    CHECK(p_GetFunctionList != NULL, "dlsym(C_GetFunctionList)", "exported",
          "missing");
    CHECK(p_GetInterfaceList != NULL, "dlsym(C_GetInterfaceList)", "exported",
          "missing");
    CHECK(p_GetInterface != NULL, "dlsym(C_GetInterface)", "exported",
          "missing");
    if (p_GetFunctionList == NULL) {
        printf("%d passed, %d failed\n", n_passed, n_failed);
        cleanup_tmpdir();
        return 1;
    }

    test_function_lists();
    test_not_initialized("before C_Initialize");
    test_initialize();

    /* Right after initialization nothing has happened to any slot. */
    CHECK_RV(f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &ev_slot, NULL),
             CKR_NO_EVENT,
             "C_WaitForSlotEvent(CKF_DONT_BLOCK) -> CKR_NO_EVENT");

    if (setup_token() == 0) {
        test_null_pointers_and_sizes();
        test_fork();
    } else {
        skip("session-level checks", "token set-up failed");
    }

    CHECK_RV(f->C_Finalize(NULL), CKR_OK, "final C_Finalize(NULL)");
    cleanup_tmpdir();

    printf("%d passed, %d failed\n", n_passed, n_failed);
    return n_failed ? 1 : 0;
}

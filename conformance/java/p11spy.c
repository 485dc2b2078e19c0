/* A pass-through PKCS#11 module for conformance/checks/java-sunpkcs11.sh: loads the module named by
 * $P11SPY_MODULE and serves its C_GetFunctionList table with C_EncryptInit and C_DecryptInit
 * wrapped, each call logged to $P11SPY_LOG as
 *     C_EncryptInit mech=0x1087 paramLen=40 rv=0x0
 * so the check can see which CK_GCM_PARAMS layout a client sends (40 bytes: without ulIvBits,
 * 48: with it, on LP64) and what the module answered. Everything else goes to the module as is.
 * Build: gcc -shared -fPIC -Iinclude -o libp11spy.so conformance/java/p11spy.c -ldl */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include "pkcs11.h"

static CK_FUNCTION_LIST spy;
static CK_FUNCTION_LIST_PTR real;

static void log_init(const char *f, CK_MECHANISM_PTR m, CK_RV rv) {
    const char *path = getenv("P11SPY_LOG");
    FILE *o = path ? fopen(path, "a") : NULL;
    if (!o) return;
    fprintf(o, "%s mech=0x%lx paramLen=%lu rv=0x%lx\n", f, m ? (unsigned long)m->mechanism : 0UL,
            m ? (unsigned long)m->ulParameterLen : 0UL, (unsigned long)rv);
    fclose(o);
}

static CK_RV spy_encrypt_init(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) {
    CK_RV rv = real->C_EncryptInit(h, m, k);
    log_init("C_EncryptInit", m, rv);
    return rv;
}

static CK_RV spy_decrypt_init(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) {
    CK_RV rv = real->C_DecryptInit(h, m, k);
    log_init("C_DecryptInit", m, rv);
    return rv;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp) {
    if (!pp) return CKR_ARGUMENTS_BAD;
    if (!real) {
        const char *path = getenv("P11SPY_MODULE");
        void *h = path ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
        CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR) = h ? (CK_RV(*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(h, "C_GetFunctionList") : NULL;
        CK_FUNCTION_LIST_PTR l = NULL;
        if (!get || get(&l) != CKR_OK || !l) return CKR_GENERAL_ERROR;
        spy = *l;
        spy.C_EncryptInit = spy_encrypt_init;
        spy.C_DecryptInit = spy_decrypt_init;
        real = l;
    }
    *pp = &spy;
    return CKR_OK;
}

/* X25519 on a token through the C API, for conformance/checks/agreement-clients.sh, where the
 * clients of this machine cannot: pkcs11-tool 0.23 sends CKA_EC_PARAMS 13 0b "curve25519" for
 * `--keypairgen --key-type EC:curve25519` (a PrintableString whose length octet says 11 for 10
 * characters, refused by a module that parses DER: CKR_DOMAIN_PARAMS_INVALID), cannot import an
 * X25519 key ("Unsupported key type: 0x40A"), and its --derive cannot read an X25519 peer key
 * ("Failed to parse other EC key"); the libp11 engine has no X25519.
 *
 * Usage: x25519 MODULE PIN gen ID-BYTE LABEL
 *          token key pair on the first slot with a token, CKM_EC_MONTGOMERY_KEY_PAIR_GEN,
 *          CKA_EC_PARAMS the OID 1.3.101.110, CKA_DERIVE on the private key
 *        x25519 MODULE PIN derive ID-BYTE PEER OUT
 *          CKM_ECDH1_DERIVE (CKD_NULL) with the private key of that ID and the 32 bytes of file PEER
 *          (the peer's raw public value), a 32-byte extractable generic secret written to OUT
 * Prints "ok", or the failing call and its CK_RV (exit 1).
 * Build: gcc -Iinclude -o x25519 conformance/c/x25519.c -ldl */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pkcs11.h"

static int bad(const char *f, CK_RV rv) {
    printf("%s: rv=0x%lx\n", f, (unsigned long)rv);
    return 1;
}

int main(int argc, char **argv) {
    int gen = argc == 6 && strcmp(argv[3], "gen") == 0;
    int derive = argc == 7 && strcmp(argv[3], "derive") == 0;
    if (!gen && !derive) {
        fprintf(stderr, "usage: x25519 MODULE PIN gen ID-BYTE LABEL | derive ID-BYTE PEER OUT\n");
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) {
        printf("dlopen: %s\n", dlerror());
        return 1;
    }
    CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
    CK_FUNCTION_LIST_PTR f;
    CK_RV rv;
    if (!gfl || (rv = gfl(&f)) != CKR_OK) return bad("C_GetFunctionList", gfl ? rv : CKR_GENERAL_ERROR);
    if ((rv = f->C_Initialize(NULL)) != CKR_OK) return bad("C_Initialize", rv);
    CK_SLOT_ID slots[16];
    CK_ULONG n = 16;
    if ((rv = f->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK) return bad("C_GetSlotList", rv);
    if (n == 0) return bad("C_GetSlotList (no token)", CKR_TOKEN_NOT_PRESENT);
    CK_SESSION_HANDLE s;
    if ((rv = f->C_OpenSession(slots[0], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s)) != CKR_OK)
        return bad("C_OpenSession", rv);
    if ((rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)argv[2], strlen(argv[2]))) != CKR_OK)
        return bad("C_Login", rv);
    CK_BYTE id = (CK_BYTE)strtoul(argv[4], NULL, 16);
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    if (gen) {
        CK_BYTE oid[] = {0x06, 0x03, 0x2b, 0x65, 0x6e};
        CK_ULONG label_len = strlen(argv[5]);
        CK_ATTRIBUTE pub[] = {
            {CKA_TOKEN, &yes, sizeof yes},
            {CKA_EC_PARAMS, oid, sizeof oid},
            {CKA_ID, &id, 1},
            {CKA_LABEL, argv[5], label_len},
        };
        CK_ATTRIBUTE priv[] = {
            {CKA_TOKEN, &yes, sizeof yes},
            {CKA_PRIVATE, &yes, sizeof yes},
            {CKA_SENSITIVE, &yes, sizeof yes},
            {CKA_DERIVE, &yes, sizeof yes},
            {CKA_ID, &id, 1},
            {CKA_LABEL, argv[5], label_len},
        };
        CK_MECHANISM m = {CKM_EC_MONTGOMERY_KEY_PAIR_GEN, NULL, 0};
        CK_OBJECT_HANDLE hpub, hpriv;
        if ((rv = f->C_GenerateKeyPair(s, &m, pub, 4, priv, 6, &hpub, &hpriv)) != CKR_OK)
            return bad("C_GenerateKeyPair", rv);
    } else {
        CK_BYTE peer[64];
        FILE *in = fopen(argv[5], "rb");
        size_t peer_len = in ? fread(peer, 1, sizeof peer, in) : 0;
        if (in) fclose(in);
        if (peer_len != 32) return bad("reading the 32-byte peer value", CKR_ARGUMENTS_BAD);
        CK_OBJECT_CLASS priv_class = CKO_PRIVATE_KEY, secret_class = CKO_SECRET_KEY;
        CK_ATTRIBUTE find[] = {{CKA_CLASS, &priv_class, sizeof priv_class}, {CKA_ID, &id, 1}};
        CK_OBJECT_HANDLE key, out;
        CK_ULONG found = 0;
        if ((rv = f->C_FindObjectsInit(s, find, 2)) != CKR_OK) return bad("C_FindObjectsInit", rv);
        if ((rv = f->C_FindObjects(s, &key, 1, &found)) != CKR_OK) return bad("C_FindObjects", rv);
        f->C_FindObjectsFinal(s);
        if (found != 1) return bad("C_FindObjects (no private key with that ID)", CKR_KEY_HANDLE_INVALID);
        CK_ECDH1_DERIVE_PARAMS p = {CKD_NULL, 0, NULL, (CK_ULONG)peer_len, peer};
        CK_MECHANISM m = {CKM_ECDH1_DERIVE, &p, sizeof p};
        CK_KEY_TYPE generic = CKK_GENERIC_SECRET;
        CK_ULONG len = 32;
        CK_ATTRIBUTE tmpl[] = {
            {CKA_CLASS, &secret_class, sizeof secret_class},
            {CKA_KEY_TYPE, &generic, sizeof generic},
            {CKA_VALUE_LEN, &len, sizeof len},
            {CKA_TOKEN, &no, sizeof no},
            {CKA_SENSITIVE, &no, sizeof no},
            {CKA_EXTRACTABLE, &yes, sizeof yes},
        };
        if ((rv = f->C_DeriveKey(s, &m, key, tmpl, 6, &out)) != CKR_OK) return bad("C_DeriveKey", rv);
        CK_BYTE value[64];
        CK_ATTRIBUTE get = {CKA_VALUE, value, sizeof value};
        if ((rv = f->C_GetAttributeValue(s, out, &get, 1)) != CKR_OK) return bad("C_GetAttributeValue", rv);
        FILE *o = fopen(argv[6], "wb");
        if (!o || fwrite(value, 1, get.ulValueLen, o) != get.ulValueLen || fclose(o) != 0)
            return bad("writing OUT", CKR_GENERAL_ERROR);
    }
    f->C_Logout(s);
    f->C_CloseSession(s);
    f->C_Finalize(NULL);
    printf("ok\n");
    return 0;
}

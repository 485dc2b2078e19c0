/*
 * ferrohsm.h -- ferrohsm vendor extensions to PKCS #11.
 *
 * PKCS #11 reserves every value with the CKx_VENDOR_DEFINED bit (0x80000000)
 * set for vendor use.  ferrohsm claims the sub-range tagged with the ASCII
 * letters "FE" (0x46 0x45) in bits 16..31 below the vendor bit:
 *
 *     CKA_VENDOR_DEFINED | 0x46450000  ..  CKA_VENDOR_DEFINED | 0x4645FFFF
 *     i.e. 0xC6450000 .. 0xC645FFFF
 *
 * The same 16-bit window ("FE" << 16) is reserved in the other vendor-defined
 * spaces (CKO_, CKK_, CKM_, CKR_, ...) should ferrohsm ever need values there;
 * build them as <CKx>_VENDOR_DEFINED | FERROHSM_VENDOR_TAG | n.
 *
 * Rules for future definitions:
 *   - Values are never reused or renumbered once released; retired values
 *     stay reserved.
 *   - The low 16 bits are allocated sequentially from 0x0001; 0x0000 is the
 *     base itself and never names anything.
 *   - Applications must not rely on a vendor value without first checking
 *     CK_INFO.manufacturerID / CK_TOKEN_INFO.manufacturerID == "ferrohsm".
 *
 * Defined so far: the key-family attributes below (key rotation).  No vendor
 * mechanisms or return values are defined.
 */
#ifndef FERROHSM_H
#define FERROHSM_H 1

#include "pkcs11.h"

/* "FE" in bits 16..31 */
#define FERROHSM_VENDOR_TAG        0x46450000UL

/* First value of ferrohsm's vendor attribute range (0xC6450000) */
#define CKA_FERROHSM_BASE          (CKA_VENDOR_DEFINED | FERROHSM_VENDOR_TAG)

/*
 * ---- Key families: versions, rotation and retirement of keys ----
 *
 * A key family is a name (1-64 bytes of UTF-8, no spaces or control
 * characters) with numbered versions.  Each version is an ordinary key: an
 * RSA or EC key pair, or one secret (HMAC) key.  Every object of version N of
 * family F has
 *     CKA_ID    = the ASCII bytes "F.vN" (the version's "kid", stable)
 *     CKA_LABEL = "F" for the newest version, "F.vN" for older ones
 * so a client that looks a key up by label always gets the newest version.
 *
 * Rotation through PKCS #11 alone: C_GenerateKeyPair (CKM_RSA_PKCS_KEY_PAIR_GEN,
 * CKM_EC_KEY_PAIR_GEN) or C_GenerateKey (HMAC / generic secret) with
 * CKA_FERROHSM_KEY_FAMILY in a template (either template of a pair, or both
 * with the same value) creates version max+1 (1 for a new family) and demotes
 * the previous newest version (CKA_LABEL := its kid, CKA_SIGN and
 * CKA_SIGN_RECOVER := CK_FALSE; CKA_VERIFY and CKA_DECRYPT are kept), all in
 * one transaction: a crash or a concurrent rotation never leaves two newest
 * versions or none.  Requirements of such a template: a user login and a R/W
 * session; no CKA_LABEL or CKA_ID (the module assigns them:
 * CKR_TEMPLATE_INCONSISTENT otherwise); the objects are token objects, and
 * private and secret keys are private, sensitive and not extractable
 * (defaults; a template asking otherwise is CKR_TEMPLATE_INCONSISTENT).
 *
 * Policy on family objects (CKR_ACTION_PROHIBITED): they cannot be copied
 * (C_CopyObject); their CKA_LABEL and CKA_ID cannot be changed
 * (C_SetAttributeValue); only a disabled version other than the newest can be
 * destroyed (C_DestroyObject), which is what retiring a version means.
 * ferrohsm-util's `key` commands (rotate, versions, disable, enable, retire,
 * public) use exactly these attributes; see README.md, "Key rotation".
 */

/* CKA_FERROHSM_KEY_FAMILY: byte array, the family name (UTF-8).
 * Set: in a C_GenerateKey / C_GenerateKeyPair template only (meaning "rotate");
 * never with C_CreateObject (CKR_ATTRIBUTE_READ_ONLY) nor changed afterwards.
 * Keys outside a family do not have it (CKR_ATTRIBUTE_TYPE_INVALID on read). */
#define CKA_FERROHSM_KEY_FAMILY    (CKA_FERROHSM_BASE | 0x0001UL)

/* CKA_FERROHSM_KEY_VERSION: CK_ULONG, the version number (1, 2, ...).
 * Set by the module at rotation; read-only. */
#define CKA_FERROHSM_KEY_VERSION   (CKA_FERROHSM_BASE | 0x0002UL)

/* CKA_FERROHSM_KEY_DISABLED: CK_BBOOL.  CK_FALSE at rotation.  Changed with
 * C_SetAttributeValue by the user (on every object of the version: the tool
 * `ferrohsm-util key disable` does it in one transaction).  A disabled key is
 * refused by every C_*Init (sign, verify, encrypt, decrypt) with
 * CKR_KEY_FUNCTION_NOT_PERMITTED, whatever its usage attributes say.
 * Setting it to CK_TRUE on the newest version fails with CKR_ACTION_PROHIBITED
 * (the newest version signs; rotate first).  Setting CKA_SIGN or
 * CKA_SIGN_RECOVER to CK_TRUE on an older version also fails with
 * CKR_ACTION_PROHIBITED. */
#define CKA_FERROHSM_KEY_DISABLED  (CKA_FERROHSM_BASE | 0x0003UL)

/* CKA_FERROHSM_KEY_CREATED: CK_ULONG, creation time of the version in seconds
 * since 1970-01-01 UTC.  Set by the module; read-only. */
#define CKA_FERROHSM_KEY_CREATED   (CKA_FERROHSM_BASE | 0x0004UL)

/* CKA_FERROHSM_KEY_ALG: byte array, the JOSE "alg" the version is published
 * with (RFC 7518): RS256 RS384 RS512 PS256 PS384 PS512 RSA-OAEP RSA-OAEP-256
 * for RSA (default RS256), ES256 / ES384 / ES512 for EC P-256 / P-384 / P-521,
 * HS256 HS384 HS512 for secret keys (default HS256).  May be given in a
 * rotation template (else the previous version's, else the default;
 * CKR_ATTRIBUTE_VALUE_INVALID if it does not fit the key); read-only after. */
#define CKA_FERROHSM_KEY_ALG       (CKA_FERROHSM_BASE | 0x0005UL)

/* CKA_FERROHSM_KEY_CERT: CK_BBOOL, only in a rotation template of an RSA or EC
 * key pair (C_GenerateKeyPair; never stored, CKR_ATTRIBUTE_TYPE_INVALID
 * elsewhere).  CK_TRUE: the same transaction also stores a self-signed X.509
 * certificate for the new version (subject and issuer CN=<kid>, valid 10
 * years, signed by the new private key: sha256WithRSAEncryption or ECDSA with
 * SHA-256/384/512 by curve), with the version's CKA_ID, CKA_LABEL and family
 * attributes, demoted with it at the next rotation.  Applications that list
 * private keys only together with a certificate of the same CKA_ID (Java's
 * SunPKCS11 KeyStore) then see the newest version under the family name. */
#define CKA_FERROHSM_KEY_CERT      (CKA_FERROHSM_BASE | 0x0006UL)

#endif /* FERROHSM_H */

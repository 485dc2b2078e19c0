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
 * No vendor attributes, mechanisms, or return values are defined yet; only
 * the base of the range is.
 */
#ifndef FERROHSM_H
#define FERROHSM_H 1

#include "pkcs11.h"

/* "FE" in bits 16..31 */
#define FERROHSM_VENDOR_TAG        0x46450000UL

/* First value of ferrohsm's vendor attribute range (0xC6450000) */
#define CKA_FERROHSM_BASE          (CKA_VENDOR_DEFINED | FERROHSM_VENDOR_TAG)

#endif /* FERROHSM_H */

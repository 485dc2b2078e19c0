//! The key parsers the library holds: the module's PKCS#8 reader (PKCS#1 RSA and SEC 1 EC keys
//! inside; what `C_UnwrapKey` applies to a decrypted private key), and the readers of the key
//! values a template imports (`C_CreateObject`, `ferrohsm-util --import`): CKA_EC_PARAMS (OID,
//! curve name or explicit parameters) and CKA_EC_POINT for the Weierstrass, Edwards and Montgomery
//! curves, DER OCTET STRING framing, CKA_PARAMETER_SET of ML-DSA and SLH-DSA, the Ed25519 seed of
//! a PKCS#8 Ed25519 key, ML-DSA public keys.
//!
//! Not here: `ferrohsm-util --import`'s own PEM / PKCS#8 / X.509 glue (src/bin/ferrohsm-util/
//! import.rs) lives in the binary, which a fuzz target cannot link; docs/SECURITY.md says so.
//!
//! Input: a selector byte, then the bytes. Checks: no panic; a PKCS#8 key that parses gives an
//! RSA key with its eight components or an EC key with its parameters and value; the
//! contents of a DER OCTET STRING round-trip.
#![no_main]

use cryptoki_sys::*;
use ferrohsm::mechanism::keys;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, d)) = data.split_first() else {
        return;
    };
    match sel % 8 {
        0 => {
            if let Ok((kt, attrs)) = ferrohsm::mechanism::wrap::fuzz_from_pkcs8(d) {
                let has = |t| attrs.iter().any(|a| a.ty == t);
                match kt {
                    CKK_RSA => assert!([
                        CKA_MODULUS,
                        CKA_PUBLIC_EXPONENT,
                        CKA_PRIVATE_EXPONENT,
                        CKA_PRIME_1,
                        CKA_PRIME_2,
                        CKA_EXPONENT_1,
                        CKA_EXPONENT_2,
                        CKA_COEFFICIENT
                    ]
                    .into_iter()
                    .all(has)),
                    CKK_EC => {
                        assert!(has(CKA_EC_PARAMS) && has(CKA_VALUE));
                        // The curve is read as a key made from these attributes would be.
                        let p = attrs.iter().find(|a| a.ty == CKA_EC_PARAMS).unwrap();
                        let _ = keys::curve_of_params(&p.value);
                    }
                    other => panic!("PKCS#8 gave key type {other:#x}"),
                }
            }
        }
        1 => {
            // CKA_EC_PARAMS, then a CKA_EC_POINT on that curve: split at a length byte.
            let Some((&n, rest)) = d.split_first() else {
                return;
            };
            let (params, point) = rest.split_at((n as usize).min(rest.len()));
            if let Ok(curve) = keys::curve_of_params(params) {
                let _ = keys::point_of(curve, point);
            }
        }
        2 => {
            let _ = keys::curve_of_params(d);
            let _ = ferrohsm::mechanism::ecparams::curve_of_explicit(d);
        }
        3 => {
            let Some((&n, rest)) = d.split_first() else {
                return;
            };
            let (params, point) = rest.split_at((n as usize).min(rest.len()));
            let _ = keys::edwards_params(params);
            let _ = keys::montgomery_params(params);
            let _ = keys::ed_point_of(point);
            let _ = keys::x_point_of(point);
            let _ = keys::x_bytes(point);
            let _ = keys::fixed_point(point, 57);
            let _ = keys::fixed_point(point, 56);
        }
        4 => {
            if let Some(inner) = keys::octet_string_contents(d) {
                // (Long-form lengths that could be short are accepted, so only the contents
                // are compared, not the framing.)
                assert_eq!(
                    keys::octet_string_contents(&keys::der_octet_string(inner)),
                    Some(inner)
                );
            }
            if d.len() < 65536 {
                assert_eq!(
                    keys::octet_string_contents(&keys::der_octet_string(d)),
                    Some(d),
                    "OCTET STRING round trip"
                );
            }
        }
        5 => {
            let _ = ferrohsm::mechanism::mldsa::set_of(d);
            let _ = ferrohsm::mechanism::slhdsa::set_of(d);
        }
        6 => {
            // The Ed25519 seed of a PKCS#8 Ed25519 key (what `ferrohsm-util --import` hands the
            // library), and an ML-DSA-44 public key.
            let _ = ferrohsm::crypto::EdPrivate::from_bytes(d);
            if let Ok(set) = ferrohsm::mechanism::mldsa::set_of(&1u64.to_ne_bytes()) {
                let _ = ferrohsm::crypto::MlDsaPublic::from_bytes(set, d);
            }
        }
        _ => {
            let _ = keys::strip(d);
            let _ = keys::check_value(CKK_AES, d);
            let _ = keys::check_value(CKK_DES3, d);
        }
    }
});

//! ECDH key derivation (`CKM_ECDH1_DERIVE`, `CKM_ECDH1_COFACTOR_DERIVE`) with
//! `CK_ECDH1_DERIVE_PARAMS`: the raw shared secret (`CKD_NULL`) or the ANSI X9.63 KDF over SHA-1
//! or SHA-2 (`CKD_SHA*_KDF`) with the caller's shared data; on the `CKK_EC` curves (P-224, P-256,
//! P-384, P-521, secp256k1, brainpoolP256r1, brainpoolP384r1)
//! and X25519 / X448 (`CKK_EC_MONTGOMERY`, RFC 7748, with `CKM_EC_MONTGOMERY_KEY_PAIR_GEN`).
//!
//! Those curves have cofactor 1, and X25519's scalars are multiples of its cofactor (RFC
//! 7748's clamping), so the cofactor variant computes the same value.
//! The KDF is the X9.63 construction (SEC 1, 3.6.1) over the backend's hash: the key is the first
//! bytes of `H(Z || 00000001 || SharedInfo) || H(Z || 00000002 || SharedInfo) || ...`.

use super::keys::{self, Key};
use super::{KeyLen, Keys, Mech, MechDef, Param, ParamKind};
use crate::crypto::{self, HashAlg, Hasher};
use crate::error::{Error, Result};
use crate::object::Attribute;
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

// Named curves and explicit parameters equal to one of them (`ecparams`).
const EC_FLAGS: CK_FLAGS = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_ECPARAMETERS | CKF_EC_UNCOMPRESS;
const X_FLAGS: CK_FLAGS = CKF_EC_OID | CKF_EC_CURVENAME;

/// Field sizes in bits: P-224's 224 to P-521's 521.
const fn row(ty: CK_MECHANISM_TYPE, name: &'static str) -> MechDef {
    MechDef::new(ty, name, 224, 521, CKF_DERIVE | EC_FLAGS | X_FLAGS)
        .param(ParamKind::Ecdh1)
        .keys(Keys::Ecdh)
        .derive(derive)
}

/// The ECDH family's mechanisms.
pub const MECHS: &[MechDef] = &[
    MechDef::new(
        CKM_EC_MONTGOMERY_KEY_PAIR_GEN,
        "CKM_EC_MONTGOMERY_KEY_PAIR_GEN",
        255,
        448,
        CKF_GENERATE_KEY_PAIR | X_FLAGS,
    )
    .pairgen(x25519_pair_gen),
    row(CKM_ECDH1_DERIVE, "CKM_ECDH1_DERIVE"),
    row(CKM_ECDH1_COFACTOR_DERIVE, "CKM_ECDH1_COFACTOR_DERIVE"),
];

/// CKM_EC_MONTGOMERY_KEY_PAIR_GEN from the public key template (CKA_EC_PARAMS: the OID of X25519
/// or X448, or the PrintableString "curve25519" or "curve448").
fn x25519_pair_gen(
    _: &Mech,
    pub_t: &[Attribute],
) -> Result<(CK_KEY_TYPE, Vec<Attribute>, Vec<Attribute>)> {
    let params = super::ops::template_get(pub_t, CKA_EC_PARAMS).ok_or(Error::TemplateIncomplete)?;
    let (u, value, spki) = match keys::montgomery_params(params)? {
        keys::Twisted::C25519 => {
            let k = crypto::x25519_generate()?;
            let u = k.public().bytes();
            let spki = keys::x25519_spki(&u);
            (u, k.bytes(), spki)
        }
        keys::Twisted::C448 => {
            let k = crypto::x448_generate()?;
            let u = k.public().bytes();
            let spki = keys::x448_spki(&u);
            (u, k.bytes(), spki)
        }
    };
    let pubs = vec![
        Attribute::new(CKA_EC_POINT, keys::der_octet_string(&u)),
        Attribute::new(CKA_PUBLIC_KEY_INFO, spki.clone()),
    ];
    let privs = vec![
        Attribute::new(CKA_EC_PARAMS, params.to_vec()),
        Attribute::new(CKA_VALUE, value.to_vec()),
        Attribute::new(CKA_PUBLIC_KEY_INFO, spki),
    ];
    Ok((CKK_EC_MONTGOMERY, pubs, privs))
}

/// The hash of an X9.63 KDF (`None` for `CKD_NULL`); any other KDF is a bad parameter.
fn kdf_hash(kdf: CK_EC_KDF_TYPE) -> Result<Option<HashAlg>> {
    Ok(Some(match kdf {
        CKD_NULL => return Ok(None),
        CKD_SHA1_KDF => HashAlg::Sha1,
        CKD_SHA224_KDF => HashAlg::Sha224,
        CKD_SHA256_KDF => HashAlg::Sha256,
        CKD_SHA384_KDF => HashAlg::Sha384,
        CKD_SHA512_KDF => HashAlg::Sha512,
        _ => return Err(Error::MechanismParamInvalid),
    }))
}

/// ANSI X9.63 KDF (SEC 1, 3.6.1): `len` bytes from the shared secret `z` and `shared`.
/// `TemplateInconsistent` beyond its limit of (2^32 - 1) hash lengths.
pub fn x963_kdf(alg: HashAlg, z: &[u8], shared: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>> {
    if len.div_ceil(alg.len()) > u32::MAX as usize {
        return Err(Error::TemplateInconsistent);
    }
    let mut out = Zeroizing::new(Vec::with_capacity(len.next_multiple_of(alg.len())));
    let mut counter: u32 = 1;
    while out.len() < len {
        let mut h = Hasher::new(alg);
        h.update(z);
        h.update(&counter.to_be_bytes());
        h.update(shared);
        let block = Zeroizing::new(h.finalize());
        out.extend_from_slice(&block);
        counter += 1;
    }
    out.truncate(len);
    Ok(out)
}

/// The derivation: checks the parameter, validates the other party's point (on the base key's
/// curve, not the identity: `MechanismParamInvalid` otherwise), computes Z and applies the KDF.
///
/// Without a KDF the key is Z truncated from its leading end, as PKCS #11 says ("The truncation
/// removes bytes from the leading end of the secret value"); asking for more than Z is
/// `TemplateInconsistent`. With a KDF the key is exactly as long as asked; a template that asks
/// no length gets as many bytes as Z has.
fn derive(mech: &Mech, key: &Arc<Key>, want: &KeyLen) -> Result<Zeroizing<Vec<u8>>> {
    let Param::Ecdh {
        kdf,
        shared,
        public,
    } = &mech.param
    else {
        return Err(Error::MechanismParamInvalid);
    };
    let hash = kdf_hash(*kdf)?;
    // PKCS #11 3.0, 2.3.10: with CKD_NULL there is no shared data.
    if hash.is_none() && !shared.is_empty() {
        return Err(Error::MechanismParamInvalid);
    }
    if public.is_empty() {
        return Err(Error::MechanismParamInvalid);
    }
    // The point raw (pkcs11-tool, Java's SunPKCS11) or as a DER OCTET STRING (python-pkcs11,
    // `pkcs11-tool --derive-pass-der`, clients that copy CKA_EC_POINT as it is).
    let z = match &**key {
        // Told apart as keys::point_of does: the DER form when its contents are a point of the
        // curve, else the bytes as they are.
        Key::EcPrivate(k) => match keys::octet_string_contents(public) {
            Some(inner) => match k.ecdh_sec1(inner) {
                Ok(z) => z,
                Err(_) => k.ecdh_sec1(public)?,
            },
            None => k.ecdh_sec1(public)?,
        },
        Key::XPrivate(k) => {
            let u = keys::x_bytes(public).ok_or(Error::MechanismParamInvalid)?;
            let peer = crypto::XPublic::from_bytes(u).map_err(|_| Error::MechanismParamInvalid)?;
            k.agree(&peer)?
        }
        Key::X448Private(k) => {
            let u = keys::fixed_point(public, crypto::c448::X448_LEN)
                .ok_or(Error::MechanismParamInvalid)?;
            let peer =
                crypto::X448Public::from_bytes(u).map_err(|_| Error::MechanismParamInvalid)?;
            k.agree(&peer)?
        }
        _ => return Err(Error::KeyTypeInconsistent),
    };
    let len = want.len(z.len())?;
    match hash {
        None if len > z.len() => Err(Error::TemplateInconsistent),
        None => Ok(Zeroizing::new(z[z.len() - len..].to_vec())),
        Some(alg) => x963_kdf(alg, &z, shared, len),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{ec_generate, Curve, EcPrivate};

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).unwrap()
    }

    fn generic(asked: Option<usize>) -> KeyLen {
        KeyLen {
            asked,
            st: super::super::secret_type(CKK_GENERIC_SECRET).unwrap(),
        }
    }

    fn mech(kdf: CK_EC_KDF_TYPE, shared: &[u8], public: &[u8]) -> Mech {
        Mech {
            ty: CKM_ECDH1_DERIVE,
            param: Param::Ecdh {
                kdf,
                shared: Zeroizing::new(shared.to_vec()),
                public: public.to_vec(),
            },
        }
    }

    /// NIST CAVP, KAS ECC CDH primitive test vectors (SP 800-56A; ecccdhtestvectors.zip,
    /// KAS_ECC_CDH_PrimitiveTest.txt), COUNT = 0 of P-256, P-384 and P-521: the private key dIUT,
    /// the peer point QCAVS (x, y) and ZIUT. (P-521's dIUT and QCAVS lose the two zero bytes the
    /// file puts before them.)
    pub(crate) const CAVP: &[(Curve, &str, &str, &str, &str)] = &[
        (
            Curve::P256,
            "7d7dc5f71eb29ddaf80d6214632eeae03d9058af1fb6d22ed80badb62bc1a534",
            "700c48f77f56584c5cc632ca65640db91b6bacce3a4df6b42ce7cc838833d287",
            "db71e509e3fd9b060ddb20ba5c51dcc5948d46fbf640dfe0441782cab85fa4ac",
            "46fc62106420ff012e54a434fbdd2d25ccc5852060561e68040dd7778997bd7b",
        ),
        (
            Curve::P384,
            "3cc3122a68f0d95027ad38c067916ba0eb8c38894d22e1b15618b6818a661774\
             ad463b205da88cf699ab4d43c9cf98a1",
            "a7c76b970c3b5fe8b05d2838ae04ab47697b9eaf52e764592efda27fe7513272\
             734466b400091adbf2d68c58e0c50066",
            "ac68f19f2e1cb879aed43a9969b91a0839c4c38a49749b661efedf243451915e\
             d0905a32b060992b468c64766fc8437a",
            "5f9d29dc5e31a163060356213669c8ce132e22f57c9a04f40ba7fcead493b457\
             e5621e766c40a2e3d4d6a04b25e533f1",
        ),
        (
            Curve::P521,
            "017eecc07ab4b329068fba65e56a1f8890aa935e57134ae0ffcce802735151f4ea\
             c6564f6ee9974c5e6887a1fefee5743ae2241bfeb95d5ce31ddcb6f9edb4d6fc47",
            "00685a48e86c79f0f0875f7bc18d25eb5fc8c0b07e5da4f4370f3a949034085433\
             4b1e1b87fa395464c60626124a4e70d0f785601d37c09870ebf176666877a2046d",
            "01ba52c56fc8776d9e8f5db4f0cc27636d0b741bbe05400697942e80b739884a83\
             bde99e0f6716939e632bc8986fa18dccd443a348b6c3e522497955a4f3c302f676",
            "005fc70477c3e63bc3954bd0df3ea0d1f41ee21746ed95fc5e1fdf90930d5e1366\
             72d72cc770742d1711c3c3a4c334a0ad9759436a4d3c5bf6e74b9578fac148c831",
        ),
    ];

    fn peer_point(x: &str, y: &str) -> Vec<u8> {
        [vec![4u8], h(x), h(y)].concat()
    }

    /// CAVP ECC CDH vectors, with the peer point raw and as a DER OCTET STRING, through both
    /// mechanisms, and with CKA_VALUE_LEN truncation (from the leading end).
    #[test]
    fn cavp_cdh_known_answers() {
        for &(curve, d, qx, qy, z) in CAVP {
            let k = Arc::new(Key::EcPrivate(EcPrivate::from_bytes(curve, &h(d)).unwrap()));
            let raw = peer_point(qx, qy);
            let z = h(z);
            for public in [raw.clone(), keys::der_octet_string(&raw)] {
                for ty in [CKM_ECDH1_DERIVE, CKM_ECDH1_COFACTOR_DERIVE] {
                    let mut m = mech(CKD_NULL, &[], &public);
                    m.ty = ty;
                    assert_eq!(*derive(&m, &k, &generic(None)).unwrap(), z, "{curve:?}");
                    let v = derive(&m, &k, &generic(Some(16))).unwrap();
                    assert_eq!(v[..], z[z.len() - 16..], "{curve:?}");
                }
            }
            // Z is all there is without a KDF.
            assert_eq!(
                derive(&mech(CKD_NULL, &[], &raw), &k, &generic(Some(z.len() + 1))).unwrap_err(),
                Error::TemplateInconsistent
            );
        }
    }

    /// The X9.63 KDF with SHA-256: the first vector of NIST CAVS 12.0's SP 800-135 ANSI X9.63 KDF
    /// test (ansx963_2001.rsp, [SHA-256] [shared secret length = 192] [SharedInfo length = 0]
    /// [key data length = 128]), and with SharedInfo ([SharedInfo length = 128] [key data length
    /// = 1024]): its first COUNT.
    #[test]
    fn x963_kdf_known_answers() {
        let k = x963_kdf(
            HashAlg::Sha256,
            &h("96c05619d56c328ab95fe84b18264b08725b85e33fd34f08"),
            &[],
            16,
        )
        .unwrap();
        assert_eq!(hex::encode(&k[..]), "443024c3dae66b95e6f5670601558f71");
        let k = x963_kdf(
            HashAlg::Sha256,
            &h("22518b10e70f2a3f243810ae3254139efbee04aa57c7af7d"),
            &h("75eef81aa3041e33b80971203d2c0c52"),
            128,
        )
        .unwrap();
        assert_eq!(
            hex::encode(&k[..]),
            "c498af77161cc59f2962b9a713e2b215152d139766ce34a776df11866a69bf2e\
             52a13d9c7c6fc878c50c5ea0bc7b00e0da2447cfd874f6cf92f30d0097111485\
             500c90c3af8b487872d04685d14c8d1dc8d7fa08beb0ce0ababc11f0bd496269\
             142d43525a78e5bc79a17f59676a5706dc54d54d4d1f0bd7e386128ec26afc21"
        );
        // Past the hash length the counter goes on: each block is H(Z || counter || info).
        let z = [7u8; 32];
        let two = x963_kdf(HashAlg::Sha1, &z, b"info", 40).unwrap();
        let mut b2 = Hasher::new(HashAlg::Sha1);
        b2.update(&z);
        b2.update(&2u32.to_be_bytes());
        b2.update(b"info");
        assert_eq!(two[20..], b2.finalize()[..]);
    }

    /// The KDFs through the mechanism: each hash, the key as long as asked (longer than a hash
    /// too), the same as the KDF over the raw Z; generated keys agree both ways.
    #[test]
    fn kdfs_and_agreement() {
        for curve in Curve::ALL {
            let a = ec_generate(curve);
            let b = ec_generate(curve);
            let (pa, pb) = (a.public().point(), b.public().point());
            let ka = Arc::new(Key::EcPrivate(a));
            let kb = Arc::new(Key::EcPrivate(b));
            let za = derive(&mech(CKD_NULL, &[], &pb), &ka, &generic(None)).unwrap();
            let zb = derive(&mech(CKD_NULL, &[], &pa), &kb, &generic(None)).unwrap();
            assert_eq!(za, zb);
            assert_eq!(za.len(), curve.field_len());
            for (kdf, alg) in [
                (CKD_SHA1_KDF, HashAlg::Sha1),
                (CKD_SHA224_KDF, HashAlg::Sha224),
                (CKD_SHA256_KDF, HashAlg::Sha256),
                (CKD_SHA384_KDF, HashAlg::Sha384),
                (CKD_SHA512_KDF, HashAlg::Sha512),
            ] {
                for len in [16, 100] {
                    let v = derive(&mech(kdf, b"shared", &pb), &ka, &generic(Some(len))).unwrap();
                    assert_eq!(v, x963_kdf(alg, &za, b"shared", len).unwrap());
                    let w = derive(&mech(kdf, b"shared", &pa), &kb, &generic(Some(len))).unwrap();
                    assert_eq!(v, w);
                }
                // No length asked: as long as Z.
                let v = derive(&mech(kdf, &[], &pb), &ka, &generic(None)).unwrap();
                assert_eq!(v.len(), za.len());
            }
        }
    }

    /// RFC 7748 6.1 (Alice and Bob) through the mechanism, both ways, the public values raw and
    /// as DER OCTET STRINGs; the public keys are the RFC's; a small-order peer value is refused.
    #[test]
    fn rfc7748_x25519() {
        let a = crate::crypto::XPrivate::from_bytes(&h(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        ))
        .unwrap();
        let b = crate::crypto::XPrivate::from_bytes(&h(
            "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
        ))
        .unwrap();
        let (pa, pb) = (a.public().bytes(), b.public().bytes());
        assert_eq!(
            pa,
            h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        );
        assert_eq!(
            pb,
            h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
        );
        let k = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        let (ka, kb) = (Arc::new(Key::XPrivate(a)), Arc::new(Key::XPrivate(b)));
        for (key, peer) in [(&ka, &pb), (&kb, &pa)] {
            for public in [peer.clone(), keys::der_octet_string(peer)] {
                assert_eq!(
                    *derive(&mech(CKD_NULL, &[], &public), key, &generic(None)).unwrap(),
                    k
                );
            }
            let v = derive(&mech(CKD_SHA256_KDF, b"x", peer), key, &generic(Some(40))).unwrap();
            assert_eq!(v, x963_kdf(HashAlg::Sha256, &k, b"x", 40).unwrap());
        }
        // u = 0 and u = 1 are of small order: the shared secret would be all zeros.
        for u in [[0u8; 32], {
            let mut one = [0u8; 32];
            one[0] = 1;
            one
        }] {
            assert_eq!(
                derive(&mech(CKD_NULL, &[], &u), &ka, &generic(None)).unwrap_err(),
                Error::MechanismParamInvalid
            );
        }
        // Lengths other than 32 (raw or wrapped).
        for bad in [
            pb[..31].to_vec(),
            [&pb[..], &[0]].concat(),
            keys::der_octet_string(&pb[..31]),
        ] {
            assert_eq!(
                derive(&mech(CKD_NULL, &[], &bad), &ka, &generic(None)).unwrap_err(),
                Error::MechanismParamInvalid
            );
        }
    }

    /// Bad parameters and points: each refused with its code.
    #[test]
    fn bad_input() {
        let a = ec_generate(Curve::P256);
        let p = a.public().point();
        let k = Arc::new(Key::EcPrivate(a));
        let bad = |m: &Mech| derive(m, &k, &generic(None)).unwrap_err();
        // Unknown or unsupported KDFs.
        for kdf in [
            0,
            CKD_SHA1_KDF_ASN1,
            CKD_SHA3_256_KDF,
            CKD_SHA256_KDF_SP800,
            0x1234,
        ] {
            assert_eq!(
                bad(&mech(kdf, &[], &p)),
                Error::MechanismParamInvalid,
                "{kdf}"
            );
        }
        // Shared data with CKD_NULL; no public value; no parameter.
        assert_eq!(bad(&mech(CKD_NULL, b"x", &p)), Error::MechanismParamInvalid);
        assert_eq!(bad(&mech(CKD_NULL, &[], &[])), Error::MechanismParamInvalid);
        assert_eq!(
            bad(&Mech::new(CKM_ECDH1_DERIVE)),
            Error::MechanismParamInvalid
        );
        // A point off the curve, the identity, wrong lengths, a P-384 point.
        let mut off = p.clone();
        off[64] ^= 1;
        let other = ec_generate(Curve::P384).public().point();
        for q in [
            off,
            vec![0],
            p[..64].to_vec(),
            [&p[..], &[0]].concat(),
            other,
            vec![4; 65],
        ] {
            assert_eq!(bad(&mech(CKD_NULL, &[], &q)), Error::MechanismParamInvalid);
        }
        // A public key is no base key.
        let pk = Arc::new(Key::EcPublic(
            crate::crypto::EcPublic::from_sec1(Curve::P256, &p).unwrap(),
        ));
        assert_eq!(
            derive(&mech(CKD_NULL, &[], &p), &pk, &generic(None)).unwrap_err(),
            Error::KeyTypeInconsistent
        );
    }
}

//! EdDSA (PKCS #11 3.0): Ed25519 and Ed448 keys (`CKK_EC_EDWARDS`), `CKM_EC_EDWARDS_KEY_PAIR_GEN`
//! and `CKM_EDDSA` (RFC 8032).
//!
//! Without a parameter `CKM_EDDSA` is pure Ed25519, or Ed448 with an empty context. With
//! `CK_EDDSA_PARAMS`: on Ed25519, phFlag false is Ed25519ctx (a context of 1 to 255 bytes: RFC
//! 8032 5.1 says an empty one is not Ed25519ctx; on the aws-lc backend only, see
//! `crypto/README.md`) and phFlag true Ed25519ph; on Ed448, phFlag false is Ed448 with the
//! context, phFlag true Ed448ph. In the prehash variants the module hashes the message (SHA-512,
//! SHAKE256/64) as RFC 8032 says: the caller passes the message, not its hash. A context over
//! 255 bytes is `CKR_MECHANISM_PARAM_INVALID`.

use super::keys::{self, Key};
use super::{Keys, Mech, MechDef, Param, ParamKind, SignOp};
use crate::crypto;
use crate::error::{Error, Result};
use crate::object::Attribute;
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Length of an Ed25519 signature (Ed448's is `c448::ED448_SIG_LEN`).
const SIG_LEN: usize = 64;
/// The most message bytes a multi-part EdDSA operation gathers (EdDSA hashes the message twice,
/// so the whole message is held until the final call).
const MAX_MSG: usize = 256 << 20;

const ED_FLAGS: CK_FLAGS = CKF_EC_OID | CKF_EC_CURVENAME;

/// The EdDSA family's mechanisms. Key sizes: the curves' 255 to 448 bits.
pub const MECHS: &[MechDef] = &[
    MechDef::new(
        CKM_EC_EDWARDS_KEY_PAIR_GEN,
        "CKM_EC_EDWARDS_KEY_PAIR_GEN",
        255,
        448,
        CKF_GENERATE_KEY_PAIR | ED_FLAGS,
    )
    .pairgen(pair_gen),
    MechDef::new(
        CKM_EDDSA,
        "CKM_EDDSA",
        255,
        448,
        CKF_SIGN | CKF_VERIFY | ED_FLAGS,
    )
    .param(ParamKind::OptionalEddsa)
    .keys(Keys::EcEdwards)
    .sign(sign_op),
];

pub struct EddsaSign {
    key: Arc<Key>,
    msg: Zeroizing<Vec<u8>>,
    /// The CK_EDDSA_PARAMS: prehash flag and context (`None`: no parameter).
    variant: Option<(bool, Vec<u8>)>,
}

pub fn sign_op(mech: &Mech, key: &Arc<Key>, verify: bool) -> Result<Box<dyn SignOp>> {
    if mech.ty != CKM_EDDSA {
        return Err(Error::MechanismInvalid);
    }
    let variant = match &mech.param {
        Param::None => None,
        Param::Eddsa { ph, context } => {
            if context.len() > crypto::c448::MAX_CONTEXT {
                return Err(Error::MechanismParamInvalid);
            }
            Some((*ph, context.clone()))
        }
        _ => return Err(Error::MechanismParamInvalid),
    };
    match (&**key, verify) {
        (Key::EdPrivate(_), false) | (Key::EdPublic(_), true) => {
            // Ed25519ctx: a context of at least one byte, and a backend that has it.
            if let Some((false, ctx)) = &variant {
                if ctx.is_empty() || !crypto::ED25519_CTX {
                    return Err(Error::MechanismParamInvalid);
                }
            }
        }
        (Key::Ed448Private(_), false) | (Key::Ed448Public(_), true) => {}
        _ => return Err(Error::KeyTypeInconsistent),
    }
    Ok(Box::new(EddsaSign {
        key: key.clone(),
        msg: Zeroizing::new(Vec::new()),
        variant,
    }))
}

impl SignOp for EddsaSign {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        if self.msg.len() + data.len() > MAX_MSG {
            return Err(Error::DataLenRange);
        }
        super::append_secret(&mut self.msg, data);
        Ok(())
    }

    fn sig_len(&self) -> usize {
        match &*self.key {
            Key::Ed448Private(_) | Key::Ed448Public(_) => crypto::c448::ED448_SIG_LEN,
            _ => SIG_LEN,
        }
    }

    fn sign(self: Box<Self>) -> Result<Zeroizing<Vec<u8>>> {
        let sig = match (&*self.key, &self.variant) {
            (Key::EdPrivate(k), None) => k.sign(&self.msg)?,
            (Key::EdPrivate(k), Some((ph, ctx))) => k.sign_variant(*ph, ctx, &self.msg)?,
            (Key::Ed448Private(k), None) => k.sign(false, &[], &self.msg)?,
            (Key::Ed448Private(k), Some((ph, ctx))) => k.sign(*ph, ctx, &self.msg)?,
            _ => return Err(Error::KeyTypeInconsistent),
        };
        Ok(Zeroizing::new(sig))
    }

    fn verify(self: Box<Self>, sig: &[u8]) -> Result<()> {
        if sig.len() != self.sig_len() {
            return Err(Error::SignatureLenRange);
        }
        match (&*self.key, &self.variant) {
            (Key::EdPublic(k), None) => k.verify(&self.msg, sig),
            (Key::EdPublic(k), Some((ph, ctx))) => k.verify_variant(*ph, ctx, &self.msg, sig),
            (Key::Ed448Public(k), None) => k.verify(false, &[], &self.msg, sig),
            (Key::Ed448Public(k), Some((ph, ctx))) => k.verify(*ph, ctx, &self.msg, sig),
            _ => Err(Error::KeyTypeInconsistent),
        }
    }
}

/// CKM_EC_EDWARDS_KEY_PAIR_GEN from the public key template (CKA_EC_PARAMS: the OID of Ed25519
/// or Ed448, or the PrintableString "edwards25519" or "edwards448").
fn pair_gen(
    _: &Mech,
    pub_t: &[Attribute],
) -> Result<(CK_KEY_TYPE, Vec<Attribute>, Vec<Attribute>)> {
    let params = super::ops::template_get(pub_t, CKA_EC_PARAMS).ok_or(Error::TemplateIncomplete)?;
    let (pk, seed, spki) = match keys::edwards_params(params)? {
        keys::Twisted::C25519 => {
            let k = crypto::ed_generate()?;
            let pk = k.public().bytes();
            let spki = keys::ed25519_spki(&pk);
            (pk, k.seed(), spki)
        }
        keys::Twisted::C448 => {
            let k = crypto::ed448_generate()?;
            let pk = k.public().bytes();
            let spki = keys::ed448_spki(&pk);
            (pk, k.seed(), spki)
        }
    };
    let pubs = vec![
        Attribute::new(CKA_EC_POINT, keys::der_octet_string(&pk)),
        Attribute::new(CKA_PUBLIC_KEY_INFO, spki.clone()),
    ];
    let privs = vec![
        Attribute::new(CKA_EC_PARAMS, params.to_vec()),
        Attribute::new(CKA_VALUE, seed.to_vec()),
        Attribute::new(CKA_PUBLIC_KEY_INFO, spki),
    ];
    Ok((CKK_EC_EDWARDS, pubs, privs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{EdPrivate, EdPublic};

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).unwrap()
    }

    /// RFC 8032, 7.1: TEST 1, 2, 3 and SHA(abc): (secret key, public key, message, signature).
    pub(crate) const RFC8032: &[(&str, &str, &str, &str)] = &[
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
             5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
             085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac\
             18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
        (
            "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
            "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589\
             09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
        ),
    ];

    #[test]
    fn rfc8032_known_answers() {
        for &(sk, pk, msg, sig) in RFC8032 {
            let k = EdPrivate::from_bytes(&h(sk)).unwrap();
            assert_eq!(k.public().bytes(), h(pk));
            let key = Arc::new(Key::EdPrivate(k));
            let mut s = sign_op(&Mech::new(CKM_EDDSA), &key, false).unwrap();
            let m = h(msg);
            // In two parts when there are two.
            let (a, b) = m.split_at(m.len() / 2);
            s.update(a).unwrap();
            s.update(b).unwrap();
            assert_eq!(s.sign().unwrap()[..], h(sig)[..]);
            let pubk = Arc::new(Key::EdPublic(EdPublic::from_bytes(&h(pk)).unwrap()));
            let mut v = sign_op(&Mech::new(CKM_EDDSA), &pubk, true).unwrap();
            v.update(&m).unwrap();
            v.verify(&h(sig)).unwrap();
            let mut v = sign_op(&Mech::new(CKM_EDDSA), &pubk, true).unwrap();
            v.update(b"other").unwrap();
            assert_eq!(v.verify(&h(sig)).unwrap_err(), Error::SignatureInvalid);
            let mut v = sign_op(&Mech::new(CKM_EDDSA), &pubk, true).unwrap();
            v.update(&m).unwrap();
            assert_eq!(
                v.verify(&h(sig)[..63]).unwrap_err(),
                Error::SignatureLenRange
            );
        }
    }

    /// RFC 8032 7.2 (Ed25519ctx "foo"), 7.3 (Ed25519ph "abc"), 7.4 (Ed448 1 octet with context
    /// "foo") and 7.5 (Ed448ph "abc" with context "foo"): (curve 448, ph, seed, public key,
    /// message, context, signature).
    const VARIANTS: &[(bool, bool, &str, &str, &str, &str, &str)] = &[
        (
            false,
            false,
            "0305334e381af78f141cb666f6199f57bc3495335a256a95bd2a55bf546663f6",
            "dfc9425e4f968f7f0c29f0259cf5f9aed6851c2bb4ad8bfb860cfee0ab248292",
            "f726936d19c800494e3fdaff20b276a8",
            "666f6f",
            "55a4cc2f70a54e04288c5f4cd1e45a7bb520b36292911876cada7323198dd87a\
             8b36950b95130022907a7fb7c4e9b2d5f6cca685a587b4b21f4b888e4e7edb0d",
        ),
        (
            false,
            true,
            "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
            "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
            "616263",
            "",
            "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41\
             31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406",
        ),
        (
            true,
            false,
            "c4eab05d357007c632f3dbb48489924d552b08fe0c353a0d4a1f00acda2c463a\
             fbea67c5e8d2877c5e3bc397a659949ef8021e954e0a12274e",
            "43ba28f430cdff456ae531545f7ecd0ac834a55d9358c0372bfa0c6c6798c086\
             6aea01eb00742802b8438ea4cb82169c235160627b4c3a9480",
            "03",
            "666f6f",
            "d4f8f6131770dd46f40867d6fd5d5055de43541f8c5e35abbcd001b32a89f7d2\
             151f7647f11d8ca2ae279fb842d607217fce6e042f6815ea000c85741de5c8da\
             1144a6a1aba7f96de42505d7a7298524fda538fccbbb754f578c1cad10d54d0d\
             5428407e85dcbc98a49155c13764e66c3c00",
        ),
        (
            true,
            true,
            "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42\
             ef7822e0d5104127dc05d6dbefde69e3ab2cec7c867c6e2c49",
            "259b71c19f83ef77a7abd26524cbdb3161b590a48f7d17de3ee0ba9c52beb743\
             c09428a131d6b1b57303d90d8132c276d5ed3d5d01c0f53880",
            "616263",
            "666f6f",
            "c32299d46ec8ff02b54540982814dce9a05812f81962b649d528095916a2aa48\
             1065b1580423ef927ecf0af5888f90da0f6a9a85ad5dc3f280d91224ba9911a3\
             653d00e484e2ce232521481c8658df304bb7745a73514cdb9bf3e15784ab7128\
             4f8d0704a608c54a6b62d97beb511d132100",
        ),
    ];

    #[test]
    fn rfc8032_variants() {
        for &(c448, ph, sk, pk, msg, ctx, sig) in VARIANTS {
            if !c448 && !ph && !crypto::ED25519_CTX {
                continue;
            }
            let (sk, pk, msg, ctx, sig) = (h(sk), h(pk), h(msg), h(ctx), h(sig));
            let (private, public) = if c448 {
                let k = crypto::Ed448Private::from_bytes(&sk).unwrap();
                assert_eq!(k.public().bytes(), pk);
                (
                    Key::Ed448Private(k),
                    Key::Ed448Public(crypto::Ed448Public::from_bytes(&pk).unwrap()),
                )
            } else {
                let k = EdPrivate::from_bytes(&sk).unwrap();
                assert_eq!(k.public().bytes(), pk);
                (
                    Key::EdPrivate(k),
                    Key::EdPublic(EdPublic::from_bytes(&pk).unwrap()),
                )
            };
            let (private, public) = (Arc::new(private), Arc::new(public));
            let m = Mech {
                ty: CKM_EDDSA,
                param: Param::Eddsa {
                    ph,
                    context: ctx.clone(),
                },
            };
            let mut s = sign_op(&m, &private, false).unwrap();
            s.update(&msg).unwrap();
            assert_eq!(s.sig_len(), sig.len());
            assert_eq!(s.sign().unwrap()[..], sig[..]);
            let mut v = sign_op(&m, &public, true).unwrap();
            v.update(&msg).unwrap();
            v.verify(&sig).unwrap();
            // Another context, or none, does not verify.
            let other = Mech {
                ty: CKM_EDDSA,
                param: Param::Eddsa {
                    ph,
                    context: b"bar".to_vec(),
                },
            };
            for m in [other, Mech::new(CKM_EDDSA)] {
                let mut v = sign_op(&m, &public, true).unwrap();
                v.update(&msg).unwrap();
                assert_eq!(v.verify(&sig).unwrap_err(), Error::SignatureInvalid);
            }
        }
    }

    #[test]
    fn parameters_and_keys_refused() {
        let k = Arc::new(Key::EdPrivate(crypto::ed_generate().unwrap()));
        let k448 = Arc::new(Key::Ed448Private(crypto::ed448_generate().unwrap()));
        // Ed25519ph and Ed448 with any context up to 255 bytes are fine.
        for (key, ph) in [(&k, true), (&k448, false), (&k448, true)] {
            for context in [Vec::new(), vec![7; 255]] {
                let m = Mech {
                    ty: CKM_EDDSA,
                    param: Param::Eddsa { ph, context },
                };
                let mut op = sign_op(&m, key, false).unwrap();
                op.update(b"m").unwrap();
                op.sign().unwrap();
            }
        }
        // Ed25519ctx only on the aws-lc backend, and never with an empty context.
        let ctx = Mech {
            ty: CKM_EDDSA,
            param: Param::Eddsa {
                ph: false,
                context: b"ctx".to_vec(),
            },
        };
        assert_eq!(sign_op(&ctx, &k, false).is_ok(), crypto::ED25519_CTX);
        for (key, param) in [
            (
                &k,
                Param::Eddsa {
                    ph: false,
                    context: Vec::new(),
                },
            ),
            (
                &k,
                Param::Eddsa {
                    ph: false,
                    context: vec![0; 256],
                },
            ),
            (
                &k,
                Param::Eddsa {
                    ph: true,
                    context: vec![0; 256],
                },
            ),
            (
                &k448,
                Param::Eddsa {
                    ph: false,
                    context: vec![0; 256],
                },
            ),
            (
                &k448,
                Param::Eddsa {
                    ph: true,
                    context: vec![0; 300],
                },
            ),
            (&k, Param::MacLen(3)),
        ] {
            let m = Mech {
                ty: CKM_EDDSA,
                param,
            };
            assert_eq!(
                sign_op(&m, key, false).err().unwrap(),
                Error::MechanismParamInvalid
            );
        }
        // A private key does not verify, an EC key is no Ed25519 key.
        assert_eq!(
            sign_op(&Mech::new(CKM_EDDSA), &k, true).err().unwrap(),
            Error::KeyTypeInconsistent
        );
        let ec = Arc::new(Key::EcPrivate(crypto::ec_generate(crypto::Curve::P256)));
        assert_eq!(
            sign_op(&Mech::new(CKM_EDDSA), &ec, false).err().unwrap(),
            Error::KeyTypeInconsistent
        );
    }

    #[test]
    fn generate_attributes_and_params() {
        let printable = [&[0x13, 12][..], b"edwards25519"].concat();
        for params in [keys::OID_ED25519.to_vec(), printable] {
            let t = vec![Attribute::new(CKA_EC_PARAMS, params.clone())];
            let (kt, pubs, privs) = pair_gen(&Mech::new(CKM_EC_EDWARDS_KEY_PAIR_GEN), &t).unwrap();
            assert_eq!(kt, CKK_EC_EDWARDS);
            let point = &pubs.iter().find(|a| a.ty == CKA_EC_POINT).unwrap().value;
            assert_eq!(point[..2], [0x04, 32]);
            let seed = &privs.iter().find(|a| a.ty == CKA_VALUE).unwrap().value;
            let k = EdPrivate::from_bytes(seed).unwrap();
            assert_eq!(k.public().bytes(), point[2..]);
            assert_eq!(
                privs.iter().find(|a| a.ty == CKA_EC_PARAMS).unwrap().value[..],
                params[..]
            );
        }
        let gen = |p: &[u8]| {
            pair_gen(
                &Mech::new(CKM_EC_EDWARDS_KEY_PAIR_GEN),
                &[Attribute::new(CKA_EC_PARAMS, p.to_vec())],
            )
            .err()
            .unwrap()
        };
        // Ed448, by OID and by name: 57-byte seeds and points.
        for params in [
            keys::OID_ED448.to_vec(),
            [&[0x13, 10][..], b"edwards448"].concat(),
        ] {
            let t = vec![Attribute::new(CKA_EC_PARAMS, params)];
            let (kt, pubs, privs) = pair_gen(&Mech::new(CKM_EC_EDWARDS_KEY_PAIR_GEN), &t).unwrap();
            assert_eq!(kt, CKK_EC_EDWARDS);
            let point = &pubs.iter().find(|a| a.ty == CKA_EC_POINT).unwrap().value;
            assert_eq!(point[..2], [0x04, 57]);
            let seed = &privs.iter().find(|a| a.ty == CKA_VALUE).unwrap().value;
            let k = crypto::Ed448Private::from_bytes(seed).unwrap();
            assert_eq!(k.public().bytes(), point[2..]);
            let spki = &pubs
                .iter()
                .find(|a| a.ty == CKA_PUBLIC_KEY_INFO)
                .unwrap()
                .value;
            assert_eq!(spki.len(), 12 + 57);
        }
        // Other curves: not supported; garbage: invalid.
        assert_eq!(
            gen(&[&[0x13, 10][..], b"edwards449"].concat()),
            Error::CurveNotSupported
        );
        assert_eq!(
            gen(&[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]),
            Error::CurveNotSupported
        );
        assert_eq!(gen(&[1, 2, 3]), Error::DomainParamsInvalid);
        assert_eq!(
            pair_gen(&Mech::new(CKM_EC_EDWARDS_KEY_PAIR_GEN), &[])
                .err()
                .unwrap(),
            Error::TemplateIncomplete
        );
    }
}

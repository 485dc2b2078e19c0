//! EdDSA (PKCS #11 3.0): Ed25519 keys (`CKK_EC_EDWARDS`), `CKM_EC_EDWARDS_KEY_PAIR_GEN` and
//! `CKM_EDDSA`, pure Ed25519 (RFC 8032).
//!
//! `CK_EDDSA_PARAMS` selects Ed25519ctx (phFlag false) or Ed25519ph (phFlag true): neither is
//! offered, because aws-lc-rs, the default backend, signs pure Ed25519 only; a parameter is
//! `CKR_MECHANISM_PARAM_INVALID` on both backends, so they behave the same. Ed448 is
//! `CKR_CURVE_NOT_SUPPORTED`.

use super::keys::{self, Key};
use super::{Keys, Mech, MechDef, Param, ParamKind, SignOp};
use crate::crypto;
use crate::error::{Error, Result};
use crate::object::Attribute;
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Length of an Ed25519 signature.
const SIG_LEN: usize = 64;
/// The most message bytes a multi-part EdDSA operation gathers (EdDSA hashes the message twice,
/// so the whole message is held until the final call).
const MAX_MSG: usize = 256 << 20;

const ED_FLAGS: CK_FLAGS = CKF_EC_OID | CKF_EC_CURVENAME;

/// The EdDSA family's mechanisms. Key sizes: the curve's 255 bits.
pub const MECHS: &[MechDef] = &[
    MechDef::new(
        CKM_EC_EDWARDS_KEY_PAIR_GEN,
        "CKM_EC_EDWARDS_KEY_PAIR_GEN",
        255,
        255,
        CKF_GENERATE_KEY_PAIR | ED_FLAGS,
    )
    .pairgen(pair_gen),
    MechDef::new(
        CKM_EDDSA,
        "CKM_EDDSA",
        255,
        255,
        CKF_SIGN | CKF_VERIFY | ED_FLAGS,
    )
    .param(ParamKind::OptionalEddsa)
    .keys(Keys::EcEdwards)
    .sign(sign_op),
];

pub struct EddsaSign {
    key: Arc<Key>,
    msg: Zeroizing<Vec<u8>>,
}

pub fn sign_op(mech: &Mech, key: &Arc<Key>, verify: bool) -> Result<Box<dyn SignOp>> {
    if mech.ty != CKM_EDDSA {
        return Err(Error::MechanismInvalid);
    }
    // Any CK_EDDSA_PARAMS asks for Ed25519ctx or Ed25519ph (PKCS #11 3.0, 2.3.14), which are
    // not offered (see the module's documentation).
    if !matches!(mech.param, Param::None) {
        return Err(Error::MechanismParamInvalid);
    }
    match (&**key, verify) {
        (Key::EdPrivate(_), false) | (Key::EdPublic(_), true) => {}
        _ => return Err(Error::KeyTypeInconsistent),
    }
    Ok(Box::new(EddsaSign {
        key: key.clone(),
        msg: Zeroizing::new(Vec::new()),
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
        SIG_LEN
    }

    fn sign(self: Box<Self>) -> Result<Zeroizing<Vec<u8>>> {
        match &*self.key {
            Key::EdPrivate(k) => Ok(Zeroizing::new(k.sign(&self.msg)?)),
            _ => Err(Error::KeyTypeInconsistent),
        }
    }

    fn verify(self: Box<Self>, sig: &[u8]) -> Result<()> {
        if sig.len() != SIG_LEN {
            return Err(Error::SignatureLenRange);
        }
        match &*self.key {
            Key::EdPublic(k) => k.verify(&self.msg, sig),
            _ => Err(Error::KeyTypeInconsistent),
        }
    }
}

/// CKM_EC_EDWARDS_KEY_PAIR_GEN from the public key template (CKA_EC_PARAMS: Ed25519's OID or
/// the PrintableString "edwards25519").
fn pair_gen(
    _: &Mech,
    pub_t: &[Attribute],
) -> Result<(CK_KEY_TYPE, Vec<Attribute>, Vec<Attribute>)> {
    let params = super::ops::template_get(pub_t, CKA_EC_PARAMS).ok_or(Error::TemplateIncomplete)?;
    keys::edwards_params(params)?;
    let k = crypto::ed_generate()?;
    let pk = k.public().bytes();
    let spki = keys::ed25519_spki(&pk);
    let pubs = vec![
        Attribute::new(CKA_EC_POINT, keys::der_octet_string(&pk)),
        Attribute::new(CKA_PUBLIC_KEY_INFO, spki.clone()),
    ];
    let privs = vec![
        Attribute::new(CKA_EC_PARAMS, params.to_vec()),
        Attribute::new(CKA_VALUE, k.seed().to_vec()),
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

    #[test]
    fn parameters_and_keys_refused() {
        let k = Arc::new(Key::EdPrivate(crypto::ed_generate().unwrap()));
        for param in [
            Param::Eddsa {
                ph: false,
                context: Vec::new(),
            },
            Param::Eddsa {
                ph: false,
                context: b"ctx".to_vec(),
            },
            Param::Eddsa {
                ph: true,
                context: Vec::new(),
            },
            Param::Eddsa {
                ph: false,
                context: vec![0; 256],
            },
        ] {
            let m = Mech {
                ty: CKM_EDDSA,
                param,
            };
            assert_eq!(
                sign_op(&m, &k, false).err().unwrap(),
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
        // Ed448 (OID and name), P-256: not supported; garbage: invalid.
        assert_eq!(
            gen(&[0x06, 0x03, 0x2b, 0x65, 0x71]),
            Error::CurveNotSupported
        );
        assert_eq!(
            gen(&[&[0x13, 10][..], b"edwards448"].concat()),
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

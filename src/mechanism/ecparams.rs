//! Explicit EC domain parameters in `CKA_EC_PARAMS` (the `ECParameters` SEQUENCE of SEC 1, C.2
//! and RFC 3279, 2.3.5): accepted when they are exactly one of the module's named curves, which
//! the key then is. Anything else is `CKR_DOMAIN_PARAMS_INVALID`: a malformed encoding, a field
//! other than a prime field, or values that match no curve here (the module computes on named
//! curves only and never on caller-given arithmetic).
//!
//! ```text
//! ECParameters ::= SEQUENCE {
//!     version   INTEGER { ecpVer1(1) },
//!     fieldID   SEQUENCE { fieldType OBJECT IDENTIFIER, parameters ANY },  -- prime-field: p
//!     curve     SEQUENCE { a OCTET STRING, b OCTET STRING, seed BIT STRING OPTIONAL },
//!     base      OCTET STRING,       -- the generator, SEC 1 encoded
//!     order     INTEGER,
//!     cofactor  INTEGER OPTIONAL }
//! ```
//!
//! The seed is not compared (it documents how the curve was made, not what it is). The base may
//! come compressed or uncompressed. The cofactor must be present and 1 (every curve here):
//! ASN.1 makes it optional, but parameters without it are refused, as Wycheproof's ECDH sets
//! expect ("no cofactor" is invalid there; OpenSSL always writes it).

use crate::crypto::Curve;
use crate::error::{Error, Result};
use der::asn1::{BitStringRef, ObjectIdentifier, OctetStringRef, UintRef};
use der::{Decode, Reader, SliceReader};

/// id-fieldType prime-field (X9.62), 1.2.840.10045.1.1.
const PRIME_FIELD: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.1.1");

/// A curve's domain parameters (SEC 2, RFC 5639), hex, big-endian, without leading zeros
/// except in the generator's coordinates (field length).
struct Domain {
    curve: Curve,
    p: &'static str,
    a: &'static str,
    b: &'static str,
    gx: &'static str,
    gy: &'static str,
    n: &'static str,
}

const DOMAINS: &[Domain] = &[
    Domain {
        curve: Curve::P224,
        p: "ffffffffffffffffffffffffffffffff000000000000000000000001",
        a: "fffffffffffffffffffffffffffffffefffffffffffffffffffffffe",
        b: "b4050a850c04b3abf54132565044b0b7d7bfd8ba270b39432355ffb4",
        gx: "b70e0cbd6bb4bf7f321390b94a03c1d356c21122343280d6115c1d21",
        gy: "bd376388b5f723fb4c22dfe6cd4375a05a07476444d5819985007e34",
        n: "ffffffffffffffffffffffffffff16a2e0b8f03e13dd29455c5c2a3d",
    },
    Domain {
        curve: Curve::P256,
        p: "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
        a: "ffffffff00000001000000000000000000000000fffffffffffffffffffffffc",
        b: "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b",
        gx: "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
        gy: "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
        n: "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
    },
    Domain {
        curve: Curve::P384,
        p: "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff",
        a: "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000fffffffc",
        b: "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef",
        gx: "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7",
        gy: "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f",
        n: "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
    },
    Domain {
        curve: Curve::P521,
        p: "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        a: "01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffc",
        b: "51953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00",
        gx: "00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66",
        gy: "011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650",
        n: "01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409",
    },
    Domain {
        curve: Curve::Secp256k1,
        p: "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f",
        a: "",
        b: "07",
        gx: "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
        gy: "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8",
        n: "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
    },
    Domain {
        curve: Curve::BrainpoolP256r1,
        p: "a9fb57dba1eea9bc3e660a909d838d726e3bf623d52620282013481d1f6e5377",
        a: "7d5a0975fc2c3057eef67530417affe7fb8055c126dc5c6ce94a4b44f330b5d9",
        b: "26dc5c6ce94a4b44f330b5d9bbd77cbf958416295cf7e1ce6bccdc18ff8c07b6",
        gx: "8bd2aeb9cb7e57cb2c4b482ffc81b7afb9de27e1e3bd23c23a4453bd9ace3262",
        gy: "547ef835c3dac4fd97f8461a14611dc9c27745132ded8e545c1d54c72f046997",
        n: "a9fb57dba1eea9bc3e660a909d838d718c397aa3b561a6f7901e0e82974856a7",
    },
    Domain {
        curve: Curve::BrainpoolP384r1,
        p: "8cb91e82a3386d280f5d6f7e50e641df152f7109ed5456b412b1da197fb71123acd3a729901d1a71874700133107ec53",
        a: "7bc382c63d8c150c3c72080ace05afa0c2bea28e4fb22787139165efba91f90f8aa5814a503ad4eb04a8c7dd22ce2826",
        b: "04a8c7dd22ce28268b39b55416f0447c2fb77de107dcd2a62e880ea53eeb62d57cb4390295dbc9943ab78696fa504c11",
        gx: "1d1c64f068cf45ffa2a63a81b7c13f6b8847a3e77ef14fe3db7fcafe0cbd10e8e826e03436d646aaef87b2e247d4af1e",
        gy: "8abe1d7520f9c2a45cb1eb8e95cfd55262b70b29feec5864e19c054ff99129280e4646217791811142820341263c5315",
        n: "8cb91e82a3386d280f5d6f7e50e641df152f7109ed5456b31f166e6cac0425a7cf3ab6af6b7fc3103b883202e9046565",
    },
];

/// The values of an explicit ECParameters, as given.
struct Explicit {
    field_type: ObjectIdentifier,
    p: Vec<u8>,
    a: Vec<u8>,
    b: Vec<u8>,
    base: Vec<u8>,
    n: Vec<u8>,
    cofactor: Option<Vec<u8>>,
}

fn decode(v: &[u8]) -> der::Result<Explicit> {
    let mut r = SliceReader::new(v)?;
    let e = r.sequence(|r| {
        let version = UintRef::decode(r)?;
        if !matches!(version.as_bytes(), [1..=3]) {
            return Err(der::Tag::Integer.value_error());
        }
        let (field_type, p) = r.sequence(|r| {
            let t = ObjectIdentifier::decode(r)?;
            let p = UintRef::decode(r)?.as_bytes().to_vec();
            Ok((t, p))
        })?;
        let (a, b) = r.sequence(|r| {
            let a = OctetStringRef::decode(r)?.as_bytes().to_vec();
            let b = OctetStringRef::decode(r)?.as_bytes().to_vec();
            let _seed: Option<BitStringRef<'_>> = r.decode()?;
            Ok((a, b))
        })?;
        let base = OctetStringRef::decode(r)?.as_bytes().to_vec();
        let n = UintRef::decode(r)?.as_bytes().to_vec();
        let cofactor: Option<UintRef<'_>> = r.decode()?;
        Ok(Explicit {
            field_type,
            p,
            a,
            b,
            base,
            n,
            cofactor: cofactor.map(|h| h.as_bytes().to_vec()),
        })
    })?;
    r.finish(e)
}

fn strip(v: &[u8]) -> &[u8] {
    let i = v.iter().position(|&b| b != 0).unwrap_or(v.len());
    &v[i..]
}

fn same(given: &[u8], want_hex: &str) -> bool {
    hex::decode(want_hex).is_ok_and(|w| strip(given) == strip(&w))
}

/// The named curve that explicit domain parameters (a DER `ECParameters` SEQUENCE) describe.
pub fn curve_of_explicit(v: &[u8]) -> Result<Curve> {
    let e = decode(v).map_err(|_| Error::DomainParamsInvalid)?;
    if e.field_type != PRIME_FIELD || e.cofactor.as_deref() != Some(&[1][..]) {
        return Err(Error::DomainParamsInvalid);
    }
    for d in DOMAINS {
        let fl = d.curve.field_len();
        let base_ok = match e.base.split_first() {
            Some((4, xy)) if xy.len() == 2 * fl => same(&xy[..fl], d.gx) && same(&xy[fl..], d.gy),
            // Compressed: x and the parity of y.
            Some((&tag @ (2 | 3), x)) if x.len() == fl => {
                let gy = hex::decode(d.gy).unwrap_or_default();
                same(x, d.gx) && gy.last().is_some_and(|&l| (l & 1) == (tag & 1))
            }
            _ => false,
        };
        if base_ok && same(&e.p, d.p) && same(&e.a, d.a) && same(&e.b, d.b) && same(&e.n, d.n) {
            return Ok(d.curve);
        }
    }
    Err(Error::DomainParamsInvalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::EcPrivate;

    /// OpenSSL's explicit encodings (`openssl ecparam -param_enc explicit`, base point
    /// uncompressed and compressed) name their curves; each of p, a, b, the base point's x and y
    /// and n changed in one bit is refused, as are other curves and other field types.
    #[test]
    fn openssl_encodings() {
        let fixtures: &[(&[u8], Option<Curve>)] = &[
            (
                include_bytes!("../../tests/data/ec/secp224r1.der"),
                Some(Curve::P224),
            ),
            (
                include_bytes!("../../tests/data/ec/secp224r1-c.der"),
                Some(Curve::P224),
            ),
            (
                include_bytes!("../../tests/data/ec/prime256v1.der"),
                Some(Curve::P256),
            ),
            (
                include_bytes!("../../tests/data/ec/secp384r1.der"),
                Some(Curve::P384),
            ),
            (
                include_bytes!("../../tests/data/ec/secp521r1.der"),
                Some(Curve::P521),
            ),
            (
                include_bytes!("../../tests/data/ec/secp256k1.der"),
                Some(Curve::Secp256k1),
            ),
            (
                include_bytes!("../../tests/data/ec/secp256k1-c.der"),
                Some(Curve::Secp256k1),
            ),
            (
                include_bytes!("../../tests/data/ec/brainpoolP256r1.der"),
                Some(Curve::BrainpoolP256r1),
            ),
            (
                include_bytes!("../../tests/data/ec/brainpoolP256r1-c.der"),
                Some(Curve::BrainpoolP256r1),
            ),
            (
                include_bytes!("../../tests/data/ec/brainpoolP384r1.der"),
                Some(Curve::BrainpoolP384r1),
            ),
            (
                include_bytes!("../../tests/data/ec/brainpoolP384r1-c.der"),
                Some(Curve::BrainpoolP384r1),
            ),
            (
                include_bytes!("../../tests/data/ec/brainpoolP512r1.der"),
                None,
            ),
            (include_bytes!("../../tests/data/ec/sect283k1.der"), None),
        ];
        let mut flipped = 0;
        for &(der, want) in fixtures {
            let Some(c) = want else {
                assert_eq!(
                    curve_of_explicit(der).unwrap_err(),
                    Error::DomainParamsInvalid
                );
                continue;
            };
            assert_eq!(curve_of_explicit(der).unwrap(), c);
            let d = DOMAINS.iter().find(|d| d.curve == c).unwrap();
            for v in [d.p, d.a, d.b, d.gx, d.gy, d.n] {
                let v = hex::decode(v).unwrap();
                // secp256k1's a is 0: nothing to find (and y is absent from compressed points).
                let Some(at) = der
                    .windows(v.len().max(1))
                    .position(|w| !v.is_empty() && w == v)
                else {
                    continue;
                };
                let mut bad = der.to_vec();
                bad[at + v.len() - 1] ^= 1;
                assert_eq!(
                    curve_of_explicit(&bad).unwrap_err(),
                    Error::DomainParamsInvalid,
                    "{c:?}"
                );
                flipped += 1;
            }
        }
        assert!(flipped >= 50, "{flipped}");
    }

    /// The table agrees with the curve crates: the generator is the public key of the scalar 1,
    /// n - 1 is a valid scalar and n is not, and every field element fits the field length.
    #[test]
    fn table_matches_the_crates() {
        assert_eq!(DOMAINS.len(), Curve::ALL.len());
        for d in DOMAINS {
            let fl = d.curve.field_len();
            let g = EcPrivate::from_bytes(d.curve, &[1])
                .unwrap()
                .public()
                .point();
            assert_eq!(hex::encode(&g[1..1 + fl]), d.gx, "{:?}", d.curve);
            assert_eq!(hex::encode(&g[1 + fl..]), d.gy, "{:?}", d.curve);
            let n = hex::decode(d.n).unwrap();
            assert!(EcPrivate::from_bytes(d.curve, &n).is_err());
            let mut n1 = n.clone();
            *n1.last_mut().unwrap() -= 1;
            assert!(EcPrivate::from_bytes(d.curve, &n1).is_ok());
            for v in [d.p, d.a, d.b] {
                assert!(hex::decode(v).unwrap().len() <= fl);
            }
        }
    }
}

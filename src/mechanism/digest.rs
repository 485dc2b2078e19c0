//! Message digests: SHA-1, SHA-2 (with SHA-512/224 and SHA-512/256) and SHA-3.

use super::{Mech, MechDef};
use crate::crypto::{HashAlg, Hasher};
use crate::error::{Error, Result};
use cryptoki_sys::*;

const fn row(ty: CK_MECHANISM_TYPE, name: &'static str) -> MechDef {
    MechDef::new(ty, name, 0, 0, CKF_DIGEST).digest(start_op)
}

/// The digest family's mechanisms.
pub const MECHS: &[MechDef] = &[
    row(CKM_SHA_1, "CKM_SHA_1"),
    row(CKM_SHA224, "CKM_SHA224"),
    row(CKM_SHA256, "CKM_SHA256"),
    row(CKM_SHA384, "CKM_SHA384"),
    row(CKM_SHA512, "CKM_SHA512"),
    row(CKM_SHA512_224, "CKM_SHA512_224"),
    row(CKM_SHA512_256, "CKM_SHA512_256"),
    row(CKM_SHA3_224, "CKM_SHA3_224"),
    row(CKM_SHA3_256, "CKM_SHA3_256"),
    row(CKM_SHA3_384, "CKM_SHA3_384"),
    row(CKM_SHA3_512, "CKM_SHA3_512"),
];

/// The hash of a CKM_SHA* digest mechanism value.
pub fn hash_of(m: CK_MECHANISM_TYPE) -> Option<HashAlg> {
    Some(match m {
        CKM_SHA_1 => HashAlg::Sha1,
        CKM_SHA224 => HashAlg::Sha224,
        CKM_SHA256 => HashAlg::Sha256,
        CKM_SHA384 => HashAlg::Sha384,
        CKM_SHA512 => HashAlg::Sha512,
        CKM_SHA512_224 => HashAlg::Sha512_224,
        CKM_SHA512_256 => HashAlg::Sha512_256,
        CKM_SHA3_224 => HashAlg::Sha3_224,
        CKM_SHA3_256 => HashAlg::Sha3_256,
        CKM_SHA3_384 => HashAlg::Sha3_384,
        CKM_SHA3_512 => HashAlg::Sha3_512,
        _ => return None,
    })
}

/// Starts a digest.
pub fn start(ty: CK_MECHANISM_TYPE) -> Result<Hasher> {
    Ok(Hasher::new(hash_of(ty).ok_or(Error::MechanismInvalid)?))
}

fn start_op(m: &Mech) -> Result<Hasher> {
    start(m.ty)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FIPS 180 "abc" and the two-block message, single and multi-part.
    #[test]
    fn known_answers() {
        let abc = [
            (CKM_SHA_1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (CKM_SHA224, "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"),
            (CKM_SHA256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (CKM_SHA384, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"),
            (CKM_SHA512, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
        ];
        for (m, want) in abc {
            let mut h = start(m).unwrap();
            h.update(b"a");
            h.update(b"bc");
            assert_eq!(hex::encode(h.finalize()), want);
        }
        let two = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(
            hex::encode(Hasher::digest(HashAlg::Sha256, two)),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(
            hex::encode(Hasher::digest(HashAlg::Sha1, two)),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(start(CKM_MD5).unwrap_err(), Error::MechanismInvalid);
    }
}

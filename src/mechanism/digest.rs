//! Message digests: SHA-1 and SHA-2.

use crate::crypto::{HashAlg, Hasher};
use crate::error::{Error, Result};
use cryptoki_sys::*;

/// The hash of a digest mechanism.
pub fn alg(ty: CK_MECHANISM_TYPE) -> Result<HashAlg> {
    super::hash_of_mech(ty).ok_or(Error::MechanismInvalid)
}

/// Starts a digest.
pub fn start(ty: CK_MECHANISM_TYPE) -> Result<Hasher> {
    Ok(Hasher::new(alg(ty)?))
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

//! Sealed record decoding: what a login reads back from `token.db` (src/store/mod.rs,
//! src/token.rs, src/vault.rs, src/object/attrlist.rs).
//!
//! Input: one flags byte, then the record. Flags: bit 0 the row's CKA_PRIVATE, bit 1 seal the
//! bytes whole under the master key first (so the fuzzer reaches the inner record's decoder,
//! which it could not forge past AES-GCM), bit 2 decode without the master key (logged out).
//! Besides the row decoder: the wrapped master key record, a sealed value, and the nested
//! attribute list of template attributes.
//!
//! Checks: no panic; a row that decodes gives an object with the row's unique ID and
//! CKA_PRIVATE, and encoding it again and decoding that gives the same attributes.
#![no_main]

use ferrohsm::store::{check_record, StoredObject};
use ferrohsm::token::fuzzing;
use ferrohsm::vault::MasterKey;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const SERIAL: &str = "0123456789abcdef";
/// The unique ID the seed records carry (CKA_UNIQUE_ID must match the row's).
const UID: &str = "fuzz-object-0001";

fn master_key() -> &'static MasterKey {
    static MK: OnceLock<MasterKey> = OnceLock::new();
    MK.get_or_init(|| MasterKey::generate().expect("master key"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, record)) = data.split_first() else {
        return;
    };
    let private = flags & 1 != 0;
    let seal = flags & 2 != 0;
    let logged_out = flags & 4 != 0;
    let mk = master_key();

    // The wrapped master key record: only its framing, since a well-framed one runs Argon2id
    // with the cost it names (bounded, but up to 1 GiB), which a fuzzer must not do per input.
    if record.len() != 1 + 12 + 16 + 12 + 48 {
        assert!(MasterKey::unwrap(record, b"1234", b"ctx").is_err());
    }
    // A sealed value never opens unless it was sealed under this key for this place.
    assert!(mk.open(b"ferrohsm fuzz", record).is_err());
    // Nested templates as stored (CKA_WRAP_TEMPLATE and the like).
    let _ = ferrohsm::object::attrlist::decode(record);

    let row = if seal {
        fuzzing::seal_whole(SERIAL, mk, UID, private, record).expect("seal")
    } else {
        record.to_vec()
    };
    let checked = check_record(&row).is_ok();
    let so = match StoredObject::new(7, UID.into(), private, row) {
        Ok(so) => so,
        Err(_) => {
            assert!(!checked, "check_record accepted what StoredObject refused");
            return;
        }
    };
    assert!(checked, "StoredObject accepted what check_record refused");
    let _ = so.has_sealed();
    let Ok(obj) = fuzzing::decode(SERIAL, (!logged_out).then_some(mk), &so) else {
        return;
    };
    assert_eq!(obj.unique_id(), UID);
    assert_eq!(obj.is_private(), private);
    let before: Vec<(u64, Vec<u8>)> = obj.attributes().map(|(t, v)| (t, v.to_vec())).collect();
    let attrs = fuzzing::encode(SERIAL, Some(mk), &obj).expect("an object decoded re-encodes");
    let again = StoredObject::new(
        8,
        UID.into(),
        private,
        ferrohsm::store::encode_attrs(&attrs),
    )
    .expect("a record the token wrote is well formed");
    let obj2 = fuzzing::decode(SERIAL, Some(mk), &again).expect("a record the token wrote decodes");
    let after: Vec<(u64, Vec<u8>)> = obj2.attributes().map(|(t, v)| (t, v.to_vec())).collect();
    assert_eq!(
        before, after,
        "attributes changed through encode and decode"
    );
});

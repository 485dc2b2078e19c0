//! Login with many private objects. C_Initialize keeps the records that need the master key, and
//! C_Login decodes them: on worker threads when there are more than one chunk of them (256), on the
//! calling thread when the application passes CKF_LIBRARY_CANT_CREATE_OS_THREADS, and from the
//! store again after a logout dropped them. Every object must come back whole, with its own value
//! and handle-independent identity, on each path.
mod common;

use common::*;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;

/// More than two chunks of 256, so the login of a fresh process uses every worker.
const N: usize = 700;
const TOKEN: &str = "many";

fn slot_of(p11: &Pkcs11) -> Slot {
    p11.get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|s| p11.get_token_info(*s).unwrap().label() == TOKEN)
        .expect("token listed")
}

/// Every object is found by its label, once, with its value; nothing else is there.
fn check_all(s: &Session, objs: &[(String, Vec<u8>)], what: &str) {
    let all = s
        .find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)])
        .unwrap();
    assert_eq!(all.len(), objs.len(), "{what}: number of secret keys");
    for (label, value) in objs {
        let found = s
            .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
            .unwrap();
        assert_eq!(
            found.len(),
            1,
            "{what}: {label} found {} times",
            found.len()
        );
        let got = get_bytes(s, found[0], AttributeType::Value);
        assert_eq!(&got, value, "{what}: {label} has another object's value");
    }
}

#[test]
fn many_private_objects_come_back_after_login_on_every_path() {
    let mut f = Fixture::new();
    let slot = f.user_token(TOKEN);
    let mut objs = Vec::new();
    {
        let s = f.user_session(slot);
        for i in 0..N {
            let label = format!("many-{i:04}");
            let value = (i as u32).to_be_bytes().repeat(8);
            s.create_object(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
                Attribute::Label(label.clone().into_bytes()),
                Attribute::Value(value.clone()),
            ])
            .unwrap();
            objs.push((label, value));
        }
    }

    // A fresh C_Initialize: the records wait from C_Initialize and are decoded by workers.
    f.reinit();
    {
        let s = f.rw(slot_of(&f));
        assert!(
            s.find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)])
                .unwrap()
                .is_empty(),
            "private objects are visible before login"
        );
        s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
        check_all(&s, &objs, "fresh login");
        // After a logout the decoded objects are gone; the next login reads them again.
        s.logout().unwrap();
        s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
        check_all(&s, &objs, "second login");
    }

    // An application that forbids the module's own threads.
    f.shutdown();
    let p11 = Pkcs11::new(module_path()).unwrap();
    p11.initialize(CInitializeArgs::new(
        CInitializeFlags::OS_LOCKING_OK | CInitializeFlags::LIBRARY_CANT_CREATE_OS_THREADS,
    ))
    .unwrap();
    {
        let s = p11.open_rw_session(slot_of(&p11)).unwrap();
        s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
        check_all(&s, &objs, "login without threads");
    }
    p11.finalize().unwrap();
}

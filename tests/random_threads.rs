//! C_GenerateRandom / C_SeedRandom and concurrent use from many threads.
mod common;

use common::*;
use cryptoki::context::Pkcs11;
use cryptoki::error::{Error, RvError};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki_sys::*;
use std::collections::HashSet;

#[test]
fn generate_random_various_sizes() {
    let f = Fixture::new();
    let tok = f.new_token("rng");
    let s = f.ro(tok); // no login needed
    for size in [1u32, 2, 15, 16, 32, 33, 64, 1000, 4096, 65536] {
        let v = s
            .generate_random_vec(size)
            .unwrap_or_else(|e| panic!("C_GenerateRandom({size}): {e:?}"));
        assert_eq!(v.len(), size as usize);
        if size >= 16 {
            assert!(
                v.iter().any(|b| *b != 0),
                "{size} random bytes are all zero"
            );
            let distinct: HashSet<u8> = v.iter().copied().collect();
            assert!(
                distinct.len() > 4,
                "{size} random bytes with only {} distinct values",
                distinct.len()
            );
        }
    }
    let mut buf = [0u8; 48];
    s.generate_random_slice(&mut buf).unwrap();
    assert!(buf.iter().any(|b| *b != 0));
    let a = s.generate_random_vec(32).unwrap();
    let b = s.generate_random_vec(32).unwrap();
    assert_ne!(a, b, "two 32-byte random values are equal");
    let z = s.generate_random_vec(0).expect("C_GenerateRandom(0)");
    assert!(z.is_empty());
}

#[test]
fn seed_random_is_accepted() {
    let f = Fixture::new();
    let tok = f.new_token("seed");
    let s = f.rw(tok);
    s.seed_random(b"some additional entropy")
        .expect("C_SeedRandom");
    s.seed_random(&[0u8; 64]).expect("C_SeedRandom with zeros");
    let a = s.generate_random_vec(32).unwrap();
    s.seed_random(&[0u8; 64]).unwrap();
    let b = s.generate_random_vec(32).unwrap();
    assert_ne!(a, b, "seeding must not make the output repeat");
}

#[test]
fn random_on_invalid_session() {
    let f = Fixture::new();
    let tok = f.new_token("rng-bad");
    let s = f.rw(tok);
    let raw = Raw::new();
    assert_ck(raw.close_session(s.handle()), CKR_OK, "C_CloseSession");
    assert_rv!(s.generate_random_vec(16), SessionHandleInvalid);
    assert_rv!(s.seed_random(b"x"), SessionHandleInvalid);
}

type ThreadResult = Result<(Session, Vec<(ObjectHandle, String)>, Option<ObjectHandle>), String>;

fn worker(p11: &Pkcs11, tok: cryptoki::slot::Slot, i: usize, with_login: bool) -> ThreadResult {
    macro_rules! ck {
        ($e:expr) => {
            $e.map_err(|e| format!("thread {i}: `{}`: {e:?}", stringify!($e)))?
        };
    }
    let rw = i.is_multiple_of(2);
    let s = if rw {
        ck!(p11.open_rw_session(tok))
    } else {
        ck!(p11.open_ro_session(tok))
    };

    // login is per token: another thread may already have logged the user in
    if with_login {
        match s.login(UserType::User, Some(&pin(USER_PIN))) {
            Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(format!("thread {i}: C_Login: {e:?}")),
        }
    }

    let mut mine = Vec::new();
    for j in 0..5 {
        let label = format!("thr-{i}-{j}");
        let o = ck!(s.create_object(&data_template(&label, false, false)));
        mine.push((o, label));
    }
    let tok_obj = if rw {
        Some(ck!(s.create_object(&data_template(
            &format!("thr-tok-{i}"),
            true,
            false
        ))))
    } else {
        None
    };
    for (o, label) in &mine {
        let found = ck!(s.find_objects(&[Attribute::Label(label.as_bytes().to_vec())]));
        if found != vec![*o] {
            return Err(format!(
                "thread {i}: find {label} returned {found:?}, expected [{o}]"
            ));
        }
        let attrs = ck!(s.get_attributes(
            *o,
            &[
                AttributeType::Label,
                AttributeType::Value,
                AttributeType::Token
            ]
        ));
        let ok = matches!(&attrs[..], [Attribute::Label(l), Attribute::Value(v), Attribute::Token(false)]
            if l == label.as_bytes() && *v == format!("value of {label}").into_bytes());
        if !ok {
            return Err(format!("thread {i}: attributes of {label}: {attrs:?}"));
        }
    }
    let r = ck!(s.generate_random_vec(32));
    if r.len() != 32 {
        return Err(format!("thread {i}: random length {}", r.len()));
    }
    // destroy every other object
    let mut keep = Vec::new();
    for (j, (o, label)) in mine.into_iter().enumerate() {
        if j % 2 == 1 {
            ck!(s.destroy_object(o));
            let again = ck!(s.find_objects(&[Attribute::Label(label.as_bytes().to_vec())]));
            if !again.is_empty() {
                return Err(format!("thread {i}: destroyed {label} still found"));
            }
        } else {
            keep.push((o, label));
        }
    }
    // some threads log out; another thread may have logged out already
    if with_login && i.is_multiple_of(7) {
        match s.logout() {
            Ok(()) | Err(Error::Pkcs11(RvError::UserNotLoggedIn, _)) => {}
            Err(e) => return Err(format!("thread {i}: C_Logout: {e:?}")),
        }
        match s.login(UserType::User, Some(&pin(USER_PIN))) {
            Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(format!("thread {i}: C_Login again: {e:?}")),
        }
    }
    Ok((s, keep, tok_obj))
}

/// 100 threads, each with its own session, logging in/out (tolerating only the races
/// CKR_USER_ALREADY_LOGGED_IN / CKR_USER_NOT_LOGGED_IN), creating/finding/destroying objects.
#[test]
fn hundred_threads_with_sessions_and_objects() {
    hundred_threads(true);
}

/// Same without any C_Login/C_Logout, so that object handling is checked on its own.
#[test]
fn hundred_threads_with_sessions_and_objects_no_login() {
    hundred_threads(false);
}

fn hundred_threads(with_login: bool) {
    const N: usize = 100;
    let mut f = Fixture::new();
    let tok = f.user_token("threads");
    let p11: Pkcs11 = f.p11();
    let results: Vec<ThreadResult> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..N)
            .map(|i| {
                let p11 = &p11;
                sc.spawn(move || worker(p11, tok, i, with_login))
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into())))
            .collect()
    });
    let errors: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        errors.is_empty(),
        "{} thread(s) failed:\n{}",
        errors.len(),
        errors
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let results: Vec<_> = results.into_iter().map(|r| r.unwrap()).collect();

    let session_handles: HashSet<_> = results.iter().map(|(s, _, _)| s.handle()).collect();
    assert_eq!(session_handles.len(), N, "session handles are distinct");
    let mut expected: HashSet<CK_OBJECT_HANDLE> = HashSet::new();
    let mut expected_tok: HashSet<CK_OBJECT_HANDLE> = HashSet::new();
    for (_, keep, t) in &results {
        for (o, _) in keep {
            assert!(
                expected.insert(o.handle()),
                "object handle {o} handed out twice"
            );
        }
        if let Some(t) = t {
            assert!(
                expected_tok.insert(t.handle()),
                "object handle {t} handed out twice"
            );
        }
    }
    assert_eq!(expected.len(), N * 3);
    assert_eq!(expected_tok.len(), N / 2);
    assert!(expected.is_disjoint(&expected_tok));

    let main = f.rw(tok);
    assert_eq!(session_counts(&f, tok).0 as usize, N + 1, "open sessions");
    let sess_objs: HashSet<_> = main
        .find_objects(&[Attribute::Class(ObjectClass::DATA), Attribute::Token(false)])
        .unwrap()
        .iter()
        .map(|h| h.handle())
        .collect();
    assert_eq!(
        sess_objs, expected,
        "every surviving session object is visible exactly once"
    );
    let tok_objs: HashSet<_> = main
        .find_objects(&[Attribute::Class(ObjectClass::DATA), Attribute::Token(true)])
        .unwrap()
        .iter()
        .map(|h| h.handle())
        .collect();
    assert_eq!(tok_objs, expected_tok);

    // closing the thread sessions destroys their session objects
    drop(results);
    assert!(main
        .find_objects(&[Attribute::Token(false)])
        .unwrap()
        .is_empty());
    drop(main);
    drop(p11);

    // token objects created concurrently were all stored
    f.reinit();
    let s = f.ro(tok);
    let n = s
        .find_objects(&[Attribute::Class(ObjectClass::DATA), Attribute::Token(true)])
        .unwrap()
        .len();
    assert_eq!(n, N / 2, "token objects persisted");
}

/// Concurrent C_Login calls with the right PIN: each must return CKR_OK or
/// CKR_USER_ALREADY_LOGGED_IN, and no PIN failure may be recorded.
#[test]
fn concurrent_logins_with_the_right_pin() {
    const N: usize = 100;
    let f = Fixture::new();
    let tok = f.user_token("logins");
    let p11 = f.p11();
    for round in 0..3 {
        let barrier = std::sync::Barrier::new(N);
        let results: Vec<(Session, cryptoki::error::Result<()>)> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..N)
                .map(|_| {
                    let (p11, barrier) = (&p11, &barrier);
                    sc.spawn(move || {
                        let s = p11.open_rw_session(tok).expect("C_OpenSession");
                        barrier.wait();
                        let r = s.login(UserType::User, Some(&pin(USER_PIN)));
                        (s, r)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut ok = 0;
        for (_, r) in &results {
            match r {
                Ok(()) => ok += 1,
                Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
                Err(e) => panic!("round {round}: concurrent C_Login with the right PIN: {e:?}"),
            }
        }
        assert_eq!(ok, 1, "round {round}: exactly one C_Login succeeds");
        assert_eq!(
            f.token_flags(tok) & PIN_COUNTER_FLAGS,
            0,
            "round {round}: no PIN failure recorded: {}",
            flag_names(f.token_flags(tok))
        );
        drop(results); // closing all sessions logs out
    }
}

#[test]
fn concurrent_random_and_session_churn() {
    let f = Fixture::new();
    let tok = f.user_token("churn");
    let p11 = f.p11();
    let errors: Vec<String> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..16)
            .map(|i| {
                let p11 = &p11;
                sc.spawn(move || -> Result<(), String> {
                    for k in 0..20 {
                        let s = p11
                            .open_ro_session(tok)
                            .map_err(|e| format!("{i}/{k} open: {e:?}"))?;
                        let v = s
                            .generate_random_vec(64)
                            .map_err(|e| format!("{i}/{k} random: {e:?}"))?;
                        if v.len() != 64 {
                            return Err(format!("{i}/{k} random length"));
                        }
                        s.get_session_info()
                            .map_err(|e| format!("{i}/{k} info: {e:?}"))?;
                        s.close().map_err(|e| format!("{i}/{k} close: {e:?}"))?;
                    }
                    Ok(())
                })
            })
            .collect();
        hs.into_iter()
            .filter_map(|h| h.join().unwrap_or_else(|_| Err("panic".into())).err())
            .collect()
    });
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(session_counts(&f, tok).0, 0);
}

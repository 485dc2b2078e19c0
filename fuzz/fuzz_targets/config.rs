//! The configuration file parser (`Config::parse`, src/config.rs): any text, valid or not.
//! Checks: no panic; a text that parses gives settings inside the bounds the parser promises
//! (the KDF cost, the umask, the PIN attempts, the login cache's lifetime), and the mechanism
//! list under that configuration can be computed.
#![no_main]

use ferrohsm::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(c) = Config::parse(text, None) else {
        return;
    };
    assert!(
        c.kdf.is_sane(),
        "parsed KDF cost out of bounds: {:?}",
        c.kdf
    );
    assert!(c.umask <= 0o777, "umask {:o}", c.umask);
    assert!((1..=1000).contains(&c.max_pin_attempts));
    if let Some(lc) = &c.login_cache {
        assert!((1..=86_400).contains(&lc.seconds));
    }
    let offered = ferrohsm::mechanism::list(&c);
    // An allow list offers only what it names, a deny list nothing it names.
    if let Some(f) = &c.mechanisms {
        for ty in &offered {
            let def = ferrohsm::mechanism::all().find(|m| m.ty == *ty).unwrap();
            let named = f.names.iter().any(|n| n.eq_ignore_ascii_case(def.name));
            assert_eq!(
                named, !f.deny,
                "{} offered against slots.mechanisms",
                def.name
            );
        }
    }
});

//! Build script: link options of the cdylib, and the build ID.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // The module must never be unmapped once loaded:
    // - it registers `pthread_atfork` handlers (src/sys/fork.rs), which cannot be unregistered, so
    //   a fork() after an application's dlclose() would jump into unmapped code;
    // - with the aws-lc backend, AWS-LC keeps per-thread state under a pthread key whose destructor
    //   lives in this library, so every thread that had used the module would crash when it exits.
    // `-z nodelete` makes dlclose() leave the library mapped (OpenSSL pins itself the same way);
    // C_Finalize still releases everything the module holds.
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(
        os.as_str(),
        "linux" | "android" | "freebsd" | "netbsd" | "openbsd"
    ) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    }
    build_id();
}

/// `FERROHSM_BUILD_ID` (src/build_info.rs): the backend, the profile, the cargo features and a
/// hash of every input file of the crate. The library carries it, and so does every test or bench
/// built against the same sources: a test that loads `libferrohsm.so` from disk compares the two,
/// and refuses a library built from other sources or with other features.
fn build_id() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let inputs = ["src", "include", "build.rs", "Cargo.toml", "Cargo.lock"];
    let mut files = Vec::new();
    for i in inputs {
        println!("cargo:rerun-if-changed={i}");
        collect(&root.join(i), &mut files);
    }
    files.sort();
    // FNV-1a, 64 bits: this tells builds apart, it does not resist an adversary.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap_or(f);
        eat(rel.to_string_lossy().as_bytes());
        eat(&[0]);
        eat(&std::fs::read(f).unwrap_or_default());
        eat(&[0]);
    }
    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| k.strip_prefix("CARGO_FEATURE_").map(|f| f.to_lowercase()))
        .collect();
    features.sort();
    let backend = if std::env::var_os("CARGO_FEATURE_BACKEND_AWSLC").is_some() {
        "aws-lc-rs"
    } else {
        "rustcrypto"
    };
    let profile = std::env::var("PROFILE").unwrap_or_default();
    println!(
        "cargo:rustc-env=FERROHSM_BUILD_ID=backend={backend} profile={profile} features={} sources={h:016x}",
        if features.is_empty() { "-".to_string() } else { features.join(",") }
    );
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                collect(&e.path(), out);
            }
        }
    } else if p.is_file() {
        out.push(p.to_path_buf());
    }
}

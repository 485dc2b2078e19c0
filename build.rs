//! Build script: link options of the cdylib.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // The module must never be unmapped once loaded:
    // - it registers `pthread_atfork` handlers (src/ffi/fork.rs), which cannot be unregistered, so
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
}

//! Build script: link options of the cdylib.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // With the aws-lc backend the module must never be unmapped: AWS-LC keeps per-thread state
    // under a pthread key whose destructor lives in this library, so after an application's
    // dlclose() every thread that had used the module would crash when it exits. `-z nodelete`
    // makes dlclose() leave the library mapped (OpenSSL pins itself the same way); C_Finalize
    // still releases everything the module holds.
    let awslc = std::env::var_os("CARGO_FEATURE_BACKEND_AWSLC").is_some();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if awslc
        && matches!(
            os.as_str(),
            "linux" | "android" | "freebsd" | "netbsd" | "openbsd"
        )
    {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    }
}

//! What this build of the crate is: its backend, profile, features and sources (see `build.rs`).
//!
//! The library carries its build ID twice: as [`BUILD_ID`] for Rust code linked against the crate,
//! and inside `libferrohsm.so` (returned by the exported `ferrohsm_build_id()`, and findable in the
//! file as [`MARKER`] followed by the ID). The project's tests and benches compile the crate
//! themselves and load the `.so` from disk: [`check_library`] tells them whether the two are the
//! same build, so that a stale library (`cargo test` does not rebuild `target/release/`) or one
//! built with the other backend is refused instead of tested.

use std::path::Path;

/// `backend=<aws-lc-rs|rustcrypto> profile=<release|debug> features=<...> sources=<hash>`.
pub const BUILD_ID: &str = env!("FERROHSM_BUILD_ID");

/// The prefix of the build ID inside the library file.
pub const MARKER: &str = "ferrohsm-build-id:";

/// The marker, the build ID and a NUL, as stored in the library.
pub(crate) static TAGGED: &str = concat!("ferrohsm-build-id:", env!("FERROHSM_BUILD_ID"), "\0");

/// The cryptography backend of this build.
pub fn backend() -> &'static str {
    backend_of(BUILD_ID)
}

/// The backend named in a build ID.
pub fn backend_of(id: &str) -> &str {
    id.split(' ')
        .find_map(|w| w.strip_prefix("backend="))
        .unwrap_or("unknown")
}

/// The build ID found in a library file, if any.
pub fn build_id_of_file(path: &Path) -> std::io::Result<Option<String>> {
    let bytes = std::fs::read(path)?;
    let m = MARKER.as_bytes();
    let Some(at) = bytes.windows(m.len()).position(|w| w == m) else {
        return Ok(None);
    };
    let rest = &bytes[at + m.len()..];
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    Ok(Some(String::from_utf8_lossy(&rest[..end]).into_owned()))
}

/// Checks that the library at `path` is this very build (same sources, features and profile);
/// the error says what differs and what to run.
pub fn check_library(path: &Path) -> std::result::Result<(), String> {
    let theirs = match build_id_of_file(path) {
        Ok(Some(id)) => id,
        Ok(None) => {
            return Err(format!(
                "{} carries no ferrohsm build ID: it is not a libferrohsm.so of this version",
                path.display()
            ))
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    if theirs == BUILD_ID {
        return Ok(());
    }
    let what = if backend_of(&theirs) != backend() {
        format!(
            "it was built with the {} backend, this test build uses {}",
            backend_of(&theirs),
            backend()
        )
    } else {
        "it was built from other sources (it is stale) or with other features".to_string()
    };
    Err(format!(
        "{} is not the library of this build: {what}.\n  library:    {theirs}\n  this build: {BUILD_ID}\n\
         Run `cargo build --release` first, with the same features as this run (e.g. \
         `cargo build --release --no-default-features` before `cargo test --release --no-default-features`).",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_id_names_the_backend_of_the_features() {
        let want = if cfg!(feature = "backend-awslc") {
            "aws-lc-rs"
        } else {
            "rustcrypto"
        };
        assert_eq!(backend(), want);
        assert!(TAGGED.starts_with(MARKER) && TAGGED.ends_with('\0'));
        assert_eq!(&TAGGED[MARKER.len()..TAGGED.len() - 1], BUILD_ID);
    }

    #[test]
    fn library_check_reads_the_marker() {
        let dir = tempfile::tempdir().unwrap();
        let same = dir.path().join("same.so");
        std::fs::write(
            &same,
            [b"\x7fELF junk ", TAGGED.as_bytes(), b"more"].concat(),
        )
        .unwrap();
        assert_eq!(check_library(&same), Ok(()));
        let other = dir.path().join("other.so");
        let stale = format!(
            "{MARKER}backend={} profile=x features=- sources=0\0",
            backend()
        );
        std::fs::write(&other, stale).unwrap();
        let e = check_library(&other).unwrap_err();
        assert!(
            e.contains("stale") && e.contains("cargo build --release"),
            "{e}"
        );
        let none = dir.path().join("none.so");
        std::fs::write(&none, b"no marker").unwrap();
        assert!(check_library(&none).is_err());
        assert!(check_library(&dir.path().join("missing.so")).is_err());
    }
}

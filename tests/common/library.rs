//! Where the tests that build C, C++ or the command line find the crate and its build,
//! and the one command that builds the release library for them.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The crate's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The target directory of the running `cargo test`: `CARGO_TARGET_DIR`, else the
/// ancestor of this test binary that cargo marked with CACHEDIR.TAG (this also finds a
/// `build.target-dir` from a cargo config file), else `target`.
pub fn target_dir(root: &Path) -> PathBuf {
    if let Some(dir) = env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        return root.join(dir); // join keeps an absolute path as it is
    }
    if let Ok(exe) = env::current_exe() {
        if let Some(dir) = exe
            .ancestors()
            .skip(1)
            .find(|d| d.join("CACHEDIR.TAG").is_file())
        {
            return dir.to_path_buf();
        }
    }
    root.join("target")
}

/// The cargo running the tests.
pub fn cargo() -> String {
    env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Builds the release library (rlib, cdylib, staticlib) into `target` with the very
/// command .ci/install and the Makefile use, so that none of them makes the others
/// rebuild; returns what rustc printed, which ends with the static library's
/// `native-static-libs` (cargo replays that note when the build is fresh). A nested
/// cargo is safe: `cargo test` releases the build directory lock before it runs test
/// binaries.
pub fn build_release_library(root: &Path, target: &Path) -> String {
    let output = Command::new(cargo())
        .current_dir(root)
        .env("CARGO_TARGET_DIR", target)
        .args([
            "rustc",
            "--release",
            "--lib",
            "--",
            "--print",
            "native-static-libs",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("cannot run cargo");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "cargo rustc --release --lib failed:\n{stderr}"
    );
    stderr
}

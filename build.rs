//! Generates include/stompws.h with cbindgen, gives the shared library its SONAME, and
//! puts a link named after the SONAME beside the library cargo builds.

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");

    // A versioned SONAME, so programs link against libstompws.so.0 and a later
    // incompatible release can live beside it.
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libstompws.so.0");
        soname_link();
    }

    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let version = env::var("CARGO_PKG_VERSION").expect("cargo sets CARGO_PKG_VERSION");
    let mut config = cbindgen::Config::from_file(dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable and valid");
    config.after_includes = Some(format!(
        "\n/** The version of the library this header belongs to; stompws_version() returns the same text. */\n#define STOMPWS_VERSION \"{version}\"\n"
    ));
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen could not generate include/stompws.h");
    bindings.write_to_file(dir.join("include/stompws.h"));
}

/// The SONAME link of the build tree: `libstompws.so.0 -> libstompws.so` in the profile
/// directory (`target/release`, `target/debug`, `target/<triple>/release`...), where cargo
/// writes `libstompws.so` but never a file named after its SONAME. A program linked with
/// `-Ltarget/release -lstompws -Wl,-rpath,$PWD/target/release` records libstompws.so.0
/// (the SONAME), and the loader finds it through this link; installed copies get their
/// own links from `make install`.
///
/// The link is relative and may dangle until cargo has linked the library (this script
/// runs before that). A directory this script cannot find or write (a packaging or
/// documentation build, a read-only tree) costs a warning, never the build.
fn soname_link() {
    let Some(dir) = profile_dir() else {
        println!(
            "cargo:warning=libstompws.so.0 link not made: no profile directory found from OUT_DIR"
        );
        return;
    };
    if let Err(e) = make_link(&dir, "libstompws.so", "libstompws.so.0") {
        println!(
            "cargo:warning=libstompws.so.0 link not made in {}: {e}",
            dir.display()
        );
    }
}

/// The directory cargo writes the library to. OUT_DIR is
/// `<build dir>/[<triple>/]<profile>/build/<package>-<hash>/out`, so it is the parent of
/// OUT_DIR's nearest ancestor named `build`. That follows `CARGO_TARGET_DIR` and a
/// `build.target-dir` from a cargo config file, since cargo puts OUT_DIR there. Cargo's
/// `build.build-dir` can move OUT_DIR out of the target directory; then, when
/// `CARGO_TARGET_DIR` is an absolute path, the same `[<triple>/]<profile>` below it.
fn profile_dir() -> Option<PathBuf> {
    let out = PathBuf::from(env::var_os("OUT_DIR")?);
    let profile = out
        .ancestors()
        .skip(1)
        .find(|d| d.file_name().is_some_and(|n| n == "build"))?
        .parent()?;
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_absolute());
    match target_dir {
        Some(target_dir) if !profile.starts_with(&target_dir) => {
            let mut dir = target_dir;
            let triple = env::var_os("TARGET");
            if let (Some(parent), Some(triple)) = (profile.parent(), triple) {
                if parent.file_name() == Some(triple.as_os_str()) {
                    dir.push(triple);
                }
            }
            dir.push(profile.file_name()?);
            Some(dir)
        }
        _ => Some(profile.to_path_buf()),
    }
}

/// Makes `dir/name` a symbolic link to `target` (relative to `dir`), replacing what is
/// there by a rename, so that parallel builds never see it missing. Does nothing when the
/// link is already right.
#[cfg(unix)]
fn make_link(dir: &Path, target: &str, name: &str) -> std::io::Result<()> {
    let link = dir.join(name);
    if std::fs::read_link(&link).is_ok_and(|t| t == Path::new(target)) {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{name}.tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, &link).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(not(unix))]
fn make_link(_dir: &Path, _target: &str, _name: &str) -> std::io::Result<()> {
    Err(std::io::Error::other(
        "symbolic links need a Unix build host",
    ))
}

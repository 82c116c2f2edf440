//! Linking a C program straight against the build tree, as API.md "Install" promises:
//! after the release build, `cc app.c -Iinclude -Ltarget/release -lstompws
//! -Wl,-rpath,$PWD/target/release` gives a program that runs.
//!
//! The library's SONAME is libstompws.so.0, so that is the name such a program asks the
//! loader for, while cargo writes only libstompws.so; build.rs puts the link
//! `libstompws.so.0 -> libstompws.so` beside it in every profile directory. These tests
//! compile a small C program with exactly that command line (plus `-o`), run it, and
//! check from its own `/proc/self/maps` that the library it loaded is the build tree's,
//! not an installed copy. No broker is needed.
//!
//! The complete example in the header's opening overview is compiled the same way, with
//! the examples' warnings, and run against RabbitMQ (the broker rule of `tests/common`).
//!
//! Compiled programs go to `<target>/build-tree/`.

mod common;

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

/// The program users would write first: the version, a config made and freed. It then
/// prints which libstompws file the loader mapped.
const APP: &str = r#"#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <stompws.h>

int main(void)
{
    stompws_config *config = stompws_config_new();
    if (config == NULL) {
        fprintf(stderr, "stompws_config_new failed\n");
        return 1;
    }
    stompws_config_free(config);
    printf("version %s\n", stompws_version());

    FILE *maps = fopen("/proc/self/maps", "r");
    if (maps == NULL) {
        perror("/proc/self/maps");
        return 1;
    }
    char line[4096];
    while (fgets(line, sizeof line, maps)) {
        const char *path = strchr(line, '/');
        if (path != NULL && strstr(path, "libstompws") != NULL) {
            printf("loaded %s", path);
            break;
        }
    }
    fclose(maps);
    return 0;
}
"#;

/// Runs `cmd` with no input, killing it after `timeout`; returns (exit code, stdout,
/// stderr). The code is None when a signal ended it.
fn run(cmd: &mut Command, timeout: Duration) -> (Option<i32>, String, String) {
    let what = format!("{cmd:?}");
    let out = common::program::run(cmd, b"", timeout, what);
    assert!(!out.timed_out, "{}", out.report());
    (out.status, out.stdout, out.stderr)
}

/// `dir` as the README writes it: relative to the crate root when it lies below it.
fn as_given(root: &Path, dir: &Path) -> PathBuf {
    dir.strip_prefix(root).unwrap_or(dir).to_path_buf()
}

/// Compiles APP against the library in `profile` (a directory such as target/release)
/// with the README's command line, runs it from the crate root, and checks that it ran
/// on that very library.
fn link_and_run(profile: &Path, name: &str) {
    let root = common::library::root();
    let lib = profile.join("libstompws.so");
    assert!(lib.is_file(), "{} was not built", lib.display());

    // The library keeps its versioned SONAME: that is what installed copies need.
    let (code, dynamic, err) = run(
        Command::new("readelf").arg("-d").arg(&lib),
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(0), "readelf -d {} failed: {err}", lib.display());
    assert!(
        dynamic.contains("Library soname: [libstompws.so.0]"),
        "{} has not the SONAME libstompws.so.0:\n{dynamic}",
        lib.display()
    );

    let out = common::library::target_dir(&root).join("build-tree");
    fs::create_dir_all(&out).unwrap();
    let source = out.join(format!("{name}.c"));
    fs::write(&source, APP).unwrap();
    let exe = out.join(name);
    let _ = fs::remove_file(&exe);

    // cc app.c -Iinclude -Ltarget/release -lstompws -Wl,-rpath,$PWD/target/release
    let mut cc = Command::new(env::var("CC").unwrap_or_else(|_| "cc".into()));
    cc.current_dir(&root)
        .arg(&source)
        .arg("-Iinclude")
        .arg(format!("-L{}", as_given(&root, profile).display()))
        .arg("-lstompws")
        .arg(format!("-Wl,-rpath,{}", profile.display()))
        .arg("-o")
        .arg(&exe);
    let (code, cc_out, cc_err) = run(&mut cc, Duration::from_secs(120));
    assert_eq!(code, Some(0), "{cc:?} failed:\n{cc_out}{cc_err}");

    // As a user runs it: cargo gives test binaries an LD_LIBRARY_PATH with the test
    // profile's directories, which the loader would search before the rpath.
    let (code, stdout, stderr) = run(
        Command::new(&exe)
            .current_dir(&root)
            .env_remove("LD_LIBRARY_PATH"),
        Duration::from_secs(60),
    );
    assert_eq!(
        code,
        Some(0),
        "{} did not run (a missing libstompws.so.0 link shows here as \"cannot open \
         shared object file\"):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        exe.display()
    );
    let version = format!("version {}\n", env!("CARGO_PKG_VERSION"));
    assert!(stdout.contains(&version), "no {version:?} in:\n{stdout}");
    let loaded = stdout
        .lines()
        .find_map(|l| l.strip_prefix("loaded "))
        .unwrap_or_else(|| panic!("no libstompws in the program's maps:\n{stdout}"));
    assert_eq!(
        fs::canonicalize(loaded.trim()).ok(),
        fs::canonicalize(&lib).ok(),
        "the program loaded {loaded}, not the build tree's {}",
        lib.display()
    );
    // The link build.rs made, relative, so the tree may move as a whole.
    let link = profile.join("libstompws.so.0");
    assert_eq!(
        fs::read_link(&link).ok(),
        Some(PathBuf::from("libstompws.so")),
        "{} is not the link libstompws.so.0 -> libstompws.so that build.rs makes",
        link.display()
    );
    eprintln!("{name}: linked against {}, {stdout}", profile.display());
}

/// Taken by each test: under `cargo test --release` both use target/release, and the
/// release build of one must not relink the library while the other loads it.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn release_build_tree_links_and_runs() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let root = common::library::root();
    let target = common::library::target_dir(&root);
    common::library::build_release_library(&root, &target);
    link_and_run(&target.join("release"), "app-release");
}

/// The profile this test was built in (target/debug under a plain `cargo test`): cargo
/// built the library there, cdylib included, before running the test.
#[test]
fn test_profile_build_tree_links_and_runs() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let exe = env::current_exe().unwrap();
    // <profile>/deps/build_tree-<hash>
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <profile>/deps");
    link_and_run(profile, "app-test-profile");
}

/// The example of stompws.h's overview, as a reader would paste it: it compiles with
/// every warning an error, and sends and receives a message.
#[test]
fn header_overview_example_compiles_and_runs() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let root = common::library::root();
    let header = fs::read_to_string(root.join("include/stompws.h")).unwrap();
    let start = header.find(" * Example:").expect("the overview's example");
    let end = header[start..]
        .find(" * The functions below")
        .expect("the end of the example")
        + start;
    let example: String = header[start..end]
        .lines()
        .skip(1)
        .filter_map(|l| l.strip_prefix(" *"))
        .map(|l| format!("{}\n", l.strip_prefix("   ").unwrap_or(l)))
        .collect();
    assert!(example.contains("int main(void)"), "{example}");
    let Some(url) = common::url("STOMPWS_RABBITMQ_WS") else {
        return;
    };
    // The example names the broker of a default RabbitMQ install; ours may differ.
    let example = example.replace("ws://127.0.0.1:15674/ws", &url);
    let target = common::library::target_dir(&root);
    common::library::build_release_library(&root, &target);
    let profile = target.join("release");
    let out = target.join("build-tree");
    fs::create_dir_all(&out).unwrap();
    let source = out.join("overview.c");
    fs::write(&source, &example).unwrap();
    let exe = out.join("overview");
    let mut cc = Command::new(env::var("CC").unwrap_or_else(|_| "cc".into()));
    cc.current_dir(&root)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg(&source)
        .arg("-Iinclude")
        .arg(format!("-L{}", profile.display()))
        .arg("-lstompws")
        .arg(format!("-Wl,-rpath,{}", profile.display()))
        .arg("-o")
        .arg(&exe);
    let (code, cc_out, cc_err) = run(&mut cc, Duration::from_secs(120));
    assert_eq!(code, Some(0), "{cc:?} failed:\n{cc_out}{cc_err}\n{example}");
    let (code, stdout, stderr) = run(
        Command::new(&exe).env_remove("LD_LIBRARY_PATH"),
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(0), "overview example:\n{stdout}{stderr}");
    assert_eq!(stdout, "received hi\n", "{stderr}");
}

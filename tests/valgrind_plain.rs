//! valgrind as users run it: the C example `chat` under exactly
//! `valgrind --leak-check=full --error-exitcode=1 --suppressions=include/stompws.supp`,
//! against RabbitMQ over WebSocket, must exit 0.
//!
//! Without `--errors-for-leak-kinds=definite` valgrind also counts "possibly lost"
//! blocks as errors, and the Rust standard library leaves one: the handle of each thread
//! Rust did not start that is still alive at exit (include/stompws.supp says why it
//! cannot be freed). The suppression file that is installed for users must cover it and
//! nothing hides a real error, which this run shows end to end: the example subscribes
//! with a receipt, sends two lines, receives them on the dispatch thread and
//! disconnects, and every byte it allocated must be freed or suppressed.
//!
//! Needs RabbitMQ (`bash tests/brokers/rabbitmq.sh start`); skipped with a note when it
//! does not answer, failed instead under `STOMPWS_REQUIRE_BROKERS=1`, like the other
//! broker tests. `STOMPWS_SKIP_VALGRIND=1` skips it where valgrind is not installed, as
//! in tests/c_api.rs. The program is built in `<target>/valgrind-plain/`.

mod common;

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Runs `cmd` with `stdin` as its input, killing it after `timeout`; returns (exit
/// code, stdout, stderr). The code is None when a signal ended it.
fn run(cmd: &mut Command, stdin: &[u8], timeout: Duration) -> (Option<i32>, String, String) {
    let what = format!("{cmd:?}");
    let out = common::program::run(cmd, stdin, timeout, what);
    assert!(!out.timed_out, "{}", out.report());
    (out.status, out.stdout, out.stderr)
}

#[test]
fn chat_passes_plain_valgrind_with_the_shipped_suppressions() {
    let url = require!("STOMPWS_RABBITMQ_WS");
    if env::var("STOMPWS_SKIP_VALGRIND").is_ok_and(|v| v == "1") {
        eprintln!("skipping: valgrind runs skipped (STOMPWS_SKIP_VALGRIND=1)");
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = common::library::target_dir(&root);
    common::library::build_release_library(&root, &target);
    let release = target.join("release");

    // Built as a user builds it against the build tree (the README's command line),
    // with the warnings every example is kept clean of.
    let out = target.join("valgrind-plain");
    fs::create_dir_all(&out).unwrap();
    let exe = out.join("chat");
    let _ = fs::remove_file(&exe);
    let mut cc = Command::new(env::var("CC").unwrap_or_else(|_| "cc".into()));
    cc.current_dir(&root)
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-pthread",
            "-g",
            "-O1",
        ])
        .arg("-Iinclude")
        .arg("c-examples/chat.c")
        .arg(format!("-L{}", release.display()))
        .arg("-lstompws")
        .arg(format!("-Wl,-rpath,{}", release.display()))
        .arg("-o")
        .arg(&exe);
    let (code, cc_out, cc_err) = run(&mut cc, b"", Duration::from_secs(120));
    assert_eq!(code, Some(0), "{cc:?} failed:\n{cc_out}{cc_err}");

    let topic = format!("/topic/{}", common::unique("stompws-valgrind-plain"));
    let mut valgrind = Command::new("valgrind");
    valgrind
        .current_dir(&root)
        // As a user runs it: without cargo's LD_LIBRARY_PATH for test binaries, which
        // would load the test profile's library instead of the release one.
        .env_remove("LD_LIBRARY_PATH")
        .args([
            "--leak-check=full",
            "--error-exitcode=1",
            "--suppressions=include/stompws.supp",
        ])
        .arg(&exe)
        .args(["-u", &url, "-d", &topic, "-t", "10000"]);
    let (code, stdout, stderr) = run(
        &mut valgrind,
        b"hello from C\nsecond line\n",
        Duration::from_secs(600),
    );
    let report =
        format!("{valgrind:?}: exit {code:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");
    // Exit 1 is both valgrind's error exit and the example's own failure; the summary
    // says which.
    assert!(
        stderr.contains("ERROR SUMMARY: 0 errors"),
        "valgrind found errors:\n{report}"
    );
    assert_eq!(code, Some(0), "{report}");
    // The example did its work: both lines came back through the broker.
    assert!(stdout.contains("<guest> hello from C"), "{report}");
    assert!(stdout.contains("<guest> second line"), "{report}");
    assert!(stderr.contains("2 sent, 2 received"), "{report}");
    for line in stderr
        .lines()
        .filter(|l| l.contains("suppressed:") || l.contains("ERROR SUMMARY"))
    {
        eprintln!("{line}");
    }
}

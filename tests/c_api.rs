//! The C side of the C API, run from `cargo test`: builds the release library once,
//! compiles the C examples (`c-examples/`) and the C test suite (`tests/c/`) with
//! `-std=c11 -Wall -Wextra -Werror -pedantic`, and runs them plainly, under valgrind and
//! built with AddressSanitizer; checks that the header, `tests/c/symbols.c` and the
//! library's exports agree; compiles the header as C++17; builds the examples with their
//! Makefile; installs with `.ci/install` and builds a program through pkg-config, shared
//! and static.
//!
//! Brokers are found as in the other broker tests (`tests/common`): the `STOMPWS_*`
//! variables of `tests/brokers/*.sh env`, or their defaults; a test whose broker does not
//! answer is skipped with a note, unless `STOMPWS_REQUIRE_BROKERS=1` (tests/run.sh sets
//! it), which makes it fail.
//! `STOMPWS_SKIP_VALGRIND=1` skips the valgrind runs where valgrind is not installed.
//!
//! Compiled programs go to `<target>/c-tests/`.

mod common;
mod fake;

use std::collections::BTreeSet;
use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::program::{run, Output};

/// Every C file must stay clean under these.
const CFLAGS: &[&str] = &[
    "-std=c11",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-pedantic",
    "-pthread",
    "-g",
    "-O1",
];

/// Valgrind's exit status for errors it found, chosen apart from the programs' own 1 so
/// a failure says which of the two it was.
const VALGRIND_ERROR_EXIT: i32 = 97;
/// The same for AddressSanitizer and LeakSanitizer.
const ASAN_ERROR_EXIT: i32 = 98;

// ---------------------------------------------------------------------------------------
// The library, built once per test process.

struct Library {
    root: PathBuf,
    /// Where cargo put libstompws.so and libstompws.a.
    release: PathBuf,
    /// Holds `libstompws.so` and `libstompws.so.0` links to the built library: the
    /// library's SONAME is libstompws.so.0, which cargo does not create. Programs link
    /// here and have it on their rpath.
    link_dir: PathBuf,
    /// `<target>/c-tests`: everything this file compiles.
    out: PathBuf,
    /// What libstompws.a needs from the system, as rustc printed it.
    native_static_libs: Vec<String>,
    cargo: String,
    target: PathBuf,
}

fn library() -> &'static Library {
    static LIBRARY: OnceLock<Library> = OnceLock::new();
    LIBRARY.get_or_init(build_library)
}

fn build_library() -> Library {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = common::library::target_dir(&root);
    let cargo = common::library::cargo();
    let stderr = common::library::build_release_library(&root, &target);
    let native_static_libs = stderr
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("note: native-static-libs: "))
        .unwrap_or_else(|| panic!("rustc printed no native-static-libs:\n{stderr}"))
        .split_whitespace()
        .map(String::from)
        .collect();

    let release = target.join("release");
    let out = target.join("c-tests");
    let link_dir = out.join("lib");
    fs::create_dir_all(&link_dir).unwrap();
    for name in ["libstompws.so", "libstompws.so.0"] {
        let link = link_dir.join(name);
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(release.join("libstompws.so"), &link).unwrap();
    }
    Library {
        root,
        release,
        link_dir,
        out,
        native_static_libs,
        cargo,
        target,
    }
}

// ---------------------------------------------------------------------------------------
// Compiling.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Build {
    Shared,
    Static,
    Asan,
}

/// Compiles C sources (paths relative to the crate root) into `<out>/<build>/<name>`.
fn compile_c(name: &str, sources: &[&str], build: Build) -> PathBuf {
    let lib = library();
    let dir = lib.out.join(format!("{build:?}").to_lowercase());
    fs::create_dir_all(&dir).unwrap();
    let exe = dir.join(name);
    let mut cc = Command::new(env::var("CC").unwrap_or_else(|_| "cc".into()));
    cc.args(CFLAGS)
        .arg(format!("-I{}", lib.root.join("include").display()))
        .arg(format!("-I{}", lib.root.join("tests/c").display()));
    if build == Build::Asan {
        cc.args(["-fsanitize=address", "-fno-omit-frame-pointer"]);
    }
    cc.args(sources.iter().map(|s| lib.root.join(s)))
        .arg("-o")
        .arg(&exe);
    match build {
        Build::Static => {
            cc.arg(lib.release.join("libstompws.a"))
                .args(&lib.native_static_libs);
        }
        Build::Shared | Build::Asan => {
            cc.arg(format!("-L{}", lib.link_dir.display()))
                .arg(format!("-Wl,-rpath,{}", lib.link_dir.display()))
                .arg("-lstompws");
        }
    }
    cc.arg("-lm");
    run_tool(&mut cc, &format!("compiling {name} ({build:?})"));
    exe
}

/// Runs a build tool; panics with its output if it fails.
fn run_tool(cmd: &mut Command, what: &str) -> String {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed: {cmd:?}\n{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

// ---------------------------------------------------------------------------------------
// Running.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Plain,
    Valgrind,
    Asan,
}

const ALL_MODES: &[Mode] = &[Mode::Plain, Mode::Valgrind, Mode::Asan];
const PLAIN: &[Mode] = &[Mode::Plain];

fn valgrind_wanted() -> bool {
    if env::var("STOMPWS_SKIP_VALGRIND").is_ok_and(|v| v == "1") {
        eprintln!("note: valgrind runs skipped (STOMPWS_SKIP_VALGRIND=1)");
        return false;
    }
    true
}

/// A C program built for each of the modes it runs in.
struct Program {
    name: String,
    shared: PathBuf,
    asan: Option<PathBuf>,
}

impl Program {
    fn build(name: &str, sources: &[&str], modes: &[Mode]) -> Program {
        Program {
            name: name.to_string(),
            shared: compile_c(name, sources, Build::Shared),
            asan: modes
                .contains(&Mode::Asan)
                .then(|| compile_c(name, sources, Build::Asan)),
        }
    }

    /// Runs it in `mode`; panics unless it exits 0 and, under valgrind or ASan, the
    /// tool found no error and no leak.
    fn run(&self, mode: Mode, args: &[&str], stdin: &[u8]) -> Output {
        let lib = library();
        let (mut cmd, timeout) = match mode {
            Mode::Plain => (Command::new(&self.shared), Duration::from_secs(180)),
            Mode::Valgrind => {
                let mut cmd = Command::new("valgrind");
                // As a user runs it (README): every leak kind is an error, with the
                // suppression file the project ships for the Rust runtime's one block.
                cmd.arg("--leak-check=full")
                    .arg(format!("--error-exitcode={VALGRIND_ERROR_EXIT}"))
                    .arg("--num-callers=40")
                    .arg(format!(
                        "--suppressions={}",
                        lib.root.join("include/stompws.supp").display()
                    ));
                cmd.arg(&self.shared);
                (cmd, Duration::from_secs(900))
            }
            Mode::Asan => {
                let mut cmd = Command::new(self.asan.as_ref().expect("built without ASan"));
                cmd.env(
                    "ASAN_OPTIONS",
                    format!("detect_leaks=1:exitcode={ASAN_ERROR_EXIT}:abort_on_error=0"),
                );
                (cmd, Duration::from_secs(300))
            }
        };
        cmd.args(args).current_dir(&lib.root);
        let what = format!("{} {} ({mode:?})", self.name, args.join(" "));
        let out = run(&mut cmd, stdin, timeout, what);
        let tool_clean = match mode {
            Mode::Plain => true,
            Mode::Valgrind => out.stderr.contains("ERROR SUMMARY: 0 errors"),
            Mode::Asan => {
                !out.stderr.contains("ERROR: AddressSanitizer")
                    && !out.stderr.contains("ERROR: LeakSanitizer")
            }
        };
        assert!(
            !out.timed_out && out.status == Some(0) && tool_clean,
            "{}",
            out.report()
        );
        out
    }

    fn run_modes(&self, modes: &[Mode], args: &[&str], stdin: &[u8]) -> Vec<Output> {
        modes
            .iter()
            .filter(|&&mode| mode != Mode::Valgrind || valgrind_wanted())
            .map(|&mode| self.run(mode, args, stdin))
            .collect()
    }
}

/// A C test program's last line is "N passed, N failed": none may fail, some must pass.
fn assert_suite_passed(out: &Output) -> usize {
    let last = out
        .stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let counts: Vec<usize> = last
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let ok = last.ends_with(" failed") && counts.len() == 2 && counts[0] > 0 && counts[1] == 0;
    assert!(ok, "unexpected summary {last:?}\n{}", out.report());
    eprintln!("{}: {last}", out.what);
    counts[0]
}

// ---------------------------------------------------------------------------------------
// Brokers.

fn rabbitmq_ws() -> Option<String> {
    common::url("STOMPWS_RABBITMQ_WS")
}

fn rabbitmq_tcp() -> Option<String> {
    common::url("STOMPWS_RABBITMQ_TCP")
}

fn activemq_tcp() -> Option<String> {
    common::url("STOMPWS_ACTIVEMQ_TCP")
}

/// The brokers' CA file, if it is there (required like a broker).
fn ca_file() -> Option<String> {
    let path = common::ca_file();
    if path.is_file() {
        return Some(path.to_string_lossy().into_owned());
    }
    assert!(
        !common::brokers_required(),
        "STOMPWS_TLS_CA_FILE={}: no such file, and STOMPWS_REQUIRE_BROKERS=1",
        path.display()
    );
    eprintln!(
        "skipping: no CA file at {} (STOMPWS_TLS_CA_FILE)",
        path.display()
    );
    None
}

/// Runs `check(url, mode)` for every place an example runs: every mode on RabbitMQ over
/// ws, and plainly on ActiveMQ over TCP, which shows the examples are not tied to one
/// broker. Valgrind runs are left out where they are not wanted.
fn each_example_run(mut check: impl FnMut(&str, Mode)) {
    let targets = [(rabbitmq_ws(), ALL_MODES), (activemq_tcp(), PLAIN)];
    for (url, modes) in targets {
        let Some(url) = url else { continue };
        for &mode in modes {
            if mode != Mode::Valgrind || valgrind_wanted() {
                check(&url, mode);
            }
        }
    }
}

/// A destination no other test, run or mode shares.
fn unique(kind: &str, name: &str, mode: Mode) -> String {
    format!(
        "/{kind}/{}",
        common::unique(&format!("stompws-{name}-{mode:?}"))
    )
}

// ---------------------------------------------------------------------------------------
// The symbol list, the C++ header, the build files.

/// The functions include/stompws.h declares: declarations start at the first column;
/// comments, typedefs and macros do not count.
fn header_functions(header: &str) -> BTreeSet<String> {
    header
        .lines()
        .filter(|l| !l.starts_with([' ', '\t', '/', '*', '#', '}']) && !l.starts_with("typedef"))
        .filter_map(|l| {
            let before_paren = &l[..l.find('(')?];
            let name = before_paren
                .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()?;
            name.starts_with("stompws_").then(|| name.to_string())
        })
        .collect()
}

#[test]
fn symbols_match_header_and_library() {
    let lib = library();
    let header = fs::read_to_string(lib.root.join("include/stompws.h")).unwrap();
    let declared = header_functions(&header);
    let nm = run_tool(
        Command::new("nm")
            .args(["-D", "--defined-only"])
            .arg(lib.release.join("libstompws.so")),
        "nm",
    );
    let exported: BTreeSet<String> = nm
        .lines()
        .filter_map(|l| {
            let mut fields = l.split_whitespace().rev();
            let name = fields.next()?;
            let kind = fields.next()?;
            (kind == "T" && name.starts_with("stompws_")).then(|| name.to_string())
        })
        .collect();

    for build in [Build::Shared, Build::Static] {
        let exe = compile_c("symbols", &["tests/c/symbols.c"], build);
        let out = run(
            &mut Command::new(&exe),
            b"",
            Duration::from_secs(30),
            format!("symbols {build:?}"),
        );
        assert_eq!(out.status, Some(0), "{}", out.report());
        let listed: BTreeSet<String> = out
            .stdout
            .lines()
            .filter(|l| l.starts_with("stompws_"))
            .map(String::from)
            .collect();
        let last = out.stdout.lines().last().unwrap_or("");
        assert_eq!(last, format!("{} symbols", listed.len()));
        assert_eq!(
            listed, declared,
            "tests/c/symbols.c lists other functions than the header"
        );
        eprintln!("symbols ({build:?}): {last}");
    }
    assert_eq!(
        exported, declared,
        "the library exports other functions than the header"
    );
    assert!(
        declared.len() >= 58,
        "only {} functions in the header",
        declared.len()
    );
}

#[test]
fn header_compiles_as_cpp17() {
    let lib = library();
    let exe = lib.out.join("cpp_header");
    fs::create_dir_all(&lib.out).unwrap();
    run_tool(
        Command::new(env::var("CXX").unwrap_or_else(|_| "g++".into()))
            .args([
                "-std=c++17",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-pedantic",
                "-g",
            ])
            .arg(format!("-I{}", lib.root.join("include").display()))
            .arg(lib.root.join("tests/c/cpp_header.cpp"))
            .arg("-o")
            .arg(&exe)
            .arg(format!("-L{}", lib.link_dir.display()))
            .arg(format!("-Wl,-rpath,{}", lib.link_dir.display()))
            .arg("-lstompws"),
        "compiling tests/c/cpp_header.cpp",
    );
    let out = run(
        &mut Command::new(&exe),
        b"",
        Duration::from_secs(30),
        "cpp_header".into(),
    );
    assert_eq!(out.status, Some(0), "{}", out.report());
    out.assert_stdout("C++ checks passed");
}

#[test]
fn examples_build_with_their_makefile() {
    let lib = library();
    let build = lib.out.join("make");
    let _ = fs::remove_dir_all(&build);
    run_tool(
        Command::new("make")
            .arg("-C")
            .arg(lib.root.join("c-examples"))
            .arg(format!("BUILD={}", build.display()))
            .arg(format!("LIBDIR={}", lib.release.display())),
        "make -C c-examples",
    );
    for example in [
        "chat",
        "producer",
        "consumer",
        "transaction",
        "callback",
        "binary",
        "resilient",
        "rpc",
    ] {
        let exe = build.join(example);
        assert!(exe.is_file(), "make did not build {}", exe.display());
        // -h prints the usage and exits 2: the program starts, the library loads.
        let out = run(
            Command::new(&exe).arg("-h"),
            b"",
            Duration::from_secs(30),
            example.into(),
        );
        assert_eq!(out.status, Some(2), "{}", out.report());
        out.assert_stderr("usage:");
    }
}

// ---------------------------------------------------------------------------------------
// The C test suite.

#[test]
fn c_api_suite() {
    let program = Program::build("test_api", &["tests/c/test_api.c"], ALL_MODES);
    for out in program.run_modes(ALL_MODES, &[], b"") {
        assert_suite_passed(&out);
    }
    // Once against libstompws.a as well.
    let exe = compile_c("test_api", &["tests/c/test_api.c"], Build::Static);
    let out = run(
        &mut Command::new(&exe),
        b"",
        Duration::from_secs(180),
        "test_api (static)".into(),
    );
    assert_eq!(out.status, Some(0), "{}", out.report());
    assert_suite_passed(&out);
}

/// Reconnect and failover from C (`tests/c/test_reconnect.c`), against the scripted
/// server of `tests/c/fake_server.h`: no broker needed.
#[test]
fn c_reconnect_suite() {
    let program = Program::build("test_reconnect", &["tests/c/test_reconnect.c"], ALL_MODES);
    for out in program.run_modes(ALL_MODES, &[], b"") {
        assert_suite_passed(&out);
    }
}

/// Issue 12's texts of `stompws_last_error`, as a user reads them, and the argument
/// rules of subscribe_unhandled and stompws_client_unsubscribe (`tests/c/test_quirks.c`),
/// against the scripted peers of `tests/c/fake_server.h` and its own: no broker needed.
#[test]
fn c_quirks_suite() {
    let program = Program::build("test_quirks", &["tests/c/test_quirks.c"], ALL_MODES);
    for out in program.run_modes(ALL_MODES, &[], b"") {
        assert_suite_passed(&out);
    }
}

fn broker_suite(url: Option<String>, broker_name: &str, modes: &[Mode]) {
    let Some(url) = url else { return };
    let program = Program::build("test_broker", &["tests/c/test_broker.c"], modes);
    for out in program.run_modes(modes, &[&url, broker_name], b"") {
        assert_suite_passed(&out);
    }
}

#[test]
fn c_broker_suite_rabbitmq_ws() {
    broker_suite(rabbitmq_ws(), "rabbitmq", ALL_MODES);
}

#[test]
fn c_broker_suite_rabbitmq_tcp() {
    broker_suite(rabbitmq_tcp(), "rabbitmq", PLAIN);
}

#[test]
fn c_broker_suite_activemq_tcp() {
    broker_suite(activemq_tcp(), "activemq", &[Mode::Plain, Mode::Valgrind]);
}

#[test]
fn c_tls_suite() {
    let Some(ca) = ca_file() else { return };
    let urls: Vec<String> = [
        common::url("STOMPWS_RABBITMQ_WSS"),
        common::url("STOMPWS_RABBITMQ_SSL"),
        common::url("STOMPWS_ACTIVEMQ_SSL"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if urls.is_empty() {
        return;
    }
    let mut args = vec![ca.as_str()];
    args.extend(urls.iter().map(String::as_str));
    let program = Program::build("test_tls", &["tests/c/test_tls.c"], ALL_MODES);
    for out in program.run_modes(ALL_MODES, &args, b"") {
        assert_suite_passed(&out);
    }
}

// ---------------------------------------------------------------------------------------
// The examples, each run the way its comment says and its output checked.

#[test]
fn example_chat_round_trips_stdin() {
    let program = Program::build("chat", &["c-examples/chat.c"], ALL_MODES);
    each_example_run(|url, mode| {
        let topic = unique("topic", "chat", mode);
        let out = program.run(
            mode,
            &["-u", url, "-d", &topic, "-t", "10000"],
            b"hello from C\nsecond line\n",
        );
        // Both lines came back through the broker.
        out.assert_stdout("<guest> hello from C");
        out.assert_stdout("<guest> second line");
        out.assert_stderr("2 sent, 2 received");
    });
}

/// chat.c against a server that plays Spring's simple broker (DESIGN.md §7: no receipt
/// but DISCONNECT's, no `server` header): its lines come back, and it does not wait for
/// a receipt Spring never sends.
#[test]
fn example_chat_against_spring() {
    let program = Program::build("chat", &["c-examples/chat.c"], ALL_MODES);
    let modes = ALL_MODES
        .iter()
        .filter(|&&mode| mode != Mode::Valgrind || valgrind_wanted());
    for &mode in modes {
        let server = fake::spring(|mut p| {
            p.handshake("1.2", "0,0");
            let seen = p.serve_simple_broker();
            let subscribe = seen
                .iter()
                .find(|f| f.command == "SUBSCRIBE")
                .expect("chat did not subscribe");
            assert_eq!(subscribe.header("destination"), Some("/topic/chat"));
            let sends = seen.iter().filter(|f| f.command == "SEND").count();
            assert_eq!(sends, 2, "{:?}", seen.iter().map(|f| &f.command));
            assert!(p.spring_ended.is_none());
        });
        let started = Instant::now();
        let out = program.run(
            mode,
            &["-u", &server.url, "-d", "/topic/chat", "-t", "10000"],
            b"hello from Spring\nsecond line\n",
        );
        server.join();
        out.assert_stdout("<guest> hello from Spring");
        out.assert_stdout("<guest> second line");
        out.assert_stderr("2 sent, 2 received");
        eprintln!("chat against Spring ({mode:?}): {:?}", started.elapsed());
    }
}

/// rpc.c: request/reply over RabbitMQ's temporary reply queues, over ws and tcp; every
/// reply came with its correlation-id (else it exits 1), and it prints the median.
#[test]
fn example_rpc_request_reply() {
    let program = Program::build("rpc", &["c-examples/rpc.c"], ALL_MODES);
    for url in [rabbitmq_ws(), rabbitmq_tcp()].into_iter().flatten() {
        for &mode in ALL_MODES {
            if mode == Mode::Valgrind && !valgrind_wanted() {
                continue;
            }
            let queue = unique("queue", "rpc", mode);
            let out = program.run(mode, &["-u", &url, "-d", &queue, "-n", "20"], b"");
            for i in 1..=20 {
                out.assert_stdout(&format!("reply {i} of 20 ("));
                out.assert_stdout(&format!("re: request {i}\n"));
            }
            out.assert_stdout("20 replies of 20, median round trip ");
            out.assert_stderr("responder answered 20 requests");
            let median = out.stdout.lines().last().unwrap_or("");
            eprintln!("rpc {url} ({mode:?}): {median}");
        }
    }
}

#[test]
fn example_producer_then_consumer() {
    let producer = Program::build("producer", &["c-examples/producer.c"], ALL_MODES);
    let consumer = Program::build("consumer", &["c-examples/consumer.c"], ALL_MODES);
    each_example_run(|url, mode| {
        let queue = unique("queue", "pc", mode);
        let out = producer.run(mode, &["-u", url, "-d", &queue, "-n", "25"], b"");
        out.assert_stdout("sent 25 messages");
        // No -n: it ends on its idle timeout, and the count then shows that nothing was
        // lost or duplicated.
        let out = consumer.run(mode, &["-u", url, "-d", &queue, "-t", "2000"], b"");
        out.assert_stdout("received 25 messages");
        out.assert_stdout("received: message 25 of 25");
    });
}

#[test]
fn example_transaction_commits_and_aborts() {
    let program = Program::build("transaction", &["c-examples/transaction.c"], ALL_MODES);
    each_example_run(|url, mode| {
        let queue = unique("queue", "tx", mode);
        let out = program.run(mode, &["-u", url, "-d", &queue, "-t", "1000"], b"");
        out.assert_stdout("only the 2 committed messages arrived");
        assert!(
            !out.stdout.contains("received: aborted"),
            "{}",
            out.report()
        );
    });
}

#[test]
fn example_callback_subscription() {
    let program = Program::build("callback", &["c-examples/callback.c"], ALL_MODES);
    each_example_run(|url, mode| {
        let queue = unique("queue", "callback", mode);
        let out = program.run(mode, &["-u", url, "-d", &queue, "-n", "5"], b"");
        out.assert_stdout("callback received 5 of 5 messages");
        out.assert_stderr("event: connected");
    });
}

#[test]
fn example_binary_body_exact() {
    let program = Program::build("binary", &["c-examples/binary.c"], ALL_MODES);
    each_example_run(|url, mode| {
        let queue = unique("queue", "binary", mode);
        let out = program.run(mode, &["-u", url, "-d", &queue], b"");
        let exact = "1024 bytes with 4 NULs came back exactly";
        out.assert_stdout(exact);
    });
}

/// resilient.c, with reconnect on, takes every message a producer sent, once each.
/// Against the shared RabbitMQ over TCP, which is not restarted here: other tests use it
/// at the same time.
#[test]
fn example_resilient_consumer() {
    const COUNT: usize = 20;
    let Some(url) = rabbitmq_tcp() else { return };
    let program = Program::build("resilient", &["c-examples/resilient.c"], ALL_MODES);
    let modes = ALL_MODES
        .iter()
        .filter(|&&mode| mode != Mode::Valgrind || valgrind_wanted());
    for &mode in modes {
        let queue = unique("queue", "resilient", mode);
        // The producer, in Rust: the last send asks for a receipt, which the broker sends
        // after handling the earlier frames, so the whole batch is on the queue.
        let config = stompws::Config::new().login(common::GUEST.0, common::GUEST.1);
        let producer = stompws::Client::connect(&url, &config).expect("producer connect");
        for i in 1..=COUNT {
            let body = format!("resilient {i} of {COUNT}");
            if i < COUNT {
                producer.send(&queue, &[], body.as_bytes())
            } else {
                producer.send_with_receipt(&queue, &[], body.as_bytes())
            }
            .expect("producer send");
        }
        producer.disconnect().expect("producer disconnect");

        let count = COUNT.to_string();
        let out = program.run(
            mode,
            &["-u", &url, "-d", &queue, "-n", &count, "-t", "60000"],
            b"",
        );
        out.assert_stdout(&format!("acked {COUNT} messages from {queue}"));
        for i in 1..=COUNT {
            out.assert_stdout(&format!("received: resilient {i} of {COUNT}\n"));
        }
        let received = out.stdout.matches("received").count();
        assert_eq!(
            received,
            COUNT,
            "duplicates or redeliveries:\n{}",
            out.report()
        );
        out.assert_stderr("event: connected");
    }
}

/// The program in README.md ("Using stompws from C") compiles as it stands, and does what it says.
#[test]
fn readme_example() {
    let lib = library();
    let readme = fs::read_to_string(lib.root.join("README.md")).unwrap();
    let code = readme
        .split("```c\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("README.md has a ```c block");
    let dir = lib.out.join("readme");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("hello.c"), code).unwrap();
    let exe = compile_c(
        "readme_hello",
        &[dir.join("hello.c").to_str().unwrap()],
        Build::Shared,
    );
    // It uses the default RabbitMQ address as written, so it runs only where that is
    // the broker's address; the consumer example then takes its message off the queue.
    let Some(url) = rabbitmq_ws() else { return };
    if url != "ws://127.0.0.1:15674/ws" {
        eprintln!("note: README example built, not run (RabbitMQ is at {url})");
        return;
    }
    let out = run(
        &mut Command::new(&exe),
        b"",
        Duration::from_secs(60),
        "README example".into(),
    );
    assert_eq!(out.status, Some(0), "{}", out.report());
    let consumer = Program::build("consumer", &["c-examples/consumer.c"], PLAIN);
    let out = consumer.run(
        Mode::Plain,
        &["-u", &url, "-d", "/queue/hello", "-t", "2000"],
        b"",
    );
    out.assert_stdout("received: Hello, STOMP");
}

// ---------------------------------------------------------------------------------------
// Installing, and building an outside program with pkg-config.

#[test]
fn install_and_build_with_pkg_config() {
    let lib = library();
    let prefix = lib.out.join("install/prefix");
    let _ = fs::remove_dir_all(lib.out.join("install"));
    let installed = run_tool(
        Command::new("bash")
            .arg(lib.root.join(".ci/install"))
            .arg(&prefix)
            .env("CARGO", &lib.cargo)
            .env("CARGO_TARGET_DIR", &lib.target),
        ".ci/install",
    );
    eprintln!("{installed}");
    let libdir = prefix.join("lib");
    for file in [
        "libstompws.so.0.1.0",
        "libstompws.so.0",
        "libstompws.so",
        "libstompws.a",
    ] {
        assert!(libdir.join(file).exists(), "{file} not installed");
    }
    assert!(prefix.join("include/stompws.h").is_file());
    assert_eq!(
        fs::read_link(libdir.join("libstompws.so.0")).unwrap(),
        Path::new("libstompws.so.0.1.0")
    );
    let pc = fs::read_to_string(libdir.join("pkgconfig/stompws.pc")).unwrap();
    assert!(pc.contains("Libs: -L${libdir} -lstompws"), "{pc}");
    assert!(pc.contains(&format!("prefix={}", prefix.display())), "{pc}");
    for placeholder in ["@PREFIX@", "@VERSION@", "@LIBS_PRIVATE@"] {
        assert!(
            !pc.contains(placeholder),
            "{placeholder} was not filled in:\n{pc}"
        );
    }

    let pkg_config = |args: &[&str]| -> Vec<String> {
        let out = run_tool(
            Command::new("pkg-config")
                .args(args)
                .arg("stompws")
                .env("PKG_CONFIG_PATH", libdir.join("pkgconfig")),
            "pkg-config",
        );
        out.split_whitespace().map(String::from).collect()
    };
    assert_eq!(pkg_config(&["--modversion"]), ["0.1.0"]);
    let shared_flags = pkg_config(&["--cflags", "--libs"]);
    let mut static_flags = pkg_config(&["--static", "--cflags", "--libs"]);
    assert!(
        static_flags.len() > shared_flags.len(),
        "no Libs.private: {static_flags:?}"
    );
    // libstompws.so sits beside libstompws.a, and the linker would take it: ask for the
    // archive explicitly.
    for flag in static_flags.iter_mut().filter(|f| *f == "-lstompws") {
        *flag = "-Wl,-Bstatic -lstompws -Wl,-Bdynamic".into();
    }
    let static_flags: Vec<String> = static_flags
        .iter()
        .flat_map(|f| f.split(' ').map(String::from))
        .collect();

    let app = lib.root.join("tests/c/pkg_config_app.c");
    let url = rabbitmq_ws();
    for (name, flags, rpath) in [
        ("app_shared", shared_flags, true),
        ("app_static", static_flags, false),
    ] {
        let exe = lib.out.join("install").join(name);
        let mut cc = Command::new(env::var("CC").unwrap_or_else(|_| "cc".into()));
        cc.args(CFLAGS).arg(&app).arg("-o").arg(&exe).args(&flags);
        if rpath {
            cc.arg(format!("-Wl,-rpath,{}", libdir.display()));
        }
        run_tool(&mut cc, &format!("building {name} with pkg-config"));
        let needed = run_tool(Command::new("readelf").arg("-d").arg(&exe), "readelf");
        assert_eq!(
            needed.contains("[libstompws.so.0]"),
            rpath,
            "{name}: dependency on libstompws.so.0 is wrong:\n{needed}"
        );
        let mut cmd = Command::new(&exe);
        cmd.args(url.iter());
        let out = run(&mut cmd, b"", Duration::from_secs(60), name.into());
        assert_eq!(out.status, Some(0), "{}", out.report());
        out.assert_stdout("stompws 0.1.0");
        if url.is_some() {
            out.assert_stdout("connected");
        }
    }
}

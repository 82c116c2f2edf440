//! The C++ wrapper, run from `cargo test`: builds the release library once (with the
//! same cargo command as tests/c_api.rs and .ci/install, so none of them makes the others
//! rebuild), compiles the C++ test suite (`tests/cpp/`) and the C++ example
//! (`c-examples/chat.cpp`) with `-std=c++17 -Wall -Wextra -Werror -pedantic`, and runs
//! them against RabbitMQ, plainly and built with AddressSanitizer and
//! UndefinedBehaviorSanitizer (`-fsanitize=address,undefined -fno-sanitize-recover=all`):
//! a run passes only with exit status 0, no sanitizer report and no leak. Also builds the
//! example with its Makefile, and checks that `include/stompws.hpp` wraps every function
//! of `include/stompws.h`.
//!
//! Brokers are found as in the other broker tests (`tests/common`): the `STOMPWS_*`
//! variables of `tests/brokers/*.sh env`, or their defaults; a test whose broker does not
//! answer is skipped with a note, unless `STOMPWS_REQUIRE_BROKERS=1` (tests/run.sh sets
//! it), which makes it fail. Needs g++ with its sanitizer runtimes (Debian: g++ brings
//! libasan and libubsan); installs nothing.
//!
//! Compiled programs go to `<target>/cpp-tests/`.

mod common;

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::program::{run, Output};

/// Every C++ file must stay clean under these.
const CXXFLAGS: &[&str] = &[
    "-std=c++17",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-pedantic",
    "-pthread",
    "-g",
    "-O1",
];

/// The sanitizers of the checked build. -fno-sanitize-recover=all makes UBSan end the
/// program at its first finding instead of printing it and going on.
const SANITIZE: &[&str] = &[
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
];

/// The exit status for errors AddressSanitizer or LeakSanitizer found, apart from the
/// programs' own 1 so a failure says which of the two it was.
const ASAN_ERROR_EXIT: i32 = 98;

// ---------------------------------------------------------------------------------------
// The library, built once per test process.

struct Library {
    root: PathBuf,
    /// Where cargo put libstompws.so.
    release: PathBuf,
    /// Holds `libstompws.so` and `libstompws.so.0` links to the built library (its SONAME
    /// is libstompws.so.0, which cargo does not create). Programs link here and have it
    /// on their rpath. Apart from tests/c_api.rs's, which that file recreates.
    link_dir: PathBuf,
    /// `<target>/cpp-tests`: everything this file compiles.
    out: PathBuf,
}

fn library() -> &'static Library {
    static LIBRARY: OnceLock<Library> = OnceLock::new();
    LIBRARY.get_or_init(build_library)
}

fn build_library() -> Library {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = common::library::target_dir(&root);
    common::library::build_release_library(&root, &target);
    let release = target.join("release");
    let out = target.join("cpp-tests");
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
    }
}

// ---------------------------------------------------------------------------------------
// Compiling and running.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Plain,
    Sanitized,
}

const BOTH: &[Mode] = &[Mode::Plain, Mode::Sanitized];

fn cxx() -> String {
    env::var("CXX").unwrap_or_else(|_| "g++".into())
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

/// Compiles a C++ source (path relative to the crate root) into `<out>/<mode>/<name>`.
fn compile_cpp(name: &str, source: &str, mode: Mode) -> PathBuf {
    let lib = library();
    let dir = lib.out.join(format!("{mode:?}").to_lowercase());
    fs::create_dir_all(&dir).unwrap();
    let exe = dir.join(name);
    let mut cmd = Command::new(cxx());
    cmd.args(CXXFLAGS)
        .arg(format!("-I{}", lib.root.join("include").display()))
        .arg(format!("-I{}", lib.root.join("tests/cpp").display()));
    if mode == Mode::Sanitized {
        cmd.args(SANITIZE);
    }
    cmd.arg(lib.root.join(source))
        .arg("-o")
        .arg(&exe)
        .arg(format!("-L{}", lib.link_dir.display()))
        .arg(format!("-Wl,-rpath,{}", lib.link_dir.display()))
        .arg("-lstompws");
    run_tool(&mut cmd, &format!("compiling {source} ({mode:?})"));
    exe
}

/// A C++ program built for each mode it runs in.
struct Program {
    name: String,
    plain: PathBuf,
    sanitized: Option<PathBuf>,
}

impl Program {
    fn build(name: &str, source: &str, modes: &[Mode]) -> Program {
        Program {
            name: name.to_string(),
            plain: compile_cpp(name, source, Mode::Plain),
            sanitized: modes
                .contains(&Mode::Sanitized)
                .then(|| compile_cpp(name, source, Mode::Sanitized)),
        }
    }

    /// Runs it in `mode`; panics unless it exits 0 and, sanitized, no sanitizer reported
    /// an error or a leak.
    fn run(&self, mode: Mode, args: &[&str], stdin: &[u8]) -> Output {
        let lib = library();
        let mut cmd = match mode {
            Mode::Plain => Command::new(&self.plain),
            Mode::Sanitized => {
                let mut cmd = Command::new(self.sanitized.as_ref().expect("built unsanitized"));
                cmd.env(
                    "ASAN_OPTIONS",
                    format!("detect_leaks=1:exitcode={ASAN_ERROR_EXIT}:abort_on_error=0"),
                )
                .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1");
                cmd
            }
        };
        cmd.args(args).current_dir(&lib.root);
        let what = format!("{} {} ({mode:?})", self.name, args.join(" "));
        let out = run(&mut cmd, stdin, Duration::from_secs(300), what);
        let clean = [
            "ERROR: AddressSanitizer",
            "ERROR: LeakSanitizer",
            "runtime error:",
        ]
        .iter()
        .all(|report| !out.stderr.contains(report));
        assert!(
            !out.timed_out && out.status == Some(0) && clean,
            "{}",
            out.report()
        );
        out
    }
}

/// A test program's last line is "N passed, N failed": none may fail, some must pass.
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

/// A destination no other test, run or mode shares.
fn unique(kind: &str, name: &str, mode: Mode) -> String {
    format!(
        "/{kind}/{}",
        common::unique(&format!("stompws-cpp-{name}-{mode:?}"))
    )
}

// ---------------------------------------------------------------------------------------
// The C++ test suite.

/// How many tests tests/cpp/test_wrapper.cpp runs: a run that silently ran fewer fails.
const SUITE_TESTS: usize = 14;

fn wrapper_suite(var: &str) {
    let Some(url) = common::url(var) else { return };
    // One executable per test: tests run in parallel, and two compilers must not write
    // one file at once.
    let name = format!("test_wrapper-{}", var.to_lowercase());
    let program = Program::build(&name, "tests/cpp/test_wrapper.cpp", BOTH);
    for &mode in BOTH {
        let out = program.run(mode, &[&url], b"");
        let passed = assert_suite_passed(&out);
        assert!(
            passed >= SUITE_TESTS,
            "only {passed} tests ran\n{}",
            out.report()
        );
    }
}

#[test]
fn cpp_wrapper_suite_rabbitmq_ws() {
    wrapper_suite("STOMPWS_RABBITMQ_WS");
}

#[test]
fn cpp_wrapper_suite_rabbitmq_tcp() {
    wrapper_suite("STOMPWS_RABBITMQ_TCP");
}

// ---------------------------------------------------------------------------------------
// The example.

#[test]
fn example_chat_cpp_round_trips_stdin() {
    let urls: Vec<String> = ["STOMPWS_RABBITMQ_WS", "STOMPWS_RABBITMQ_TCP"]
        .into_iter()
        .filter_map(common::url)
        .collect();
    if urls.is_empty() {
        return;
    }
    // chat.cpp includes c-examples/example.h from its own folder.
    let program = Program::build("chat-cpp", "c-examples/chat.cpp", BOTH);
    for url in &urls {
        for &mode in BOTH {
            let topic = unique("topic", "chat", mode);
            let out = program.run(
                mode,
                &["-u", url, "-d", &topic, "-t", "10000"],
                b"hello from C++\nsecond line\n",
            );
            // Both lines came back through the broker.
            out.assert_stdout("<guest> hello from C++\n");
            out.assert_stdout("<guest> second line\n");
            out.assert_stderr("2 sent, 2 received");
        }
    }
}

#[test]
fn example_chat_cpp_reports_errors() {
    let program = Program::build("chat-cpp-errors", "c-examples/chat.cpp", &[Mode::Plain]);
    // A refused port: the Error's what() names the call, the result and the peer.
    let out = run(
        Command::new(&program.plain).args(["-u", "tcp://127.0.0.1:1"]),
        b"",
        Duration::from_secs(60),
        "chat-cpp, refused port".into(),
    );
    assert_eq!(out.status, Some(1), "{}", out.report());
    out.assert_stderr("chat: Client::connect: ");
    out.assert_stderr("127.0.0.1:1");
    // -h prints the usage and exits 2.
    let out = run(
        Command::new(&program.plain).arg("-h"),
        b"",
        Duration::from_secs(30),
        "chat-cpp -h".into(),
    );
    assert_eq!(out.status, Some(2), "{}", out.report());
    out.assert_stderr("usage:");
}

#[test]
fn example_chat_cpp_builds_with_makefile() {
    let lib = library();
    let build = lib.out.join("make");
    let _ = fs::remove_dir_all(&build);
    let exe = build.join("chat-cpp");
    // Only the C++ target: tests/c_api.rs builds the whole Makefile.
    run_tool(
        Command::new("make")
            .arg("-C")
            .arg(lib.root.join("c-examples"))
            .arg(format!("BUILD={}", build.display()))
            .arg(format!("LIBDIR={}", lib.release.display()))
            .arg(&exe),
        "make -C c-examples chat-cpp",
    );
    assert!(exe.is_file(), "make did not build {}", exe.display());
    let out = run(
        Command::new(&exe).arg("-h"),
        b"",
        Duration::from_secs(30),
        "chat-cpp (make) -h".into(),
    );
    assert_eq!(out.status, Some(2), "{}", out.report());
    out.assert_stderr("usage:");
}

// ---------------------------------------------------------------------------------------
// The wrapper against the C header.

/// The functions include/stompws.h declares: declarations start at the first column;
/// comments, typedefs and macros do not count.
fn header_functions(header: &str) -> Vec<String> {
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

/// Whether `text` names the identifier `name` (not only a longer one that starts so).
fn mentions(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(at, _)| {
        !text[at + name.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// Every C function has its C++ wrapper, and the functions of issue 12 are switched on
/// in the wrapper once the C header declares all of them.
#[test]
fn hpp_wraps_every_c_function() {
    let lib = library();
    let header = fs::read_to_string(lib.root.join("include/stompws.h")).unwrap();
    let hpp = fs::read_to_string(lib.root.join("include/stompws.hpp")).unwrap();
    let functions = header_functions(&header);
    assert!(functions.len() >= 58, "only {} functions", functions.len());
    let missing: Vec<&String> = functions.iter().filter(|f| !mentions(&hpp, f)).collect();
    assert!(
        missing.is_empty(),
        "include/stompws.hpp does not wrap {missing:?}"
    );
}

/// The header alone, included first, in two translation units of one program: it is
/// self-contained and its inline functions (the extern "C" trampolines too) link once.
#[test]
fn hpp_is_self_contained_and_links_in_two_units() {
    let lib = library();
    let dir = lib.out.join("two-units");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("a.cpp"),
        "#include <stompws.hpp>\n\
         std::string_view a_version() { return stompws::library_version(); }\n",
    )
    .unwrap();
    fs::write(
        dir.join("b.cpp"),
        "#include <stompws.hpp>\n\
         #include <cstdio>\n\
         std::string_view a_version();\n\
         int main() {\n\
         \x20   stompws::Config config;\n\
         \x20   config.debug([](std::string_view) {}).on_event([](stompws_event, std::string_view) {});\n\
         \x20   try {\n\
         \x20       config.versions(\"9.9\");\n\
         \x20   } catch (const stompws::Error &e) {\n\
         \x20       std::printf(\"%s %d\\n\", std::string(a_version()).c_str(), static_cast<int>(e.code()));\n\
         \x20       return 0;\n\
         \x20   }\n\
         \x20   return 1;\n\
         }\n",
    )
    .unwrap();
    let exe = dir.join("two-units");
    run_tool(
        Command::new(cxx())
            .args(CXXFLAGS)
            .arg(format!("-I{}", lib.root.join("include").display()))
            .arg(dir.join("a.cpp"))
            .arg(dir.join("b.cpp"))
            .arg("-o")
            .arg(&exe)
            .arg(format!("-L{}", lib.link_dir.display()))
            .arg(format!("-Wl,-rpath,{}", lib.link_dir.display()))
            .arg("-lstompws"),
        "compiling two units that include stompws.hpp",
    );
    let out = run(
        &mut Command::new(&exe),
        b"",
        Duration::from_secs(30),
        "two-units".into(),
    );
    assert_eq!(out.status, Some(0), "{}", out.report());
    out.assert_stdout(&format!("{} 2", env!("CARGO_PKG_VERSION")));
}

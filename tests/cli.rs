//! The `stompws` command line (src/bin/stompws/), run as a program: built once per test
//! process with `cargo build --release --features cli --bin stompws`, then run against
//! RabbitMQ (TCP and WebSocket) and ActiveMQ (TCP), checking its output and its exit
//! statuses (API.md, "Command line: `stompws`").
//!
//! Brokers are found as in the other broker tests (`tests/common`): the `STOMPWS_*`
//! variables of `tests/brokers/*.sh env`, or their defaults; a test whose broker does not
//! answer is skipped with a note, unless `STOMPWS_REQUIRE_BROKERS=1` (tests/run.sh sets
//! it), which makes it fail. The usage-error and unreachable-port tests need no broker.

mod common;

use std::collections::BTreeMap;
use std::env;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use common::{unique, GUEST, READ_ONLY};
use stompws::{AckMode, Client, Config};

/// Exit status of a usage error.
const USAGE: i32 = 64;
/// The `stompws_result` numbers the tests expect as exit statuses.
const INVALID_ARGUMENT: i32 = 2;
const TIMEOUT: i32 = 3;
const SERVER_ERROR: i32 = 5;
const IO: i32 = 8;

/// Longest a single run of the program may take before the test kills it and fails.
const RUN_LIMIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// The program, built once per test process.

fn program() -> &'static Path {
    static PROGRAM: OnceLock<PathBuf> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let target = common::library::target_dir(&root);
        let cargo = common::library::cargo();
        // A nested cargo is safe: `cargo test` releases the build directory lock before
        // it runs test binaries.
        let output = Command::new(&cargo)
            .current_dir(&root)
            .env("CARGO_TARGET_DIR", &target)
            .args([
                "build",
                "--release",
                "--features",
                "cli",
                "--bin",
                "stompws",
            ])
            .stdin(Stdio::null())
            .output()
            .expect("cannot run cargo");
        assert!(
            output.status.success(),
            "cargo build --release --features cli --bin stompws failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let exe = target.join("release/stompws");
        assert!(exe.is_file(), "{} was not built", exe.display());
        exe
    })
}

// ---------------------------------------------------------------------------------------
// Running it.

/// What one run of the program did.
struct Out {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
    elapsed: Duration,
}

impl Out {
    fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Panics, showing the run, unless it exited with `code`.
    #[track_caller]
    fn expect(self, code: i32) -> Out {
        assert_eq!(
            self.code,
            code,
            "expected exit status {code}\nstdout: {}\nstderr: {}",
            self.stdout_text(),
            self.stderr
        );
        self
    }
}

/// Runs `stompws ARGS` with `stdin` as its standard input, the variables in `envs` set
/// and STOMPWS_LOGIN / STOMPWS_PASSCODE otherwise unset; kills it and fails after
/// [`RUN_LIMIT`].
fn run_env<S: AsRef<OsStr>>(args: &[S], stdin: &[u8], envs: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(program());
    cmd.args(args)
        .env_remove("STOMPWS_LOGIN")
        .env_remove("STOMPWS_PASSCODE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("cannot start stompws");
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    // A program that exits without reading its input makes this write fail: ignored.
    let writer = thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_reader = thread::spawn(move || {
        let mut v = Vec::new();
        out_pipe.read_to_end(&mut v).map(|_| v)
    });
    let err_reader = thread::spawn(move || {
        let mut v = Vec::new();
        err_pipe.read_to_end(&mut v).map(|_| v)
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "stompws {:?} ran longer than {RUN_LIMIT:?}",
                args.iter().map(|a| a.as_ref()).collect::<Vec<_>>()
            );
        }
        thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    writer.join().unwrap();
    let stdout = out_reader.join().unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap().unwrap()).into_owned();
    Out {
        code: status
            .code()
            .unwrap_or_else(|| panic!("stompws ended by a signal: {status:?}\n{stderr}")),
        stdout,
        stderr,
        elapsed,
    }
}

fn run<S: AsRef<OsStr>>(args: &[S]) -> Out {
    run_env(args, b"", &[])
}

/// `args` with `--login L --passcode P` after the subcommand (so before a `--`).
fn with_login(args: &[&str], (login, passcode): (&str, &str)) -> Vec<String> {
    let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let at = 1.min(v.len());
    v.splice(
        at..at,
        ["--login", login, "--passcode", passcode].map(String::from),
    );
    v
}

// ---------------------------------------------------------------------------------------
// Reading its JSON: a small parser for what `--json` may print (objects, strings, null),
// so the tests check the output is JSON and not only that it contains some text.

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Str(String),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }
}

fn parse_json_line(line: &str) -> Json {
    let mut p = JsonParser {
        s: line.as_bytes(),
        i: 0,
    };
    let v = p.value();
    assert_eq!(p.i, p.s.len(), "trailing text after the JSON value: {line}");
    v
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn peek(&self) -> u8 {
        *self
            .s
            .get(self.i)
            .unwrap_or_else(|| panic!("JSON ends early: {}", String::from_utf8_lossy(self.s)))
    }

    fn eat(&mut self, c: u8) {
        assert_eq!(self.peek() as char, c as char, "at byte {}", self.i);
        self.i += 1;
    }

    fn value(&mut self) -> Json {
        match self.peek() {
            b'"' => Json::Str(self.string()),
            b'n' => {
                assert_eq!(&self.s[self.i..self.i + 4], b"null");
                self.i += 4;
                Json::Null
            }
            b'{' => {
                self.eat(b'{');
                let mut members = Vec::new();
                if self.peek() == b'}' {
                    self.i += 1;
                    return Json::Obj(members);
                }
                loop {
                    let key = self.string();
                    self.eat(b':');
                    members.push((key, self.value()));
                    match self.peek() {
                        b',' => self.i += 1,
                        _ => {
                            self.eat(b'}');
                            return Json::Obj(members);
                        }
                    }
                }
            }
            c => panic!("unexpected {:?} at byte {}", c as char, self.i),
        }
    }

    fn string(&mut self) -> String {
        self.eat(b'"');
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = self.peek();
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).expect("JSON strings are UTF-8"),
                b'\\' => {
                    let e = self.peek();
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'u' => {
                            let hex = std::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
                            self.i += 4;
                            char::from_u32(u32::from_str_radix(hex, 16).unwrap())
                                .expect("no surrogates in this output")
                        }
                        other => panic!("bad escape \\{}", other as char),
                    };
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                }
                c if c < 0x20 => panic!("raw control character {c:#x} in a JSON string"),
                c => out.push(c),
            }
        }
    }
}

/// Standard base64 with padding, decoded (strictly: a bad character fails the test).
fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {:?}", c as char),
        }
    };
    assert_eq!(s.len() % 4, 0, "base64 length {}", s.len());
    let mut out = Vec::new();
    for quad in s.as_bytes().chunks(4) {
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            n = (n << 6) | value(c);
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    out
}

// ---------------------------------------------------------------------------------------
// Helpers over the Rust API, the independent side of each check.

fn api_client(url: &str, (login, passcode): (&str, &str)) -> Client {
    Client::connect(url, &Config::new().login(login, passcode)).unwrap()
}

fn api_send(url: &str, login: (&str, &str), dest: &str, bodies: &[&[u8]]) {
    let c = api_client(url, login);
    for body in bodies {
        c.send_with_receipt(dest, &[], body).unwrap();
    }
    c.disconnect().unwrap();
}

/// Bytes no text encoding would keep: NULs (leading, trailing, doubled), every byte
/// value, line breaks and a STOMP frame terminator followed by more data.
fn binary_body() -> Vec<u8> {
    let mut body = vec![0u8, 0, b'\n'];
    body.extend(0..=255u8);
    body.extend_from_slice(b"\0\nSEND\ndestination:/queue/x\n\n\0");
    body.extend((0..=255u8).rev());
    body.extend_from_slice(&[0xff, 0xfe, 0, 0]);
    body
}

/// A port on 127.0.0.1 where nothing listens (it did a moment ago).
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------------
// Without a broker.

#[test]
fn help_and_version() {
    for args in [&["--help"][..], &["help"], &["-h"], &["send", "--help"]] {
        let out = run(args).expect(0);
        let text = out.stdout_text();
        assert!(text.contains("stompws send URL DEST [BODY]"), "{text}");
        assert!(text.contains("--ack MODE"), "{text}");
        assert!(out.stderr.is_empty(), "{}", out.stderr);
    }
    let out = run(&["--version"]).expect(0);
    assert_eq!(
        out.stdout_text(),
        format!("stompws {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_64_with_a_message() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "subcommand is missing"),
        (
            &["publish", "tcp://127.0.0.1:1", "/queue/a"],
            "unknown subcommand",
        ),
        (
            &["--debug", "ping", "tcp://127.0.0.1:1"],
            "follow the subcommand",
        ),
        (&["ping"], "URL is missing"),
        (&["send", "tcp://127.0.0.1:1"], "DEST is missing"),
        (
            &["subscribe", "tcp://127.0.0.1:1", "/q", "x"],
            "unexpected argument",
        ),
        (
            &["ping", "tcp://127.0.0.1:1", "--bogus"],
            "unknown option --bogus",
        ),
        (
            &["subscribe", "tcp://127.0.0.1:1", "/q", "--ack", "sometimes"],
            "sometimes",
        ),
        (
            &["subscribe", "tcp://127.0.0.1:1", "/q", "--count", "0"],
            "--count",
        ),
        (
            &["subscribe", "tcp://127.0.0.1:1", "/q", "--timeout", "soon"],
            "--timeout",
        ),
        (
            &["subscribe", "tcp://127.0.0.1:1", "/q", "--timeout"],
            "needs a value",
        ),
        (
            &["ping", "tcp://127.0.0.1:1", "--heartbeat", "1000"],
            "--heartbeat",
        ),
        (
            &["send", "tcp://127.0.0.1:1", "/q", "-H", "novalue"],
            "NAME:VALUE",
        ),
        (
            &["send", "tcp://127.0.0.1:1", "/q", "--count", "1"],
            "does not apply",
        ),
        (
            &["subscribe", "tcp://127.0.0.1:1", "/q", "--receipt"],
            "does not apply",
        ),
        (&["ping", "tcp://127.0.0.1:1", "--json"], "does not apply"),
        (
            &["ping", "tcp://127.0.0.1:1", "--passcode", "p"],
            "without a login",
        ),
    ];
    for (args, says) in cases {
        let out = run(args);
        assert_eq!(out.code, USAGE, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("stompws --help"), "{}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // A passcode from the environment without a login is the same mistake.
    let out = run_env(
        &["ping", "tcp://127.0.0.1:1"],
        b"",
        &[("STOMPWS_PASSCODE", "p")],
    );
    assert_eq!(out.code, USAGE, "{}", out.stderr);
}

#[test]
fn a_bad_url_is_an_invalid_argument() {
    for url in ["http://127.0.0.1:1/", "ftp://127.0.0.1", "tcp://"] {
        let out = run(&["ping", url]).expect(INVALID_ARGUMENT);
        assert!(out.stderr.contains("invalid argument"), "{}", out.stderr);
    }
}

#[test]
fn an_unreachable_port_is_an_io_error_naming_the_peer() {
    let port = closed_port();
    for url in [
        format!("tcp://127.0.0.1:{port}"),
        format!("ws://127.0.0.1:{port}/ws"),
    ] {
        let out = run(&["send", &url, "/queue/a", "x"]).expect(IO);
        assert!(
            out.stderr.contains(&format!("127.0.0.1:{port}")),
            "{}",
            out.stderr
        );
        assert!(out.stdout.is_empty());
        run(&["ping", &url]).expect(IO);
        run(&["subscribe", &url, "/queue/a", "--timeout", "1"]).expect(IO);
    }
}

// ---------------------------------------------------------------------------------------
// Against the brokers.

/// send takes a binary body (NULs included) from standard input and the broker gets it
/// byte for byte; subscribe prints binary bodies byte for byte (raw) and as base64
/// (`--json`), text bodies as JSON strings with the headers.
fn binary_bodies_are_byte_exact(url: &str, login: (&str, &str)) {
    let body = binary_body();
    let q = format!("/queue/{}", unique("cli-bin"));

    // CLI -> broker -> Rust API
    let out = run_env(
        &with_login(&["send", url, &q, "--receipt"], login),
        &body,
        &[],
    )
    .expect(0);
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        out.stderr
    );
    let c = api_client(url, login);
    let sub = c.subscribe(&q, AckMode::Auto, &[]).unwrap();
    let got = sub.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(got.body(), &body[..], "the body sent from stdin changed");
    drop(sub);
    c.disconnect().unwrap();

    // Rust API -> broker -> CLI --json: base64
    api_send(url, login, &q, &[&body]);
    let args = [
        "subscribe",
        url,
        &q,
        "--json",
        "--count",
        "1",
        "--timeout",
        "10",
    ];
    let out = run(&with_login(&args, login)).expect(0);
    let text = out.stdout_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let msg = parse_json_line(lines[0]);
    assert_eq!(msg.get("destination").map(Json::str), Some(q.as_str()));
    assert_eq!(msg.get("body"), None, "{text}");
    let b64 = msg.get("body_base64").expect("body_base64").str();
    assert_eq!(base64_decode(b64), body);

    // Rust API -> broker -> CLI: the raw body and a newline
    api_send(url, login, &q, &[&body]);
    let args = ["subscribe", url, &q, "--count", "1", "--timeout", "10"];
    let out = run(&with_login(&args, login)).expect(0);
    let mut expected = body.clone();
    expected.push(b'\n');
    assert_eq!(out.stdout, expected);

    // Text from the BODY argument with a header -> CLI --json: a JSON string
    let text_body = "line 1\n\"quoted\" \\ tab\t é ✓";
    let args = [
        "send",
        url,
        &q,
        "-H",
        "x-cli-test:a:b\\c",
        "--receipt",
        "--",
        text_body,
    ];
    run(&with_login(&args, login)).expect(0);
    let args = [
        "subscribe",
        url,
        &q,
        "--json",
        "--count",
        "1",
        "--timeout",
        "10",
    ];
    let out = run(&with_login(&args, login)).expect(0);
    let text = out.stdout_text();
    assert!(text.ends_with("}\n") && text.lines().count() == 1, "{text}");
    let msg = parse_json_line(text.trim_end_matches('\n'));
    assert_eq!(msg.get("body").map(Json::str), Some(text_body), "{text}");
    assert_eq!(msg.get("body_base64"), None);
    let headers = msg.get("headers").expect("headers");
    assert_eq!(
        headers.get("x-cli-test").map(Json::str),
        Some("a:b\\c"),
        "{text}"
    );
    assert_eq!(headers.get("destination").map(Json::str), Some(q.as_str()));
    assert!(headers.get("message-id").is_some(), "{text}");
}

#[test]
fn rabbitmq_tcp_binary_bodies_are_byte_exact() {
    let url = require!("STOMPWS_RABBITMQ_TCP");
    binary_bodies_are_byte_exact(&url, GUEST);
}

#[test]
fn rabbitmq_ws_binary_bodies_are_byte_exact() {
    let url = require!("STOMPWS_RABBITMQ_WS");
    binary_bodies_are_byte_exact(&url, GUEST);
}

#[test]
fn activemq_binary_bodies_are_byte_exact() {
    let url = require!("STOMPWS_ACTIVEMQ_TCP");
    binary_bodies_are_byte_exact(&url, GUEST);
}

/// --count stops after N (exit 0, without waiting for --timeout); --timeout ends it
/// before N with exit 3, and alone with exit 0; client-individual and client acks the
/// printed messages (nothing comes again) and leaves the rest queued.
fn count_timeout_and_acks(url: &str, login: (&str, &str)) {
    let q = format!("/queue/{}", unique("cli-count"));
    api_send(url, login, &q, &[b"m0", b"m1", b"m2"]);

    let args = [
        "subscribe",
        url,
        &q,
        "--ack",
        "client-individual",
        "--count",
        "2",
        "--timeout",
        "20",
    ];
    let out = run(&with_login(&args, login)).expect(0);
    assert_eq!(out.stdout_text(), "m0\nm1\n");
    assert!(out.elapsed < Duration::from_secs(15), "{:?}", out.elapsed);

    // m2 was delivered to the first subscriber but not acked: it comes again, and only it.
    let args = [
        "subscribe",
        url,
        &q,
        "--ack",
        "client-individual",
        "--count",
        "5",
        "--timeout",
        "1.5",
    ];
    let out = run(&with_login(&args, login)).expect(TIMEOUT);
    assert_eq!(out.stdout_text(), "m2\n");
    assert!(out.stderr.contains("timeout"), "{}", out.stderr);
    assert!(
        out.elapsed >= Duration::from_millis(1500),
        "{:?}",
        out.elapsed
    );

    // Everything was acked: a third subscriber gets nothing; --timeout alone exits 0.
    let args = ["subscribe", url, &q, "--timeout", "1"];
    let out = run(&with_login(&args, login)).expect(0);
    assert!(out.stdout.is_empty(), "redelivered: {}", out.stdout_text());

    // ack:client acks cumulatively what was printed.
    api_send(url, login, &q, &[b"c0", b"c1"]);
    let args = [
        "subscribe",
        url,
        &q,
        "--ack",
        "client",
        "--count",
        "2",
        "--timeout",
        "20",
    ];
    let out = run(&with_login(&args, login)).expect(0);
    assert_eq!(out.stdout_text(), "c0\nc1\n");
    let args = ["subscribe", url, &q, "--timeout", "1"];
    let out = run(&with_login(&args, login)).expect(0);
    assert!(out.stdout.is_empty(), "redelivered: {}", out.stdout_text());
}

#[test]
fn rabbitmq_count_timeout_and_acks() {
    let url = require!("STOMPWS_RABBITMQ_TCP");
    count_timeout_and_acks(&url, GUEST);
}

#[test]
fn activemq_count_timeout_and_acks() {
    let url = require!("STOMPWS_ACTIVEMQ_TCP");
    count_timeout_and_acks(&url, GUEST);
}

/// A refused login exits 5 with the broker's text; `--debug` shows the CONNECT frame
/// with the passcode hidden, on a refused login and on a good one.
fn bad_login_and_debug(url: &str, says: &str) {
    let secret = "no-such-passcode-4711";
    let out = run(&with_login(&["ping", url, "--debug"], ("guest", secret))).expect(SERVER_ERROR);
    assert!(out.stderr.contains(says), "{}", out.stderr);
    assert!(out.stderr.contains(">>> CONNECT"), "{}", out.stderr);
    assert!(out.stderr.contains("passcode:********"), "{}", out.stderr);
    assert!(!out.stderr.contains(secret), "{}", out.stderr);
    assert!(out.stdout.is_empty());
    // The same through the environment, and for every subcommand.
    let env = [("STOMPWS_LOGIN", "guest"), ("STOMPWS_PASSCODE", secret)];
    run_env(&["send", url, "/queue/cli-never", "x"], b"", &env).expect(SERVER_ERROR);
    run_env(&["subscribe", url, "/queue/cli-never"], b"", &env).expect(SERVER_ERROR);

    let out = run(&with_login(&["ping", url, "--debug"], GUEST)).expect(0);
    assert!(out.stderr.contains(">>> CONNECT"), "{}", out.stderr);
    assert!(out.stderr.contains("<<< CONNECTED"), "{}", out.stderr);
    assert!(!out.stderr.contains("passcode:guest"), "{}", out.stderr);
}

#[test]
fn rabbitmq_bad_login() {
    let url = require!("STOMPWS_RABBITMQ_TCP");
    bad_login_and_debug(&url, "Access refused");
}

#[test]
fn activemq_bad_login() {
    let url = require!("STOMPWS_ACTIVEMQ_TCP");
    bad_login_and_debug(&url, "password is invalid");
}

#[test]
fn activemq_login_comes_from_the_environment() {
    // ActiveMQ refuses a CONNECT without login, so the variables are what makes it work.
    let url = require!("STOMPWS_ACTIVEMQ_TCP");
    run(&["ping", &url]).expect(SERVER_ERROR);
    let env = [("STOMPWS_LOGIN", GUEST.0), ("STOMPWS_PASSCODE", GUEST.1)];
    let out = run_env(&["ping", &url], b"", &env).expect(0);
    assert!(out.stdout_text().contains("version: 1.2"));
    // An option wins over the variable.
    let args = ["ping", url.as_str(), "--passcode", "wrong-passcode"];
    run_env(&args, b"", &env).expect(SERVER_ERROR);
}

/// The lines of `ping`, as a map from name to value.
fn ping(url: &str, extra: &[&str], login: (&str, &str)) -> BTreeMap<String, String> {
    let mut args = vec!["ping", url];
    args.extend_from_slice(extra);
    let out = run(&with_login(&args, login)).expect(0);
    let text = out.stdout_text();
    let lines: BTreeMap<String, String> = text
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(": ").unwrap_or_else(|| panic!("{text}"));
            (k.to_string(), v.to_string())
        })
        .collect();
    let names: Vec<&str> = text.lines().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        names,
        ["version", "server", "session", "heart-beat", "rtt_ms"],
        "{text}"
    );
    let rtt: f64 = lines["rtt_ms"].parse().unwrap_or_else(|_| panic!("{text}"));
    assert!(rtt > 0.0 && rtt < 30_000.0, "{text}");
    lines
}

fn heartbeat(lines: &BTreeMap<String, String>) -> (u32, u32) {
    let (a, b) = lines["heart-beat"].split_once(',').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

fn ping_prints_the_session(url: &str, server: &str) {
    let lines = ping(url, &[], GUEST);
    assert_eq!(lines["version"], "1.2");
    assert!(lines["server"].starts_with(server), "{lines:?}");
    assert!(!lines["session"].is_empty() && lines["session"] != "(none)");
    // Asked for 10000,10000 by default: both directions on, at least that long.
    let (out, inc) = heartbeat(&lines);
    assert!(out >= 10_000 && inc >= 10_000, "{lines:?}");

    let lines = ping(url, &["--heartbeat", "0,0"], GUEST);
    assert_eq!(lines["heart-beat"], "0,0");
    let lines = ping(url, &["--heartbeat", "0,3000"], GUEST);
    let (out, inc) = heartbeat(&lines);
    assert!(out == 0 && inc >= 3000, "{lines:?}");

    let lines = ping(url, &["--versions", "1.1"], GUEST);
    assert_eq!(lines["version"], "1.1");
    let lines = ping(url, &["--versions", "1.0"], GUEST);
    assert_eq!(lines["version"], "1.0");
    assert_eq!(lines["heart-beat"], "0,0");
}

#[test]
fn rabbitmq_ping() {
    let url = require!("STOMPWS_RABBITMQ_TCP");
    ping_prints_the_session(&url, "RabbitMQ/");
    let url = require!("STOMPWS_RABBITMQ_WS");
    ping_prints_the_session(&url, "RabbitMQ/");
    // The vhost: one the user has rights on works, an unknown one is refused.
    let url = require!("STOMPWS_RABBITMQ_TCP");
    ping(&url, &["--host", common::RABBITMQ_VHOST], GUEST);
    let out = run(&with_login(
        &["ping", &url, "--host", "no-such-vhost"],
        GUEST,
    ));
    assert_eq!(out.code, SERVER_ERROR, "{}", out.stderr);
}

#[test]
fn activemq_ping() {
    let url = require!("STOMPWS_ACTIVEMQ_TCP");
    ping_prints_the_session(&url, "ActiveMQ/");
}

#[test]
fn library_rejections_are_invalid_arguments() {
    let url = require!("STOMPWS_RABBITMQ_TCP");
    let q = format!("/queue/{}", unique("cli-bad"));
    // destination and content-length are the library's headers.
    for header in ["content-length:3", "destination:/queue/other"] {
        let out = run(&with_login(&["send", &url, &q, "-H", header, "x"], GUEST));
        assert_eq!(out.code, INVALID_ARGUMENT, "{header}: {}", out.stderr);
    }
    let out = run(&with_login(&["ping", &url, "--versions", "2.0"], GUEST));
    assert_eq!(out.code, INVALID_ARGUMENT, "{}", out.stderr);
}

/// A SEND the broker refuses (a user without write rights) exits 5 with its text.
#[test]
fn rabbitmq_refused_send_is_a_server_error() {
    // RabbitMQ's ERROR names no receipt and it closes the connection: the waiting send
    // sees only the close, and the program still reports the ERROR.
    let url = require!("STOMPWS_RABBITMQ_TCP");
    let q = format!("/queue/{}", unique("cli-ro"));
    let args = ["send", url.as_str(), q.as_str(), "refused", "--receipt"];
    let out = run(&with_login(&args, READ_ONLY)).expect(SERVER_ERROR);
    assert!(out.stderr.contains("ACCESS_REFUSED"), "{}", out.stderr);
}

#[test]
fn activemq_refused_send_is_a_server_error() {
    // ActiveMQ's ERROR carries the refused SEND's receipt-id.
    let url = require!("STOMPWS_ACTIVEMQ_TCP");
    let q = format!("/queue/{}", unique("cli-ro"));
    let args = ["send", url.as_str(), q.as_str(), "refused", "--receipt"];
    let out = run(&with_login(&args, READ_ONLY)).expect(SERVER_ERROR);
    assert!(out.stderr.contains("not authorized"), "{}", out.stderr);
}

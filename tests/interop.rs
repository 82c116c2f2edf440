//! Interop with a client nobody here wrote: stomp.py 9.0.0 (installed by tests/run.sh
//! into a venv, `STOMPWS_PYTHON`). Headers with `:`, `\n`, `\` and multi-byte UTF-8 and
//! a 5 MiB body of arbitrary bytes must cross intact in both directions: stomp.py over
//! TCP, stompws over WebSocket, through RabbitMQ.

mod common;
mod ops;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{unique, GUEST};
use ops::config;
use stompws::{AckMode, Client};

/// Sends or receives one message with stomp.py. Headers go as JSON; the body as a file.
const SCRIPT: &str = r#"
import json, sys, time, threading
import stomp

mode, host, port, dest, body_path, headers_path = sys.argv[1:7]
# vhost "/": stomp.py would send the host name as `host`, which RabbitMQ reads as a vhost.
conn = stomp.Connection12([(host, int(port))], vhost="/", auto_decode=False, heartbeats=(0, 0))
got = threading.Event()
result = {}

class Listener(stomp.ConnectionListener):
    def on_message(self, frame):
        result["headers"] = frame.headers
        with open(body_path, "wb") as f:
            f.write(frame.body)
        got.set()

conn.set_listener("l", Listener())
conn.connect("guest", "guest", wait=True)
if mode == "send":
    with open(headers_path) as f:
        headers = json.load(f)
    with open(body_path, "rb") as f:
        body = f.read()
    conn.send(destination=dest, body=body, headers=headers, receipt="py-sent")
    time.sleep(0.5)
else:
    conn.subscribe(destination=dest, id="py-sub", ack="auto", headers={"receipt": "py-subscribed"})
    print("subscribed", flush=True)
    if not got.wait(30):
        sys.exit("no message within 30 s")
    with open(headers_path, "w") as f:
        json.dump(result["headers"], f)
conn.disconnect()
"#;

fn python() -> String {
    std::env::var("STOMPWS_PYTHON").unwrap_or_else(|_| "/tmp/stompws-venv/bin/python".into())
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("stompws-interop-{}-{name}", std::process::id()))
}

fn script() -> PathBuf {
    let p = tmp("script.py");
    std::fs::write(&p, SCRIPT).unwrap();
    p
}

fn tricky_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("x-colon", "a:b:c"),
        ("x-newline", "line1\nline2"),
        ("x-backslash", "back\\slash\\"),
        ("x-utf8", "héllo wörld ✓ 日本"),
        ("x-all", "k:v\\n\n é"),
    ]
}

fn arbitrary_body() -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    let mut body: Vec<u8> = (0..5 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    body[..4].copy_from_slice(&[0, 0xFF, 0, 0xFE]);
    body
}

fn tcp_host_port() -> (String, String) {
    let url = require!("STOMPWS_RABBITMQ_TCP", ("".into(), "".into()));
    let (h, p) = common::host_port(&url);
    (h, p.to_string())
}

fn has_python() -> bool {
    let ok = Command::new(python())
        .args(["-c", "import stomp"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !common::brokers_required(),
            "stomp.py is not installed at {} (tests/run.sh installs it)",
            python()
        );
        eprintln!("skipping: no stomp.py at {}", python());
    }
    ok
}

#[test]
fn stomppy_to_stompws_is_byte_exact() {
    let ws = require!("STOMPWS_RABBITMQ_WS");
    let (host, port) = tcp_host_port();
    if host.is_empty() || !has_python() {
        return;
    }
    let q = format!("/queue/{}", unique("py2ws"));
    let client = Client::connect(&ws, &config(GUEST)).unwrap();
    let sub = client
        .subscribe(&q, AckMode::Auto, &[("receipt", &unique("r"))])
        .unwrap();

    let body = arbitrary_body();
    let (body_path, headers_path) = (tmp("p2w.body"), tmp("p2w.json"));
    std::fs::write(&body_path, &body).unwrap();
    let json: Vec<String> = tricky_headers()
        .iter()
        .map(|(k, v)| format!("{k:?}: {}", json_string(v)))
        .collect();
    std::fs::write(&headers_path, format!("{{{}}}", json.join(", "))).unwrap();
    let status = Command::new(python())
        .arg(script())
        .args(["send", &host, &port, &q])
        .arg(&body_path)
        .arg(&headers_path)
        .status()
        .unwrap();
    assert!(status.success());

    let m = sub.recv_timeout(Duration::from_secs(30)).unwrap();
    for (k, v) in tricky_headers() {
        assert_eq!(m.header(k), Some(v), "header {k}");
    }
    assert_eq!(m.body().len(), body.len());
    assert!(m.body() == body.as_slice(), "the body differs");
    client.disconnect().unwrap();
}

#[test]
fn stompws_to_stomppy_is_byte_exact() {
    let ws = require!("STOMPWS_RABBITMQ_WS");
    let (host, port) = tcp_host_port();
    if host.is_empty() || !has_python() {
        return;
    }
    let q = format!("/queue/{}", unique("ws2py"));
    let (body_path, headers_path) = (tmp("w2p.body"), tmp("w2p.json"));
    let mut child = Command::new(python())
        .arg(script())
        .args(["recv", &host, &port, &q])
        .arg(&body_path)
        .arg(&headers_path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until stomp.py has subscribed (queues keep messages anyway, but be exact).
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "subscribed");

    let body = arbitrary_body();
    let client = Client::connect(&ws, &config(GUEST)).unwrap();
    client
        .send_with_receipt(&q, &tricky_headers(), &body)
        .unwrap();
    client.disconnect().unwrap();

    assert!(child.wait().unwrap().success());
    let got = std::fs::read(&body_path).unwrap();
    assert_eq!(got.len(), body.len());
    assert!(got == body, "the body differs");
    let headers = std::fs::read_to_string(&headers_path).unwrap();
    for (k, v) in tricky_headers() {
        let want = format!("{k:?}: {}", json_string(v));
        assert!(headers.contains(&want), "{want} not in {headers}");
    }
}

/// JSON string literal as Python's json.dump writes it (ensure_ascii).
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

//! The stompws driver for the shared benchmark harness (`../shared/bench`), run by
//! `benches/harness.sh`. Contract: `bench_driver URL SCENARIO N SIZE`, one JSON line on
//! stdout, diagnostics on stderr, non-zero exit on any failure. It uses only the public
//! API, the way an application would.

use std::process::exit;
use std::time::{Duration, Instant};

use stompws::{AckMode, Client, Config};

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("driver error: {msg}");
    exit(1)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 4 {
        fail("usage: bench_driver URL SCENARIO N SIZE");
    }
    let (url, scenario) = (&args[0], args[1].as_str());
    let n: u64 = args[2].parse().unwrap_or_else(|_| fail("bad N"));
    let size: usize = args[3].parse().unwrap_or_else(|_| fail("bad SIZE"));
    let transport = if url.starts_with("ws") { "ws" } else { "tcp" };
    let body: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    let config = Config::new()
        .heartbeat(0, 0)
        .receipt_timeout(Duration::from_secs(120));
    let client = Client::connect(url, &config).unwrap_or_else(|e| fail(format!("connect: {e}")));
    let wait = Duration::from_secs(120);
    let (secs, mut lat) = match scenario {
        "publish" => {
            let t0 = Instant::now();
            for _ in 0..n {
                client
                    .send("/queue/bench", &[], &body)
                    .unwrap_or_else(|e| fail(format!("send: {e}")));
            }
            client
                .send_with_receipt("/queue/bench", &[], &body)
                .unwrap_or_else(|e| fail(format!("last send: {e}")));
            (t0.elapsed().as_secs_f64(), None)
        }
        "consume" => {
            let (count, sz) = (n.to_string(), size.to_string());
            let t0 = Instant::now();
            let sub = client
                .subscribe(
                    "/queue/firehose",
                    AckMode::Auto,
                    &[("x-count", &count), ("x-size", &sz)],
                )
                .unwrap_or_else(|e| fail(format!("subscribe: {e}")));
            let mut got = 0u64;
            loop {
                let m = sub
                    .recv_timeout(wait)
                    .unwrap_or_else(|e| fail(format!("receive after {got} messages: {e}")));
                if m.header("x-last") == Some("true") {
                    break;
                }
                if m.body().len() != size {
                    fail(format!("body of {} bytes, expected {size}", m.body().len()));
                }
                got += 1;
            }
            let secs = t0.elapsed().as_secs_f64();
            if got != n {
                fail(format!("received {got} messages, expected {n}"));
            }
            (secs, None)
        }
        "rtt" => {
            let mut lat = Vec::with_capacity(n as usize);
            let t0 = Instant::now();
            for _ in 0..n {
                let t = Instant::now();
                client
                    .send_with_receipt("/queue/bench", &[], &body)
                    .unwrap_or_else(|e| fail(format!("send with receipt: {e}")));
                lat.push(t.elapsed().as_nanos() as u64);
            }
            (t0.elapsed().as_secs_f64(), Some(lat))
        }
        "echo" => {
            let sub = client
                .subscribe("/queue/echo", AckMode::Auto, &[("receipt", "sub")])
                .unwrap_or_else(|e| fail(format!("subscribe: {e}")));
            let mut lat = Vec::with_capacity(n as usize);
            let t0 = Instant::now();
            for _ in 0..n {
                let t = Instant::now();
                client
                    .send("/queue/echo", &[], &body)
                    .unwrap_or_else(|e| fail(format!("send: {e}")));
                let m = sub
                    .recv_timeout(wait)
                    .unwrap_or_else(|e| fail(format!("echo: {e}")));
                if m.body().len() != size {
                    fail(format!(
                        "echo body of {} bytes, expected {size}",
                        m.body().len()
                    ));
                }
                lat.push(t.elapsed().as_nanos() as u64);
            }
            (t0.elapsed().as_secs_f64(), Some(lat))
        }
        other => fail(format!("unknown scenario {other}")),
    };
    client
        .disconnect()
        .unwrap_or_else(|e| fail(format!("disconnect: {e}")));
    let (p50, p99) = match lat.as_mut() {
        Some(v) if !v.is_empty() => {
            v.sort_unstable();
            let pick = |p: f64| {
                let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
                format!("{:.1}", v[rank.clamp(1, v.len()) - 1] as f64 / 1000.0)
            };
            (pick(50.0), pick(99.0))
        }
        _ => ("null".into(), "null".into()),
    };
    println!(
        "{{\"client\":\"stompws\",\"transport\":\"{transport}\",\"scenario\":\"{scenario}\",\"n\":{n},\"size\":{size},\"seconds\":{secs:.6},\"msgs_per_s\":{:.1},\"p50_us\":{p50},\"p99_us\":{p99}}}",
        n as f64 / secs
    );
}

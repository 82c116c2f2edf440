//! How much an idle connection costs: opens N connections to one broker in this
//! process (no subscriptions, no callbacks, heart-beats off unless asked), then prints
//! the process's resident memory and threads before and after, per connection.
//!
//! Usage: cargo run --release --example idle_connections -- URL N [HEARTBEAT_MS]
//!   e.g. ... -- ws://127.0.0.1:15674/ws 4000
//! Login guest/guest unless STOMPWS_LOGIN / STOMPWS_PASSCODE say otherwise. Each
//! connection holds three descriptors (the socket, an eventfd and a timerfd), so N is
//! bounded by a third of the open-file limit (`ulimit -n`), and by the broker's.

use std::time::{Duration, Instant};

use stompws::{Client, Config};

/// A field of /proc/self/status, e.g. "VmRSS" (kB) or "Threads".
fn status(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), Some(n)) = (
        args.first(),
        args.get(1).and_then(|n| n.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: idle_connections URL N [HEARTBEAT_MS]");
        std::process::exit(2);
    };
    let beat: u32 = args.get(2).and_then(|b| b.parse().ok()).unwrap_or(0);
    let login = std::env::var("STOMPWS_LOGIN").unwrap_or_else(|_| "guest".into());
    let passcode = std::env::var("STOMPWS_PASSCODE").unwrap_or_else(|_| "guest".into());
    let config = Config::new()
        .login(&login, &passcode)
        .heartbeat(beat, beat)
        .connect_timeout(Duration::from_secs(30));
    // One connection first, so that what every process pays once (TLS libraries,
    // the allocator's arenas) is not counted per connection.
    let first = Client::connect(url, &config).unwrap_or_else(|e| {
        eprintln!("connect: {e}");
        std::process::exit(1)
    });
    let (rss0, threads0) = (status("VmRSS"), status("Threads"));
    let start = Instant::now();
    let mut clients = Vec::with_capacity(n as usize);
    for i in 0..n {
        match Client::connect(url, &config) {
            Ok(c) => clients.push(c),
            Err(e) => {
                eprintln!("connection {} failed: {e}", i + 1);
                break;
            }
        }
    }
    let took = start.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let (rss1, threads1) = (status("VmRSS"), status("Threads"));
    let made = clients.len() as u64;
    let per = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / made.max(1) as f64;
    println!(
        "{{\"url\":\"{url}\",\"connections\":{made},\"connect_s\":{:.2},\"rss_kb_before\":{rss0},\
         \"rss_kb_after\":{rss1},\"rss_kb_per_connection\":{:.1},\"threads_before\":{threads0},\
         \"threads_after\":{threads1},\"threads_per_connection\":{:.2}}}",
        took.as_secs_f64(),
        per(rss0, rss1),
        per(threads0, threads1)
    );
    for c in &clients {
        let _ = c.disconnect();
    }
    drop(clients);
    let _ = first.disconnect();
}

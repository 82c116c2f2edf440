//! The reconnect soak: a producer and a consumer client through a fault-injecting proxy
//! to RabbitMQ, for `SOAK_SECS` seconds, the proxy cutting both connections every 30 s;
//! at the end the test process's RSS, open descriptors and threads must be back where
//! they started, and every confirmed message received.
//!
//! A test target without the libtest harness (`harness = false` in Cargo.toml): its
//! `main` runs the soak, or, in the child process the soak starts, the proxy. `cargo
//! test` (so CI and `tests/run.sh`) runs it for one minute, two cuts; `tests/soak.sh`
//! runs the ten-minute soak, outside CI, in release mode (`SOAK_SECS=600 cargo test
//! --release --test soak`). Settings, from the environment:
//! - `SOAK_SECS` (60): how long traffic runs;
//! - `SOAK_RATE` (3000): messages per second, sent in batches of [`BATCH`];
//! - `SOAK_TRANSPORT` (`tcp`): `tcp` for STOMP over TCP (`STOMPWS_RABBITMQ_TCP`), `ws`
//!   for STOMP over WebSocket (`STOMPWS_RABBITMQ_WS`); both clients use it.
//!
//! The set-up:
//! - Both clients reconnect (100 ms initial delay, 2 s max, never give up). The producer
//!   sends no heart-beats (RabbitMQ 3.10 kills a heart-beating publisher under flow
//!   control, README "Known broker issues"); the consumer asks for 2000/2000 ms.
//! - One durable queue (`/queue/...`, which RabbitMQ declares durable), `persistent:true`
//!   messages, each with a `seq` header. The producer sends a batch of [`BATCH`] with a
//!   receipt on the last one, paced to `SOAK_RATE`. A batch counts as confirmed when its
//!   receipt came and the session did not change between its first send and the
//!   receipt (a batch split across a reconnect is not confirmed by a receipt on the new
//!   session: its first part may have died with the old socket).
//! - The consumer acks client-individual (`prefetch-count` [`PREFETCH`]); acks of
//!   messages from a lost session are refused by the library, and RabbitMQ delivers
//!   those messages again: they are the duplicates.
//! - The proxy runs in a child process (this binary again, running
//!   [`proxy_child`]) so that what is measured is the clients and nothing else: the
//!   proxy keeps the first MiB each client sent on each connection, and its threads come
//!   and go with the connections.
//!
//! Samples: at the start (clients connected and subscribed, no traffic yet, the worker
//! threads not started), every 10 s, and at the end (traffic over, workers joined, the
//! consumer drained, both clients connected again and quiet for a second). RSS is
//! `VmRSS` and the thread count `Threads` of `/proc/self/status`, descriptors are the
//! entries of `/proc/self/fd`. Checked at the end: RSS at most start + 10 MiB,
//! descriptors and threads equal, lost = 0, each cut followed by a reconnect of both.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::proxy::Proxy;
use stompws::{AckMode, Client, Config, Error, Event, Subscription};

/// Messages per batch; the last one of each carries the receipt.
const BATCH: u64 = 100;
/// The consumer's `prefetch-count`: bounds what RabbitMQ sends ahead of the acks.
const PREFETCH: &str = "500";
/// How often the proxy cuts every connection.
const CUT_EVERY: Duration = Duration::from_secs(30);
/// How often a sample line is printed.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// How much the RSS may grow between the start and the end samples, in KiB.
const RSS_SLACK_KB: u64 = 10 * 1024;
/// The consumer has drained the queue once nothing arrived for this long.
const DRAIN_IDLE: Duration = Duration::from_secs(3);
/// The most the drain at the end may take.
const DRAIN_MAX: Duration = Duration::from_secs(60);
/// How long the end waits for both clients to be connected, then quiet.
const SETTLE_MAX: Duration = Duration::from_secs(15);
const SETTLE_QUIET: Duration = Duration::from_secs(1);
/// How long after a cut both clients must have reconnected.
const RESUME_MAX: Duration = Duration::from_secs(10);
/// The message body: 100 bytes, the same for every message.
const BODY: &[u8; 100] = &[b'x'; 100];

/// Set (to the target address) only in the proxy's child process.
const CHILD_ENV: &str = "STOMPWS_SOAK_PROXY_TARGET";
/// The prefix of the child's answers on its stdout (libtest writes there too).
const TAG: &str = "SOAK-PROXY";

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
        _ => default,
    }
}

/// One reading of the process's own resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample {
    rss_kb: u64,
    fds: usize,
    threads: usize,
}

fn sample() -> Sample {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/self/status"))
    };
    let fds = std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count();
    Sample {
        rss_kb: field("VmRSS:"),
        // The directory handle read_dir holds while counting is one of the entries.
        fds: fds - 1,
        threads: field("Threads:") as usize,
    }
}

/// What one client's event callback saw.
#[derive(Default)]
struct Track {
    connected: AtomicU64,
    lost: AtomicU64,
    reconnecting: AtomicU64,
    other: AtomicU64,
    last_connected: Mutex<Option<Instant>>,
    last_lost_reason: Mutex<String>,
}

impl Track {
    fn record(&self, event: Event, detail: &str) {
        match event {
            Event::Connected => {
                *self.last_connected.lock().unwrap() = Some(Instant::now());
                self.connected.fetch_add(1, Ordering::SeqCst);
            }
            Event::ConnectionLost => {
                *self.last_lost_reason.lock().unwrap() = detail.to_string();
                self.lost.fetch_add(1, Ordering::SeqCst);
            }
            Event::Reconnecting => {
                self.reconnecting.fetch_add(1, Ordering::SeqCst);
            }
            _ => {
                eprintln!("soak: event {} ({detail})", event.as_str());
                self.other.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    /// Connected events so far; the soak subtracts the count it saw before traffic
    /// began (the first connect's), which leaves the reconnects.
    fn connects(&self) -> u64 {
        self.connected.load(Ordering::SeqCst)
    }
}

fn config(track: &Arc<Track>, heartbeat: (u32, u32)) -> Config {
    let track = Arc::clone(track);
    Config::new()
        .login(common::GUEST.0, common::GUEST.1)
        .heartbeat(heartbeat.0, heartbeat.1)
        .reconnect(Duration::from_millis(100), Duration::from_secs(2), 0)
        .connect_timeout(Duration::from_secs(5))
        .receipt_timeout(Duration::from_secs(10))
        .send_timeout(Duration::from_secs(10))
        .on_event(move |event, detail| track.record(event, detail))
}

/// The proxy in a child process: this test binary running [`proxy_child`].
struct ProxyProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
}

impl ProxyProcess {
    fn start(target: SocketAddr) -> ProxyProcess {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut child = Command::new(exe)
            .env(CHILD_ENV, target.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the proxy's child process");
        let stdin = child.stdin.take().expect("the child's stdin");
        let stdout = BufReader::new(child.stdout.take().expect("the child's stdout"));
        let mut p = ProxyProcess {
            child,
            stdin,
            stdout,
            addr: "127.0.0.1:0".parse().unwrap(),
        };
        let line = p.answer();
        p.addr = line
            .strip_prefix("addr ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("proxy child: unexpected first answer {line:?}"));
        p
    }

    /// What follows [`TAG`] in the next line of the child's that holds it.
    fn answer(&mut self) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self
                .stdout
                .read_line(&mut line)
                .expect("read the proxy child's stdout");
            assert!(n > 0, "the proxy child process ended");
            if let Some(at) = line.find(TAG) {
                return line[at + TAG.len()..].trim().to_string();
            }
        }
    }

    /// Resets every connection through the proxy; returns the child's counters.
    fn cut(&mut self) -> String {
        writeln!(self.stdin, "cut").expect("write to the proxy child");
        self.stdin.flush().expect("write to the proxy child");
        self.answer()
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => {
                    // Our own child, by its pid.
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return;
                }
            }
        }
    }
}

/// The proxy's process (`main` with [`CHILD_ENV`] set, which only the soak does): prints
/// `SOAK-PROXY addr IP:PORT`, then answers each `cut` line from stdin with `SOAK-PROXY
/// cut accepted=N active=N` once the connections are reset; ends on `quit` or at the
/// end of stdin (the soak ended).
fn proxy_child(target: &str) {
    let target: SocketAddr = target.parse().expect("a target address");
    let proxy = Proxy::start(target);
    let mut out = std::io::stdout();
    writeln!(out, "{TAG} addr {}", proxy.addr()).unwrap();
    out.flush().unwrap();
    for line in std::io::stdin().lines() {
        let Ok(line) = line else { break };
        match line.trim() {
            "cut" => {
                proxy.cut();
                writeln!(
                    out,
                    "{TAG} cut accepted={} active={}",
                    proxy.accepted(),
                    proxy.active()
                )
                .unwrap();
                out.flush().unwrap();
            }
            _ => break,
        }
    }
}

/// The producer's counters, read by the sample lines.
#[derive(Default)]
struct ProducerStats {
    batches: AtomicU64,
    confirmed: AtomicU64,
    /// Receipt came, but the session changed during the batch: not confirmed.
    spanned: AtomicU64,
    errors: AtomicU64,
    /// Times the producer fell more than a second behind and dropped the backlog.
    behind: AtomicU64,
}

/// A batch's fate, one byte per batch.
const UNCONFIRMED: u8 = 0;
const CONFIRMED: u8 = 1;
const SPANNED: u8 = 2;

fn produce(
    client: &Client,
    queue: &str,
    rate: u64,
    mut batches: Vec<u8>,
    stop: &AtomicBool,
    stats: &ProducerStats,
) -> Vec<u8> {
    let period = Duration::from_secs_f64(BATCH as f64 / rate as f64);
    let mut next = Instant::now();
    let mut seq_text = String::new();
    for (b, fate) in batches.iter_mut().enumerate() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let now = Instant::now();
        if next > now {
            thread::sleep(next - now);
        } else if now - next > Duration::from_secs(1) {
            // Behind after an outage: go on at the rate from now, no burst to catch up.
            next = now;
            stats.behind.fetch_add(1, Ordering::Relaxed);
        }
        next += period;
        let session = client.session().map(str::to_owned);
        let mut result = Ok(());
        for i in 0..BATCH {
            use std::fmt::Write as _;
            seq_text.clear();
            write!(seq_text, "{}", b as u64 * BATCH + i).unwrap();
            let headers = [("persistent", "true"), ("seq", seq_text.as_str())];
            result = if i + 1 == BATCH {
                client.send_with_receipt(queue, &headers, BODY)
            } else {
                client.send(queue, &headers, BODY)
            };
            if result.is_err() {
                break;
            }
        }
        match result {
            Ok(()) if client.session() == session.as_deref() => {
                *fate = CONFIRMED;
                stats.confirmed.fetch_add(1, Ordering::Relaxed);
            }
            Ok(()) => {
                *fate = SPANNED;
                stats.spanned.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                stats.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        stats.batches.fetch_add(1, Ordering::Relaxed);
    }
    batches
}

/// The consumer's counters, read by the sample lines.
#[derive(Default)]
struct ConsumerStats {
    received: AtomicU64,
    duplicates: AtomicU64,
    /// Acks refused with Disconnected: the message came on a lost session.
    stale_acks: AtomicU64,
    ack_errors: AtomicU64,
    unknown: AtomicU64,
    last_at: Mutex<Option<Instant>>,
}

fn consume(
    sub: &Subscription,
    mut counts: Vec<u8>,
    stop: &AtomicBool,
    stats: &ConsumerStats,
) -> Result<Vec<u8>, Error> {
    loop {
        match sub.recv_timeout(Duration::from_millis(200)) {
            Ok(msg) => {
                let seq = msg.header("seq").and_then(|s| s.parse::<usize>().ok());
                match seq.and_then(|s| counts.get_mut(s)) {
                    Some(n) => {
                        if *n > 0 {
                            stats.duplicates.fetch_add(1, Ordering::Relaxed);
                        }
                        *n = n.saturating_add(1);
                    }
                    None => {
                        stats.unknown.fetch_add(1, Ordering::Relaxed);
                    }
                }
                stats.received.fetch_add(1, Ordering::Relaxed);
                *stats.last_at.lock().unwrap() = Some(Instant::now());
                match msg.ack(&[]) {
                    Ok(()) => {}
                    Err(Error::Disconnected) => {
                        stats.stale_acks.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        eprintln!("soak: ack failed: {e}");
                        stats.ack_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Err(Error::Timeout) if stop.load(Ordering::SeqCst) => return Ok(counts),
            Err(Error::Timeout) => {}
            Err(e) => return Err(e),
        }
    }
}

fn print_sample(label: &str, s: Sample) {
    println!(
        "soak: {label:>9} rss={} kB fds={} threads={}",
        s.rss_kb, s.fds, s.threads
    );
}

fn avg_max(v: &[Duration]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let sum: f64 = v.iter().map(ms).sum();
    let max = v.iter().map(ms).fold(0.0, f64::max);
    (sum / v.len() as f64, max)
}

/// The soak (see the module comment); a failed check panics, so the process fails.
fn soak() {
    let secs = env_u64("SOAK_SECS", 60);
    let rate = env_u64("SOAK_RATE", 3000);
    assert!(secs > 0 && rate > 0, "SOAK_SECS and SOAK_RATE must be > 0");
    let transport = std::env::var("SOAK_TRANSPORT").unwrap_or_else(|_| "tcp".into());
    let (var, scheme, path) = match transport.as_str() {
        "tcp" => ("STOMPWS_RABBITMQ_TCP", "tcp", ""),
        "ws" => ("STOMPWS_RABBITMQ_WS", "ws", "/ws"),
        other => panic!("SOAK_TRANSPORT={other:?}: tcp or ws"),
    };
    let broker = require!(var);
    let (host, port) = common::host_port(&broker);
    let target = (host.as_str(), port)
        .to_socket_addrs()
        .expect("resolve the broker")
        .next()
        .expect("an address for the broker");

    let mut proxy = ProxyProcess::start(target);
    let url = proxy.addr.to_string();
    let url = format!("{scheme}://{url}{path}");
    let queue = format!("/queue/{}", common::unique("soak"));
    println!(
        "soak: {secs} s at {rate} msgs/s in batches of {BATCH}, {transport} via proxy {url} \
         to {broker}, queue {queue}, cut every {} s",
        CUT_EVERY.as_secs()
    );

    // The bookkeeping is allocated and touched before the start sample, so that its
    // pages are resident from the start: one byte per message and per batch, for the
    // most the producer can send (it never runs ahead of the rate).
    let max_batches = (secs * rate).div_ceil(BATCH) + 1;
    let max_messages = (max_batches * BATCH) as usize;
    let mut counts = vec![1u8; max_messages];
    counts.fill(0);
    let mut batches = vec![1u8; max_batches as usize];
    batches.fill(UNCONFIRMED);

    let ptrack = Arc::new(Track::default());
    let ctrack = Arc::new(Track::default());
    let producer = Client::connect(&url, &config(&ptrack, (0, 0))).expect("producer connects");
    let consumer =
        Client::connect(&url, &config(&ctrack, (2000, 2000))).expect("consumer connects");
    let sub = consumer
        .subscribe(
            &queue,
            AckMode::ClientIndividual,
            &[
                ("durable", "true"),
                ("auto-delete", "false"),
                ("prefetch-count", PREFETCH),
                ("receipt", "soak-subscribed"),
            ],
        )
        .expect("consumer subscribes");
    // Connected events of the first connect, if any, have been dispatched by now.
    thread::sleep(Duration::from_millis(200));
    let connects0 = (ptrack.connects(), ctrack.connects());

    let start = sample();
    print_sample("start", start);

    let stop_producer = Arc::new(AtomicBool::new(false));
    let stop_consumer = Arc::new(AtomicBool::new(false));
    let pstats = Arc::new(ProducerStats::default());
    let cstats = Arc::new(ConsumerStats::default());
    let t0 = Instant::now();
    let consumer_thread = {
        let (stop, stats) = (Arc::clone(&stop_consumer), Arc::clone(&cstats));
        thread::Builder::new()
            .name("soak-consumer".into())
            .spawn(move || {
                let r = consume(&sub, counts, &stop, &stats);
                (r, sub)
            })
            .unwrap()
    };
    let producer_thread = {
        let (stop, stats) = (Arc::clone(&stop_producer), Arc::clone(&pstats));
        let (client, queue) = (producer.clone(), queue.clone());
        thread::Builder::new()
            .name("soak-producer".into())
            .spawn(move || produce(&client, &queue, rate, batches, &stop, &stats))
            .unwrap()
    };

    let mut cuts = 0u64;
    let mut resumes: Vec<(Duration, Duration)> = Vec::new();
    let mut unresumed = 0u64;
    let mut pending: Option<(Instant, u64, u64)> = None;
    let mut next_cut = CUT_EVERY;
    let mut next_sample = SAMPLE_EVERY;
    let mut warm: Option<Sample> = None;
    let end = Duration::from_secs(secs);
    loop {
        let now = t0.elapsed();
        if let Some((at, p0, c0)) = pending {
            if ptrack.connects() > p0 && ctrack.connects() > c0 {
                let p = ptrack.last_connected.lock().unwrap().unwrap() - at;
                let c = ctrack.last_connected.lock().unwrap().unwrap() - at;
                resumes.push((p, c));
                pending = None;
            } else if at.elapsed() > RESUME_MAX {
                println!(
                    "soak: cut {cuts}: not both reconnected within {RESUME_MAX:?} \
                     (producer lost: {:?}, consumer lost: {:?})",
                    ptrack.last_lost_reason.lock().unwrap(),
                    ctrack.last_lost_reason.lock().unwrap()
                );
                unresumed += 1;
                pending = None;
            }
        }
        if now >= end {
            break;
        }
        if now >= next_sample {
            next_sample += SAMPLE_EVERY;
            let s = sample();
            if warm.is_none() && now >= Duration::from_secs(60) {
                warm = Some(s);
            }
            println!(
                "soak: t={:>4}s rss={} kB fds={} threads={} | confirmed={} spanned={} \
                 send-errors={} received={} dup={} stale-acks={} | cuts={cuts} \
                 reconnects p={} c={}",
                now.as_secs(),
                s.rss_kb,
                s.fds,
                s.threads,
                pstats.confirmed.load(Ordering::Relaxed) * BATCH,
                pstats.spanned.load(Ordering::Relaxed),
                pstats.errors.load(Ordering::Relaxed),
                cstats.received.load(Ordering::Relaxed),
                cstats.duplicates.load(Ordering::Relaxed),
                cstats.stale_acks.load(Ordering::Relaxed),
                ptrack.connects() - connects0.0,
                ctrack.connects() - connects0.1,
            );
        }
        if now >= next_cut && pending.is_none() {
            next_cut += CUT_EVERY;
            let before = (ptrack.connects(), ctrack.connects());
            let at = Instant::now();
            let counters = proxy.cut();
            cuts += 1;
            pending = Some((at, before.0, before.1));
            println!(
                "soak: t={:>4}s cut {cuts} ({counters})",
                at.duration_since(t0).as_secs()
            );
        }
        thread::sleep(Duration::from_millis(20));
    }

    // The end: stop the producer, let the consumer drain, stop it.
    let traffic = t0.elapsed();
    stop_producer.store(true, Ordering::SeqCst);
    let batches = producer_thread.join().expect("the producer thread");
    let drain_start = Instant::now();
    loop {
        let last = cstats.last_at.lock().unwrap().unwrap_or(drain_start);
        if last.max(drain_start).elapsed() >= DRAIN_IDLE || drain_start.elapsed() >= DRAIN_MAX {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    stop_consumer.store(true, Ordering::SeqCst);
    let (counts, sub) = consumer_thread.join().expect("the consumer thread");
    let counts = counts.expect("the consumer's subscription stayed open");

    // Settle: both connected, and no event for a second.
    let settle_start = Instant::now();
    let mut quiet_since = Instant::now();
    let mut seen = (ptrack.connects(), ctrack.connects(), 0, 0);
    loop {
        let now_seen = (
            ptrack.connects(),
            ctrack.connects(),
            ptrack.lost.load(Ordering::SeqCst),
            ctrack.lost.load(Ordering::SeqCst),
        );
        if now_seen != seen || !producer.is_connected() || !consumer.is_connected() {
            seen = now_seen;
            quiet_since = Instant::now();
        }
        if quiet_since.elapsed() >= SETTLE_QUIET || settle_start.elapsed() >= SETTLE_MAX {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let both_connected = producer.is_connected() && consumer.is_connected();
    let end_sample = sample();
    print_sample("start", start);
    if let Some(w) = warm {
        print_sample("t=60s", w);
    }
    print_sample("end", end_sample);

    // The accounting.
    let mut confirmed_msgs = 0u64;
    let mut lost = 0u64;
    let mut first_lost: Option<u64> = None;
    let mut spanned_missing = 0u64;
    let mut sent_msgs_received = 0u64;
    for (b, &fate) in batches.iter().enumerate() {
        let range = b * BATCH as usize..(b + 1) * BATCH as usize;
        let missing = counts[range.clone()].iter().filter(|&&n| n == 0).count() as u64;
        sent_msgs_received += BATCH - missing;
        match fate {
            CONFIRMED => {
                confirmed_msgs += BATCH;
                if missing > 0 {
                    lost += missing;
                    first_lost.get_or_insert(
                        (range.start + counts[range].iter().position(|&n| n == 0).unwrap()) as u64,
                    );
                }
            }
            SPANNED => spanned_missing += missing,
            _ => {}
        }
    }
    let duplicates: u64 = counts.iter().map(|&n| u64::from(n.saturating_sub(1))).sum();
    let (p_avg, p_max) = avg_max(&resumes.iter().map(|r| r.0).collect::<Vec<_>>());
    let (c_avg, c_max) = avg_max(&resumes.iter().map(|r| r.1).collect::<Vec<_>>());
    let both: Vec<Duration> = resumes.iter().map(|r| r.0.max(r.1)).collect();
    let (b_avg, b_max) = avg_max(&both);
    let preconnects = ptrack.connects() - connects0.0;
    let creconnects = ctrack.connects() - connects0.1;
    let batches_done = pstats.batches.load(Ordering::Relaxed);
    println!(
        "soak: traffic {:.1} s, batches sent {batches_done} ({:.0} msgs/s attempted), \
         confirmed {} batches = {confirmed_msgs} msgs, spanned a reconnect {} batches \
         ({spanned_missing} of their msgs missing), failed {} batches, fell behind {} times",
        traffic.as_secs_f64(),
        (batches_done * BATCH) as f64 / traffic.as_secs_f64(),
        pstats.confirmed.load(Ordering::Relaxed),
        pstats.spanned.load(Ordering::Relaxed),
        pstats.errors.load(Ordering::Relaxed),
        pstats.behind.load(Ordering::Relaxed),
    );
    println!(
        "soak: received {} deliveries, {sent_msgs_received} distinct msgs, lost {lost} \
         (first {first_lost:?}), duplicates {duplicates}, stale acks {}, ack errors {}, \
         unknown {}",
        cstats.received.load(Ordering::Relaxed),
        cstats.stale_acks.load(Ordering::Relaxed),
        cstats.ack_errors.load(Ordering::Relaxed),
        cstats.unknown.load(Ordering::Relaxed),
    );
    println!(
        "soak: cuts {cuts}, reconnects producer {preconnects} consumer {creconnects}, \
         losses producer {} consumer {}, reconnecting events producer {} consumer {}, \
         not resumed within {RESUME_MAX:?}: {unresumed}",
        ptrack.lost.load(Ordering::SeqCst),
        ctrack.lost.load(Ordering::SeqCst),
        ptrack.reconnecting.load(Ordering::SeqCst),
        ctrack.reconnecting.load(Ordering::SeqCst),
    );
    println!(
        "soak: cut-to-Connected ms: producer avg {p_avg:.1} max {p_max:.1}, consumer avg \
         {c_avg:.1} max {c_max:.1}, both avg {b_avg:.1} max {b_max:.1}"
    );
    println!(
        "soak: start vs end: rss {} -> {} kB ({:+} kB), fds {} -> {}, threads {} -> {}",
        start.rss_kb,
        end_sample.rss_kb,
        end_sample.rss_kb as i64 - start.rss_kb as i64,
        start.fds,
        end_sample.fds,
        start.threads,
        end_sample.threads
    );

    drop(sub);
    let _ = producer.disconnect_timeout(Duration::from_secs(2));
    let _ = consumer.disconnect_timeout(Duration::from_secs(2));
    drop(proxy);
    let name = queue.trim_start_matches("/queue/");
    if let Err(e) = common::rabbitmq_ctl(&["delete_queue", name]) {
        eprintln!("soak: could not delete the queue {name}: {e}");
    }

    assert!(both_connected, "both clients connected at the end");
    assert_eq!(lost, 0, "confirmed messages never received");
    assert!(confirmed_msgs > 0, "nothing was confirmed");
    assert_eq!(
        unresumed, 0,
        "cuts not followed by a reconnect of both clients"
    );
    assert!(
        preconnects >= cuts && creconnects >= cuts,
        "every cut is followed by a reconnect of each client"
    );
    assert!(
        end_sample.rss_kb <= start.rss_kb + RSS_SLACK_KB,
        "RSS grew by more than {RSS_SLACK_KB} kB"
    );
    assert_eq!(end_sample.fds, start.fds, "open descriptors, start vs end");
    assert_eq!(end_sample.threads, start.threads, "threads, start vs end");
}

fn main() {
    if let Ok(target) = std::env::var(CHILD_ENV) {
        proxy_child(&target);
        return;
    }
    let t0 = Instant::now();
    soak();
    // The line cargo's and tests/run.sh's summaries count, as libtest would print it.
    println!(
        "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; \
         finished in {:.2}s",
        t0.elapsed().as_secs_f64()
    );
}

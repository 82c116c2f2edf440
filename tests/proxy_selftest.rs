//! Tests of the tests' own fault-injecting proxy (`tests/common/proxy.rs`) and network
//! partition (`tests/common/netns.rs`), against a small TCP echo server on 127.0.0.1:
//! no STOMP here, so that a failure points at the tools and not at the library.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::proxy::{Proxy, TAP_LIMIT};

/// A TCP echo server on 127.0.0.1: writes back whatever each connection sends, and
/// closes a connection when its client does. Stops (closing its port) when dropped.
struct Echo {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Echo {
    fn start() -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (accepted, stop) = (accepted.clone(), stop.clone());
            thread::spawn(move || {
                let mut conns = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            accepted.fetch_add(1, Ordering::SeqCst);
                            let stop = stop.clone();
                            conns.push(thread::spawn(move || echo(s, &stop)));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(2)),
                    }
                }
                for c in conns {
                    let _ = c.join();
                }
            })
        };
        Echo {
            addr,
            accepted,
            stop,
            thread: Some(thread),
        }
    }
}

fn echo(mut s: TcpStream, stop: &AtomicBool) {
    // Timeouts keep every loop bounded, so that dropping the server always returns.
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    s.set_write_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut buf = [0u8; 16 * 1024];
    while !stop.load(Ordering::SeqCst) {
        let n = match s.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if timed_out(&e) => continue,
            Err(_) => return,
        };
        let mut done = 0;
        while done < n {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            match s.write(&buf[done..n]) {
                Ok(0) => return,
                Ok(k) => done += k,
                Err(e) if timed_out(&e) => {}
                Err(_) => return,
            }
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn timed_out(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

fn connect(proxy: &Proxy) -> TcpStream {
    let s = TcpStream::connect_timeout(&proxy.addr(), Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Reads exactly `n` bytes within the socket's read timeout.
fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).expect("read the echo");
    buf
}

fn round_trip(s: &mut TcpStream, data: &[u8]) {
    s.write_all(data).unwrap();
    assert_eq!(read_n(s, data.len()), data);
}

/// Asserts that nothing arrives within `wait` and that the socket stays open: the read
/// times out (no data, no end of stream, no error).
fn assert_silent(s: &mut TcpStream, wait: Duration) {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Err(e) if timed_out(&e) => {}
        Ok(0) => panic!("expected silence, got an end of stream"),
        Ok(n) => panic!("expected silence, got {n} bytes: {:?}", &buf[..n]),
        Err(e) => panic!("expected silence, got an error: {e}"),
    }
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn forwards_both_ways_and_counts_connections() {
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr);
    assert_eq!(proxy.url("tcp", ""), format!("tcp://{}", proxy.addr()));
    assert_eq!(proxy.url("ws", "/ws"), format!("ws://{}/ws", proxy.addr()));

    let mut a = connect(&proxy);
    round_trip(&mut a, b"hello");
    // A large transfer, written by a thread while this one reads (the echo writes back
    // as it reads, so writing everything first could fill every buffer on the way).
    let big = pattern(4 << 20, 7);
    let writer = {
        let (mut w, big) = (a.try_clone().unwrap(), big.clone());
        thread::spawn(move || w.write_all(&big).unwrap())
    };
    assert!(read_n(&mut a, big.len()) == big, "4 MiB came back altered");
    writer.join().unwrap();

    let mut b = connect(&proxy);
    round_trip(&mut b, b"second");
    assert_eq!(proxy.accepted(), 2);
    assert!(proxy.wait_active(2, Duration::from_secs(2)));
    assert_eq!(echo.accepted.load(Ordering::SeqCst), 2);

    // A client's FIN is passed on; the echo closes, and that FIN comes back.
    a.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    a.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert!(
        proxy.wait_active(1, Duration::from_secs(2)),
        "{}",
        proxy.active()
    );
    round_trip(&mut b, b"still there");
}

#[test]
fn cut_resets_current_connections_and_lets_new_ones_through() {
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr);
    let mut a = connect(&proxy);
    let mut b = connect(&proxy);
    round_trip(&mut a, b"a");
    round_trip(&mut b, b"b");

    let t = Instant::now();
    proxy.cut();
    let took = t.elapsed();
    for s in [&mut a, &mut b] {
        let mut buf = [0u8; 8];
        match s.read(&mut buf) {
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
            Ok(n) => panic!("expected a reset, read returned Ok({n})"),
        }
    }
    assert_eq!(proxy.active(), 0);
    eprintln!("cut() returned after {took:?}");
    assert!(took < Duration::from_secs(1), "cut() took {took:?}");

    let mut c = connect(&proxy);
    round_trip(&mut c, b"after the cut");
    assert_eq!(proxy.accepted(), 3);
}

#[test]
fn blackhole_is_silence_then_forwarding_resumes() {
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr);
    let mut a = connect(&proxy);
    round_trip(&mut a, b"before");

    proxy.blackhole(true);
    a.write_all(b"during").unwrap();
    // A connection made during the blackhole is accepted, then silent as well.
    let mut b = connect(&proxy);
    b.write_all(b"new one").unwrap();
    assert_silent(&mut a, Duration::from_millis(600));
    assert_silent(&mut b, Duration::from_millis(200));
    assert_eq!(proxy.active(), 2, "the blackhole closed a connection");

    proxy.blackhole(false);
    assert_eq!(read_n(&mut a, 6), b"during");
    assert_eq!(read_n(&mut b, 7), b"new one");
    round_trip(&mut a, b"after");
    round_trip(&mut b, b"after too");
}

#[test]
fn refuse_resets_new_connections_promptly_only() {
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr);
    let mut old = connect(&proxy);
    round_trip(&mut old, b"old");

    proxy.refuse(true);
    let t = Instant::now();
    // The connect itself may succeed (the kernel completes the handshake before the
    // proxy accepts); the first read must fail, or see the end, at once.
    match TcpStream::connect_timeout(&proxy.addr(), Duration::from_secs(2)) {
        Err(e) => eprintln!("refused at connect: {e}"),
        Ok(mut s) => {
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let _ = s.write_all(b"CONNECT\n\n\0");
            let mut buf = [0u8; 8];
            match s.read(&mut buf) {
                Ok(0) => {}
                Err(e) if !timed_out(&e) => {}
                other => panic!("a refused connection answered {other:?}"),
            }
        }
    }
    let took = t.elapsed();
    eprintln!("refused connection failed after {took:?}");
    assert!(took < Duration::from_millis(500), "refusal took {took:?}");
    assert_eq!(proxy.refused(), 1);
    assert_eq!(
        echo.accepted.load(Ordering::SeqCst),
        1,
        "a refused one reached the target"
    );
    round_trip(&mut old, b"the current one is unaffected");

    proxy.refuse(false);
    let mut new = connect(&proxy);
    round_trip(&mut new, b"accepted again");
    assert_eq!(proxy.accepted(), 3);
}

#[test]
fn set_target_moves_new_connections_only() {
    let (first, second) = (Echo::start(), Echo::start());
    let proxy = Proxy::start(first.addr);
    let mut a = connect(&proxy);
    round_trip(&mut a, b"to the first");

    proxy.set_target(second.addr);
    let mut b = connect(&proxy);
    round_trip(&mut b, b"to the second");
    round_trip(&mut a, b"still the first");
    assert_eq!(first.accepted.load(Ordering::SeqCst), 1);
    assert_eq!(second.accepted.load(Ordering::SeqCst), 1);

    // A target that is gone: the client is reset.
    let gone = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    proxy.set_target(gone);
    let mut c = connect(&proxy);
    let mut buf = [0u8; 8];
    match c.read(&mut buf) {
        Ok(0) => {}
        Err(e) if !timed_out(&e) => {}
        other => panic!("a connection to a dead target answered {other:?}"),
    }
    assert!(proxy.wait_active(2, Duration::from_secs(2)));
}

#[test]
fn delay_is_pipelined() {
    const CHUNKS: usize = 200;
    const SIZE: usize = 100;
    let delay = Duration::from_millis(50);
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr);
    proxy.delay(delay);
    let mut s = connect(&proxy);

    // One chunk first: its round trip crosses the proxy twice, so takes 2 × delay.
    let t = Instant::now();
    round_trip(&mut s, b"ping");
    let rtt = t.elapsed();
    assert!(
        rtt >= 2 * delay,
        "round trip {rtt:?} shorter than 2 × {delay:?}"
    );
    assert!(
        rtt < 2 * delay + Duration::from_millis(150),
        "round trip {rtt:?}"
    );

    let reader = {
        let mut r = s.try_clone().unwrap();
        thread::spawn(move || {
            let got = read_n(&mut r, CHUNKS * SIZE);
            (got, Instant::now())
        })
    };
    let start = Instant::now();
    let mut sent = Vec::new();
    for i in 0..CHUNKS {
        let chunk = pattern(SIZE, i as u8);
        s.write_all(&chunk).unwrap();
        sent.extend_from_slice(&chunk);
        thread::sleep(Duration::from_millis(1));
    }
    let writing = start.elapsed();
    let (got, end) = reader.join().unwrap();
    let total = end - start;
    eprintln!(
        "delay {delay:?}: ping round trip {rtt:?}; {CHUNKS} chunks written in {writing:?}, \
         all echoed after {total:?}"
    );
    assert!(got == sent, "the echo came back altered or out of order");
    // Pipelined: the writing time plus one round trip's delay, not CHUNKS × delay.
    assert!(
        total >= writing + 2 * delay - Duration::from_millis(5),
        "{total:?}"
    );
    assert!(
        total < writing + 2 * delay + Duration::from_millis(300),
        "{total:?}"
    );
    assert!(total < Duration::from_secs(2), "{total:?}");

    proxy.delay(Duration::ZERO);
    let t = Instant::now();
    round_trip(&mut s, b"undelayed");
    let took = t.elapsed();
    // Still delayed, it would take 2 × 50 ms.
    assert!(took < Duration::from_millis(100), "{took:?}");
}

#[test]
fn tap_records_what_each_client_sent() {
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr);
    let mut a = connect(&proxy);
    round_trip(&mut a, b"CONNECT\naccept-version:1.2\n\n\0");
    round_trip(&mut a, b"SUBSCRIBE\nid:0\ndestination:/queue/a\n\n\0");
    drop(a);
    let mut b = connect(&proxy);
    round_trip(&mut b, b"CONNECT\n\n\0");
    round_trip(&mut b, b"SUBSCRIBE\nid:0\n\n\0SEND\n\nx\0");

    assert_eq!(
        proxy.client_bytes(0),
        b"CONNECT\naccept-version:1.2\n\n\0SUBSCRIBE\nid:0\ndestination:/queue/a\n\n\0"
    );
    assert_eq!(
        proxy.client_bytes(1),
        b"CONNECT\n\n\0SUBSCRIBE\nid:0\n\n\0SEND\n\nx\0"
    );

    // Bounded: the first TAP_LIMIT bytes only, while everything is forwarded.
    let mut c = connect(&proxy);
    let big = pattern(TAP_LIMIT + TAP_LIMIT / 2, 3);
    let writer = {
        let (mut w, big) = (c.try_clone().unwrap(), big.clone());
        thread::spawn(move || w.write_all(&big).unwrap())
    };
    assert!(read_n(&mut c, big.len()) == big);
    writer.join().unwrap();
    let tap = proxy.client_bytes(2);
    assert_eq!(tap.len(), TAP_LIMIT);
    assert!(tap[..] == big[..TAP_LIMIT]);
}

#[test]
fn drop_stops_everything_and_frees_the_port() {
    let echo = Echo::start();
    let proxy = Proxy::start(echo.addr);
    let addr = proxy.addr();
    let mut a = connect(&proxy);
    round_trip(&mut a, b"x");
    proxy.delay(Duration::from_millis(200));
    a.write_all(b"queued").unwrap();
    proxy.blackhole(true);

    let t = Instant::now();
    drop(proxy);
    let took = t.elapsed();
    eprintln!("drop took {took:?}");
    assert!(took < Duration::from_secs(1), "drop took {took:?}");
    let mut buf = [0u8; 8];
    match a.read(&mut buf) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
        Ok(n) => panic!("expected a reset after the drop, read returned Ok({n})"),
    }
    let e = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
}

#[cfg(target_os = "linux")]
#[test]
fn partition_link_down_is_silence_and_link_up_resumes() {
    partition_outage(Duration::from_millis(1500));
}

/// Longer than ARP's retries (about 3 s): the neighbour entry fails, and the connection
/// must still see silence only (the kernel's "host unreachable" is a soft error for an
/// established TCP connection), then resume.
#[cfg(target_os = "linux")]
#[test]
fn partition_outage_longer_than_arp_is_still_silence() {
    partition_outage(Duration::from_millis(4500));
}

/// Echo through a proxy listening inside a partition; cuts the link for `outage` while
/// the client has unacknowledged data; checks silence, then the same connection going
/// on after the link is back, then that `Drop` removed the namespace and the veth.
#[cfg(target_os = "linux")]
fn partition_outage(outage: Duration) {
    use common::netns::Partition;

    let Some(part) = Partition::require() else {
        return;
    };
    let (name, dev) = (part.name().to_string(), part.host_dev().to_string());
    let echo = Echo::start();
    let proxy = Proxy::start_on(part.listen().unwrap(), echo.addr);
    assert_eq!(proxy.addr().ip(), part.inner_ip());
    assert!(proxy.addr().ip().to_string().starts_with("169.254."));

    let mut s = connect(&proxy);
    assert_eq!(s.local_addr().unwrap().ip(), part.host_ip());
    round_trip(&mut s, b"across the veth");

    part.link_down().unwrap();
    s.write_all(b"into the void").unwrap();
    assert_silent(&mut s, outage);
    assert_eq!(proxy.active(), 1);

    part.link_up().unwrap();
    // TCP retransmits what was written during the outage once the link is back (its
    // backoff may take a few seconds), then the same connection carries on.
    let t = Instant::now();
    s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    assert_eq!(read_n(&mut s, 13), b"into the void");
    eprintln!(
        "partition {name}: data written during a {outage:?} outage arrived {:?} after link up",
        t.elapsed()
    );
    round_trip(&mut s, b"same connection");
    assert_eq!(proxy.accepted(), 1);
    assert_eq!(echo.accepted.load(Ordering::SeqCst), 1);

    drop(s);
    drop(proxy);
    drop(part);
    let netns = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&netns.stdout).contains(&name),
        "namespace {name} left behind"
    );
    let link = std::process::Command::new("ip")
        .args(["link", "show", &dev])
        .output()
        .unwrap();
    assert!(!link.status.success(), "veth {dev} left behind");
}

//! A fault-injecting TCP proxy between a client and a target (a broker or a scripted
//! server), for the reconnect and failover tests. Threads and the standard library only.
//!
//! ```ignore
//! let proxy = Proxy::start(broker_addr);
//! let client = Client::connect(Config::new(&proxy.url("tcp", "")))?;
//! proxy.cut();              // the client sees ECONNRESET
//! proxy.blackhole(true);    // sockets stay open, nothing moves: only silence
//! proxy.refuse(true);       // new connections are reset at once
//! proxy.set_target(other);  // new connections go to `other`
//! proxy.delay(Duration::from_millis(50)); // every chunk 50 ms late, pipelined
//! let sent = proxy.client_bytes(1); // what the client sent on its second connection
//! ```
//!
//! Each connection has four threads: per direction a reader, which reads a chunk from
//! its side and queues it with the time it is due (arrival + [`Proxy::delay`]), and a
//! writer, which writes each queued chunk, in order, once it is due. An end of stream
//! (FIN) is passed on the same way, after the data before it; an error on either side
//! (a reset) resets the other side too.
//!
//! Every loop is bounded: reads and writes time out after [`POLL`] and the threads
//! check their flags in between, so [`Proxy::cut`] and dropping the proxy finish within
//! a few polls, and no thread outlives the [`Proxy`] (its `Drop` joins them all).
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a proxy thread blocks in one read, write, accept or wait before it looks at
/// its flags again. Bounds the reaction time to cut, blackhole, stop and link changes.
pub const POLL: Duration = Duration::from_millis(20);

/// The most bytes [`Proxy::client_bytes`] keeps per connection (the first ones).
pub const TAP_LIMIT: usize = 1 << 20;

/// How long a new connection waits for its target to accept before the client is reset.
pub const TARGET_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long [`Proxy::cut`] waits for the threads of the connections it resets.
const CUT_WAIT: Duration = Duration::from_secs(3);

/// Size of one read, so the most one queued chunk holds.
const CHUNK: usize = 64 * 1024;

/// A running proxy; dropping it closes the listener and resets every connection.
pub struct Proxy {
    inner: Arc<Inner>,
    addr: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
}

/// What the test changes while the proxy runs, read by its threads.
struct Settings {
    target: SocketAddr,
    delay: Duration,
}

struct Inner {
    settings: Mutex<Settings>,
    blackhole: AtomicBool,
    refuse: AtomicBool,
    stop: AtomicBool,
    /// Every accepted connection, in accept order (refused ones included).
    conns: Mutex<Vec<Arc<Conn>>>,
    accepted: AtomicUsize,
    refused: AtomicUsize,
    active: AtomicUsize,
    /// Connection threads, joined by `Drop`.
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// One accepted connection. Outlives its sockets, so that its tap stays readable.
struct Conn {
    tap: Mutex<Vec<u8>>,
    /// Set to end the connection with a reset (cut, stop, an error on either side).
    dead: AtomicBool,
    /// The proxy's own handles to the (client, target) sockets, so that `cut` can reach
    /// them. Dropped by the connection's last thread, after its clones: closing this
    /// last descriptor is what sends the FIN, or with SO_LINGER 0 the RST.
    sockets: Mutex<Option<(TcpStream, TcpStream)>>,
    /// Connection threads still running (or about to start), and whether the sockets
    /// are closed; `finished` is notified when they are.
    life: Mutex<Life>,
    finished: Condvar,
    /// [client -> target, target -> client].
    queues: [Queue; 2],
}

struct Life {
    running: usize,
    closed: bool,
}

/// A direction's chunks in arrival order, each with the time it is due; `None` is the
/// end of stream.
#[derive(Default)]
struct Queue {
    items: Mutex<VecDeque<(Instant, Option<Vec<u8>>)>>,
    ready: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking proxy thread must not turn every later call into a second panic.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes the socket's last close send a RST instead of a FIN.
fn set_linger_zero(s: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid descriptor owned by `s`, and a pointer to a `linger` with its size.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Resets a socket of which `s` is the only descriptor.
fn reset(s: TcpStream) {
    set_linger_zero(&s);
    drop(s);
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

impl Conn {
    fn new(running: usize) -> Conn {
        Conn {
            tap: Mutex::new(Vec::new()),
            dead: AtomicBool::new(false),
            sockets: Mutex::new(None),
            life: Mutex::new(Life {
                running,
                closed: running == 0,
            }),
            finished: Condvar::new(),
            queues: Default::default(),
        }
    }

    /// Ends the connection with a reset on both sides: the threads see `dead` at once
    /// (shutting down the read side wakes a blocked read; writers are notified) and the
    /// last of them closes the sockets, which SO_LINGER 0 turns into a RST.
    ///
    /// SO_LINGER is set before `dead`, and both under the `sockets` lock: a thread that
    /// sees `dead` and ends may be the last one, and its close must already be a reset;
    /// and `setup` decides under the same lock whether to install the sockets.
    fn abort(&self) {
        let sockets = lock(&self.sockets);
        if let Some((client, target)) = &*sockets {
            set_linger_zero(client);
            set_linger_zero(target);
        }
        self.dead.store(true, Ordering::SeqCst);
        if let Some((client, target)) = &*sockets {
            let _ = client.shutdown(Shutdown::Read);
            let _ = target.shutdown(Shutdown::Read);
        }
        drop(sockets);
        for q in &self.queues {
            let _items = lock(&q.items);
            q.ready.notify_all();
        }
    }

    /// Waits until every thread of the connection has ended and its sockets are closed.
    fn wait_finished(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut life = lock(&self.life);
        while !life.closed {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            life = self
                .finished
                .wait_timeout(life, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

impl Proxy {
    /// A proxy listening on 127.0.0.1 on a free port, forwarding to `target`.
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy on 127.0.0.1");
        Proxy::start_on(listener, target)
    }

    /// A proxy accepting on a listener the caller bound (e.g. inside a network namespace,
    /// see `netns::Partition::listen`), forwarding to `target`. Connections to the target
    /// are made from the calling process's own network namespace.
    pub fn start_on(listener: TcpListener, target: SocketAddr) -> Proxy {
        let addr = listener.local_addr().expect("the listener's address");
        listener
            .set_nonblocking(true)
            .expect("make the proxy's listener non-blocking");
        let inner = Arc::new(Inner {
            settings: Mutex::new(Settings {
                target,
                delay: Duration::ZERO,
            }),
            blackhole: AtomicBool::new(false),
            refuse: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
            accepted: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            threads: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let inner = inner.clone();
            thread::Builder::new()
                .name(format!("proxy-accept-{}", addr.port()))
                .spawn(move || accept_loop(inner, listener))
                .expect("spawn the proxy's accept thread")
        };
        Proxy {
            inner,
            addr,
            acceptor: Some(acceptor),
        }
    }

    /// The address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A URL for the listen address: `url("tcp", "")` is `tcp://127.0.0.1:PORT`,
    /// `url("ws", "/ws")` is `ws://127.0.0.1:PORT/ws`.
    pub fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.addr)
    }

    /// Resets every current connection on both sides (SO_LINGER 0, then close): the
    /// client and the target see ECONNRESET. Returns once their sockets are closed (or
    /// after a few seconds if a thread is stuck, which panics). New connections still go
    /// through.
    pub fn cut(&self) {
        let conns: Vec<Arc<Conn>> = lock(&self.inner.conns).clone();
        for c in &conns {
            c.abort();
        }
        for c in &conns {
            assert!(
                c.wait_finished(CUT_WAIT),
                "proxy {}: a connection's threads did not end within {CUT_WAIT:?} of cut()",
                self.addr
            );
        }
    }

    /// While on, every socket stays open and nothing is forwarded in either direction:
    /// no data, no FIN, no RST, only silence. Applies to current connections and to new
    /// ones (which are accepted and connected to the target, then stay silent). What
    /// arrived meanwhile stays queued (or in the kernel's buffers) and is forwarded once
    /// it is turned off, as TCP would deliver it after a transient outage.
    pub fn blackhole(&self, on: bool) {
        self.inner.blackhole.store(on, Ordering::SeqCst);
    }

    /// While on, each new connection is accepted and reset at once: the client's
    /// connect may succeed, but its first read (or write) fails promptly with
    /// ECONNRESET (or sees an end of stream). Current connections are unaffected.
    pub fn refuse(&self, on: bool) {
        self.inner.refuse.store(on, Ordering::SeqCst);
    }

    /// New connections go to `target`; current ones stay where they are.
    pub fn set_target(&self, target: SocketAddr) {
        lock(&self.inner.settings).target = target;
    }

    /// Every chunk read from now on is forwarded `d` after it arrived, in both
    /// directions. Pipelined: each direction is a timed queue, so chunks arriving 1 ms
    /// apart leave 1 ms apart, each `d` late. Order is kept if `d` shrinks (a chunk
    /// never overtakes an earlier one). `Duration::ZERO` (the default) forwards at once.
    pub fn delay(&self, d: Duration) {
        lock(&self.inner.settings).delay = d;
    }

    /// Connections accepted so far, refused ones included; they are numbered from 0 in
    /// this order for [`client_bytes`](Proxy::client_bytes).
    pub fn accepted(&self) -> usize {
        self.inner.accepted.load(Ordering::SeqCst)
    }

    /// Connections reset at accept because [`refuse`](Proxy::refuse) was on.
    pub fn refused(&self) -> usize {
        self.inner.refused.load(Ordering::SeqCst)
    }

    /// Connections whose sockets are still open.
    pub fn active(&self) -> usize {
        self.inner.active.load(Ordering::SeqCst)
    }

    /// The bytes the client sent on connection `index` (0 is the first accepted), as
    /// the proxy read them, forwarded or not: at most the first [`TAP_LIMIT`]. Panics if
    /// there is no such connection.
    pub fn client_bytes(&self, index: usize) -> Vec<u8> {
        let conns = lock(&self.inner.conns);
        let conn = conns.get(index).unwrap_or_else(|| {
            panic!(
                "proxy {}: no connection {index}, {} accepted",
                self.addr,
                conns.len()
            )
        });
        let tap = lock(&conn.tap).clone();
        tap
    }

    /// Waits until at least `n` connections have been accepted; false on timeout.
    pub fn wait_accepted(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, || self.accepted() >= n)
    }

    /// Waits until exactly `n` connections are open; false on timeout.
    pub fn wait_active(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, || self.active() == n)
    }

    fn wait_until(&self, timeout: Duration, cond: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if cond() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Proxy {
    /// Closes the listener, resets every connection and joins every thread: when it
    /// returns, nothing of the proxy runs or holds a port.
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        // The accept thread owns the listener: once joined, the port is closed and no new
        // connection thread can appear.
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        for c in lock(&self.inner.conns).iter() {
            c.abort();
        }
        // A setup thread may still add its pump threads while we join: drain until empty.
        loop {
            let batch: Vec<JoinHandle<()>> = lock(&self.inner.threads).drain(..).collect();
            if batch.is_empty() {
                break;
            }
            for t in batch {
                let _ = t.join();
            }
        }
    }
}

fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    while !inner.stop.load(Ordering::SeqCst) {
        let client = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(2));
                continue;
            }
            // EMFILE, ECONNABORTED and the like: try again shortly, never spin.
            Err(_) => {
                thread::sleep(POLL);
                continue;
            }
        };
        inner.accepted.fetch_add(1, Ordering::SeqCst);
        if inner.refuse.load(Ordering::SeqCst) {
            let conn = Arc::new(Conn::new(0));
            conn.dead.store(true, Ordering::SeqCst);
            lock(&inner.conns).push(conn);
            inner.refused.fetch_add(1, Ordering::SeqCst);
            reset(client);
            continue;
        }
        // One running "thread" for the setup until it has started the pumps.
        let conn = Arc::new(Conn::new(1));
        lock(&inner.conns).push(conn.clone());
        inner.active.fetch_add(1, Ordering::SeqCst);
        let target = lock(&inner.settings).target;
        let setup = {
            let inner = inner.clone();
            thread::Builder::new()
                .name("proxy-setup".into())
                .spawn(move || setup(inner, conn, client, target))
        };
        let mut threads = lock(&inner.threads);
        threads.retain(|t| !t.is_finished());
        match setup {
            Ok(t) => threads.push(t),
            Err(_) => {
                // Out of threads: the client was moved into the closure and is dropped
                // with it; account for the connection as over.
                inner.active.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
    // The listener is dropped here: the port is closed.
}

/// Connects to the target and starts the connection's four pump threads; resets the
/// client if the target cannot be reached or the connection was cut meanwhile.
fn setup(inner: Arc<Inner>, conn: Arc<Conn>, client: TcpStream, target: SocketAddr) {
    let started = (|| -> io::Result<()> {
        let target = TcpStream::connect_timeout(&target, TARGET_CONNECT_TIMEOUT)?;
        for s in [&client, &target] {
            s.set_nonblocking(false)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(POLL))?;
            s.set_write_timeout(Some(POLL))?;
        }
        // Per direction, the reader's source and the writer's destination.
        let ends = [
            (client.try_clone()?, target.try_clone()?),
            (target.try_clone()?, client.try_clone()?),
        ];
        {
            let mut sockets = lock(&conn.sockets);
            if conn.dead.load(Ordering::SeqCst) || inner.stop.load(Ordering::SeqCst) {
                // Cut or stopped while connecting: reset both (dropping `ends` first).
                drop(ends);
                reset(target);
                return Err(io::Error::other("cut while connecting"));
            }
            *sockets = Some((client.try_clone()?, target));
        }
        lock(&conn.life).running += 4;
        let mut handles = Vec::with_capacity(4);
        let mut spawn = |name: String, body: Box<dyn FnOnce() + Send>| {
            let (i, c) = (inner.clone(), conn.clone());
            let spawned = thread::Builder::new().name(name).spawn(move || {
                body();
                thread_done(&i, &c);
            });
            match spawned {
                Ok(h) => handles.push(h),
                Err(_) => {
                    // This thread will never call thread_done: count it out, and end the
                    // connection (the threads already started see `dead`).
                    lock(&conn.life).running -= 1;
                    conn.abort();
                }
            }
        };
        for (dir, (src, dst)) in ends.into_iter().enumerate() {
            let (i, c) = (inner.clone(), conn.clone());
            spawn(
                format!("proxy-read-{dir}"),
                Box::new(move || pump_read(&i, &c, dir, src)),
            );
            let (i, c) = (inner.clone(), conn.clone());
            spawn(
                format!("proxy-write-{dir}"),
                Box::new(move || pump_write(&i, &c, dir, dst)),
            );
        }
        lock(&inner.threads).extend(handles);
        Ok(())
    })();
    if started.is_err() {
        conn.dead.store(true, Ordering::SeqCst);
    }
    // `client` is dropped before thread_done, so that when the setup is the last thread,
    // the sockets held in `conn` are the last descriptors when they are closed.
    if started.is_err() && lock(&conn.sockets).is_none() {
        reset(client);
    } else {
        drop(client);
    }
    thread_done(&inner, &conn);
}

/// Called by each connection thread as it ends, after dropping its descriptors. The last
/// one closes the connection's sockets (a RST if `abort` set SO_LINGER 0).
fn thread_done(inner: &Inner, conn: &Conn) {
    let last = {
        let mut life = lock(&conn.life);
        life.running -= 1;
        life.running == 0
    };
    // Never two of the connection's locks at once (`setup` and `abort` take `sockets`).
    if last {
        drop(lock(&conn.sockets).take());
        inner.active.fetch_sub(1, Ordering::SeqCst);
        lock(&conn.life).closed = true;
        conn.finished.notify_all();
    }
}

/// Whether the connection's threads must end. Only `dead`, not the proxy's `stop`: the
/// proxy's `Drop` ends its connections through `Conn::abort`, so that they end with a
/// reset, never with a FIN from a thread that happened to notice `stop` first.
fn over(conn: &Conn) -> bool {
    conn.dead.load(Ordering::SeqCst)
}

/// Reads chunks from `src` into the direction's queue until the end of stream, an error
/// (which resets the connection) or the connection's end. Reads nothing while the
/// blackhole is on.
fn pump_read(inner: &Inner, conn: &Conn, dir: usize, mut src: TcpStream) {
    let queue = &conn.queues[dir];
    let mut buf = vec![0u8; CHUNK];
    while !over(conn) {
        if inner.blackhole.load(Ordering::SeqCst) {
            thread::sleep(POLL);
            continue;
        }
        let chunk = match src.read(&mut buf) {
            Ok(0) => None,
            Ok(n) => Some(buf[..n].to_vec()),
            Err(e) if is_timeout(&e) => continue,
            Err(_) => {
                conn.abort();
                return;
            }
        };
        if dir == 0 {
            if let Some(data) = &chunk {
                let mut tap = lock(&conn.tap);
                let room = TAP_LIMIT.saturating_sub(tap.len());
                tap.extend_from_slice(&data[..data.len().min(room)]);
            }
        }
        let due = Instant::now() + lock(&inner.settings).delay;
        let eof = chunk.is_none();
        lock(&queue.items).push_back((due, chunk));
        queue.ready.notify_all();
        if eof {
            return;
        }
    }
}

/// Writes the direction's queued chunks to `dst`, each once it is due and the blackhole
/// is off; passes the end of stream on as a FIN. A write error resets the connection.
fn pump_write(inner: &Inner, conn: &Conn, dir: usize, mut dst: TcpStream) {
    let queue = &conn.queues[dir];
    loop {
        let chunk = {
            let mut items = lock(&queue.items);
            loop {
                if over(conn) {
                    return;
                }
                let now = Instant::now();
                let wait = match items.front() {
                    Some(&(due, _)) if due <= now && !inner.blackhole.load(Ordering::SeqCst) => {
                        break;
                    }
                    Some(&(due, _)) if due > now => (due - now).min(POLL),
                    _ => POLL,
                };
                items = queue
                    .ready
                    .wait_timeout(items, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            items.pop_front().map(|(_, c)| c).unwrap_or_default()
        };
        let Some(data) = chunk else {
            let _ = dst.shutdown(Shutdown::Write);
            return;
        };
        let mut written = 0;
        while written < data.len() {
            if over(conn) {
                return;
            }
            if inner.blackhole.load(Ordering::SeqCst) {
                thread::sleep(POLL);
                continue;
            }
            match dst.write(&data[written..]) {
                Ok(0) => {
                    conn.abort();
                    return;
                }
                Ok(n) => written += n,
                Err(e) if is_timeout(&e) => {}
                Err(_) => {
                    conn.abort();
                    return;
                }
            }
        }
    }
}

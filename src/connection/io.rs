//! The I/O thread: the one owner of the socket.
//!
//! Each turn of the loop writes what callers queued (all of it in as few syscalls as the
//! socket takes), reads until the socket would block, dispatches what was decoded, keeps
//! heart-beats, then sleeps in `poll` on the socket and the waker until one of them, or
//! the next heart-beat deadline, needs it.

use std::io::{ErrorKind, Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::frame::{Decoded, Decoder, Frame};
use crate::transport::{Framing, Stream};

use super::heartbeat::Heartbeat;
use super::queue::Wakeups;
use super::{debug, dispatch, lock, Shared, Target};

/// Size of one read from the socket.
const READ_CHUNK: usize = 256 << 10;
/// Reads per loop turn before writes and timers get their turn again.
const READS_PER_TURN: usize = 16;
/// How long the thread keeps flushing after the client asked it to close.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(1);

/// What the I/O thread takes over from the handshake.
pub(crate) struct IoParts {
    pub(crate) stream: Stream,
    pub(crate) reader: Framing,
    pub(crate) decoder: Decoder,
    /// STOMP bytes that came after CONNECTED, already taken off the framing.
    pub(crate) carry: Vec<u8>,
    pub(crate) heartbeat: Heartbeat,
}

/// Why the I/O thread ended.
pub(crate) enum End {
    /// The client asked to close.
    Shutdown,
    /// The broker closed the connection (EOF or a WebSocket Close).
    PeerClosed(String),
    /// I/O error, heart-beat timeout, internal failure.
    Lost(String),
    /// The broker broke the protocol.
    Protocol(String),
    /// The broker sent an ERROR frame.
    ServerError { message: String, body: String },
}

impl End {
    pub(crate) fn reason(&self) -> String {
        match self {
            End::Shutdown => "disconnected by the client".into(),
            End::PeerClosed(d) => format!("connection closed by the broker{d}"),
            End::Lost(d) => d.clone(),
            End::Protocol(d) => format!("protocol error: {d}"),
            End::ServerError { message, body } if body.is_empty() => {
                format!("server error: {message}")
            }
            End::ServerError { message, body } => format!("server error: {message}\n{body}"),
        }
    }
}

/// The thread's body: runs the loop, turns a panic into a lost connection, and always
/// finishes the session so that no waiter is left hanging.
pub(crate) fn run(shared: Arc<Shared>, mut parts: IoParts) {
    let end = catch_unwind(AssertUnwindSafe(|| Io::new(&shared, &mut parts).run()))
        .unwrap_or_else(|_| End::Lost("internal error: the I/O thread panicked".into()));
    shared.finish(end);
    drop(parts); // closes the socket
}

struct Io<'a> {
    shared: &'a Shared,
    parts: &'a mut IoParts,
    wbuf: Vec<u8>,
    wpos: usize,
    rbuf: Vec<u8>,
    replies: Vec<u8>,
    batch: Batch,
}

/// The queues that got items during one read, woken together at its end.
struct Batch {
    subs: Wakeups<Frame>,
    jobs: Wakeups<dispatch::Job>,
}

impl Batch {
    /// Wakes the receivers of this batch. When one was waiting, the I/O thread then
    /// offers its core: on a machine (or a pinned process) with one core the receiver
    /// would otherwise wait until this thread has read many more chunks, and the queue,
    /// with the memory it holds, would grow by all of them.
    fn flush(&mut self) {
        let subs = self.subs.flush();
        let jobs = self.jobs.flush();
        if subs || jobs {
            std::thread::yield_now();
        }
    }
}

impl<'a> Io<'a> {
    fn new(shared: &'a Shared, parts: &'a mut IoParts) -> Io<'a> {
        Io {
            shared,
            parts,
            wbuf: Vec::new(),
            wpos: 0,
            rbuf: vec![0; READ_CHUNK],
            replies: Vec::new(),
            batch: Batch {
                subs: Wakeups::new(),
                jobs: Wakeups::new(),
            },
        }
    }

    fn run(&mut self) -> End {
        let carry = std::mem::take(&mut self.parts.carry);
        if let Err(end) = self.stomp_bytes(&carry) {
            return end;
        }
        let mut more_to_read = false;
        loop {
            let shutdown = self.take_outgoing();
            if let Err(end) = self.write() {
                return end;
            }
            let unwritten = self.wpos < self.wbuf.len();
            if shutdown {
                return self.flush_and_close();
            }
            let now = Instant::now();
            let hb = &self.parts.heartbeat;
            if !unwritten && hb.send_due().is_some_and(|due| now >= due) {
                self.parts.reader.write_heartbeat(&mut self.wbuf);
                continue;
            }
            if hb.deadline().is_some_and(|deadline| now >= deadline) {
                return End::Lost(format!(
                    "heart-beat timeout: nothing from the broker for {} ms (interval {} ms)",
                    hb.silent_for(now).as_millis(),
                    hb.incoming.unwrap_or_default().as_millis()
                ));
            }
            let next_beat = hb.next_wakeup();
            if !unwritten && !self.outbox_empty_then_sleep() {
                continue; // a caller queued more meanwhile
            }
            let timeout = if more_to_read {
                Some(Duration::ZERO)
            } else {
                next_beat.map(|t| t.saturating_duration_since(now))
            };
            let (readable, wake) = match poll(&self.parts.stream, self.shared, unwritten, timeout) {
                Ok(r) => r,
                Err(e) => return End::Lost(format!("poll failed: {e}")),
            };
            lock(&self.shared.outbox).io_sleeping = false;
            if wake {
                self.shared.waker.drain();
            }
            if readable || more_to_read {
                match self.read() {
                    Ok(more) => more_to_read = more,
                    Err(end) => return end,
                }
            }
        }
    }

    /// Moves queued bytes from the outbox to our write buffer (by swapping buffers, so
    /// no copy) once the previous batch is fully written. Returns the shutdown flag.
    fn take_outgoing(&mut self) -> bool {
        let mut ob = lock(&self.shared.outbox);
        if self.wpos == self.wbuf.len() && !ob.buf.is_empty() {
            self.wbuf.clear();
            self.wpos = 0;
            std::mem::swap(&mut self.wbuf, &mut ob.buf);
            if ob.space_waiters > 0 {
                self.shared.outbox_space.notify_all();
            }
        }
        ob.shutdown
    }

    /// Marks the thread as sleeping unless the outbox has bytes; false means don't sleep.
    fn outbox_empty_then_sleep(&mut self) -> bool {
        let mut ob = lock(&self.shared.outbox);
        if !ob.buf.is_empty() && !ob.shutdown {
            return false;
        }
        ob.io_sleeping = true;
        true
    }

    /// Writes until the buffer is empty or the socket would block.
    fn write(&mut self) -> Result<(), End> {
        if !self.replies.is_empty() {
            let replies = std::mem::take(&mut self.replies);
            self.wbuf.extend_from_slice(&replies);
        }
        while self.wpos < self.wbuf.len() {
            match self.parts.stream.write(&self.wbuf[self.wpos..]) {
                Ok(0) => return Err(End::Lost("the socket accepted no more data".into())),
                Ok(n) => {
                    self.wpos += n;
                    self.parts.heartbeat.wrote(Instant::now());
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(End::Lost(format!(
                        "write to {} failed: {e}",
                        self.parts.stream.peer()
                    )))
                }
            }
        }
        if self.wpos == self.wbuf.len() {
            // Keep the allocation unless a huge frame blew it up.
            if self.wbuf.capacity() > 4 << 20 {
                self.wbuf = Vec::new();
            }
            self.wbuf.clear();
            self.wpos = 0;
            if let Err(e) = self.parts.stream.flush() {
                if e.kind() != ErrorKind::WouldBlock {
                    return Err(End::Lost(format!(
                        "flush to {} failed: {e}",
                        self.parts.stream.peer()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Reads until the socket would block (or for a bounded number of reads; then
    /// returns true: there may be more, e.g. bytes OpenSSL holds that poll cannot see).
    fn read(&mut self) -> Result<bool, End> {
        for _ in 0..READS_PER_TURN {
            let n = match self.parts.stream.read(&mut self.rbuf) {
                Ok(0) => return Err(End::PeerClosed(String::new())),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(End::Lost(format!(
                        "read from {} failed: {e}",
                        self.parts.stream.peer()
                    )))
                }
            };
            self.parts.heartbeat.read(Instant::now());
            let input = std::mem::take(&mut self.rbuf);
            let r = self.wire_bytes(&input[..n]);
            self.rbuf = input;
            self.batch.flush();
            r?;
        }
        Ok(true)
    }

    /// Takes the framing off wire bytes and decodes the STOMP bytes inside.
    fn wire_bytes(&mut self, input: &[u8]) -> Result<(), End> {
        let mut stop = None;
        let shared = self.shared;
        let decoder = &mut self.parts.decoder;
        let batch = &mut self.batch;
        let outcome = self.parts.reader.read(
            input,
            &mut |data| {
                let mut data = data;
                while let Some(d) = decoder.decode(&mut data)? {
                    if let Decoded::Frame(f) = d {
                        if let Err(end) = deliver(shared, f, batch) {
                            stop = Some(end);
                            return Err(Error::Disconnected);
                        }
                    }
                }
                Ok(())
            },
            &mut self.replies,
        );
        if let Some(end) = stop {
            return Err(end);
        }
        match outcome {
            Ok(o) => match o.closed {
                Some(c) => {
                    let _ = self.write();
                    let code = c.code.map(|c| format!(" {c}")).unwrap_or_default();
                    let sep = if c.reason.is_empty() { "" } else { " " };
                    Err(End::PeerClosed(format!(
                        " (WebSocket close{code}{sep}{})",
                        c.reason
                    )))
                }
                None => Ok(()),
            },
            Err(Error::Protocol(d)) => Err(End::Protocol(d)),
            Err(e) => Err(End::Protocol(e.to_string())),
        }
    }

    /// STOMP bytes that need no deframing (left over from the handshake).
    fn stomp_bytes(&mut self, mut data: &[u8]) -> Result<(), End> {
        while let Some(d) = self
            .parts
            .decoder
            .decode(&mut data)
            .map_err(|e| End::Protocol(e.to_string()))?
        {
            if let Decoded::Frame(f) = d {
                let r = deliver(self.shared, f, &mut self.batch);
                self.batch.flush();
                r?;
            }
        }
        Ok(())
    }

    /// The client is closing: write what is left (the DISCONNECT, the WebSocket Close)
    /// for a bounded time, then end.
    fn flush_and_close(&mut self) -> End {
        let deadline = Instant::now() + SHUTDOWN_FLUSH;
        loop {
            let _ = self.take_outgoing();
            if self.write().is_err() || self.wpos == self.wbuf.len() {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || poll(&self.parts.stream, self.shared, true, Some(left)).is_err() {
                break;
            }
        }
        End::Shutdown
    }
}

/// Hands one decoded frame to whoever waits for it. An ERROR ends the session.
fn deliver(shared: &Shared, frame: Frame, batch: &mut Batch) -> Result<(), End> {
    if let Some(d) = &shared.settings.debug {
        d(&debug::frame_line("<<<", &frame));
    }
    match frame.command() {
        "MESSAGE" => {
            deliver_message(shared, frame, batch);
            Ok(())
        }
        "RECEIPT" => {
            if let Some(id) = frame.header("receipt-id") {
                if let Some(tx) = lock(&shared.state).receipts.remove(id) {
                    let _ = tx.send(Ok(()));
                }
            }
            Ok(())
        }
        "ERROR" => {
            let message = frame.header("message").unwrap_or("").to_string();
            let body = String::from_utf8_lossy(frame.body()).trim_end().to_string();
            if let Some(id) = frame.header("receipt-id") {
                if let Some(tx) = lock(&shared.state).receipts.remove(id) {
                    let _ = tx.send(Err(Error::ServerError {
                        message: message.clone(),
                        body: body.clone(),
                    }));
                }
            }
            Err(End::ServerError { message, body })
        }
        _ => Ok(()), // e.g. a second CONNECTED: nothing waits for it
    }
}

fn deliver_message(shared: &Shared, frame: Frame, batch: &mut Batch) {
    let mut st = lock(&shared.state);
    let entry = match frame.header("subscription") {
        Some(id) => st.subs.get_key_value(id),
        // STOMP 1.0 brokers may omit it: match by destination when that is unambiguous.
        None => {
            let dest = frame.header("destination").unwrap_or("");
            let mut hits = st.subs.iter().filter(|(_, e)| e.destination == dest);
            match (hits.next(), hits.next()) {
                (Some(hit), None) => Some(hit),
                _ => None,
            }
        }
    };
    let Some((id, entry)) = entry else {
        return; // unsubscribed meanwhile; the broker had it in flight
    };
    let size = frame.size_hint();
    let queued = entry.stats.messages.fetch_add(1, Ordering::Relaxed) + 1;
    let bytes = entry.stats.bytes.fetch_add(size, Ordering::Relaxed) + size;
    match &entry.target {
        Target::Pull(q) => {
            if q.push_quiet(frame) {
                batch.subs.add(q);
            }
        }
        Target::Callback(slot) => {
            let job = dispatch::Job::Message(Arc::clone(slot), Arc::clone(&entry.stats), frame);
            if shared.jobs.push_quiet(job) {
                batch.jobs.add(&shared.jobs);
            }
        }
    }
    let (max_messages, max_bytes) = shared.settings.queue_limit;
    if queued > max_messages || bytes > max_bytes {
        // Never stop reading for a slow consumer: close its subscription instead. Its
        // receiver still gets what is queued, then "disconnected".
        let id = id.clone();
        let entry = st.subs.remove(&id);
        drop(st);
        drop(entry);
        let _ = shared.enqueue_frame(
            |w| {
                w.header("id", &id);
            },
            "UNSUBSCRIBE",
            b"",
            super::Origin::IoThread,
        );
        shared.event(
            super::Event::SubscriptionClosed,
            &format!("{id}: queue limit of {max_messages} messages / {max_bytes} bytes passed"),
        );
    }
}

/// Waits for the socket (readable; writable when `want_write`) or the waker.
/// Returns (socket readable or hung up, waker fired).
fn poll(
    stream: &Stream,
    shared: &Shared,
    want_write: bool,
    timeout: Option<Duration>,
) -> std::io::Result<(bool, bool)> {
    let mut events = libc::POLLIN;
    if want_write {
        events |= libc::POLLOUT;
    }
    let mut fds = [
        libc::pollfd {
            fd: stream.raw_fd(),
            events,
            revents: 0,
        },
        libc::pollfd {
            fd: shared.waker.fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let ms = match timeout {
        None => -1,
        // Round up so that we never wake just before a deadline and spin.
        Some(d) => d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32,
    };
    loop {
        // SAFETY: `fds` is a live array of two initialised pollfd structs, and its length
        // is passed along with it.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if r >= 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let hangup = libc::POLLIN | libc::POLLHUP | libc::POLLERR;
    Ok((
        fds[0].revents & hangup != 0,
        fds[1].revents & libc::POLLIN != 0,
    ))
}

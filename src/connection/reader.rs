//! The read side of a session: framing, decoder and read buffer, and the delivery of
//! what is decoded (receipts, messages, ERROR). Whoever reads the socket holds the
//! [`ReadSide`]: the I/O thread, or a leader (see `leader.rs`).

use std::io::{self, ErrorKind, Read};
use std::os::fd::RawFd;
use std::sync::Arc;

use crate::error::Error;
use crate::frame::{Decoded, Decoder, Frame};
use crate::transport::{socket, Framing};

use super::io::End;
use super::queue::Wakeups;
use super::{debug, dispatch, lock, Shared, Target};

/// Size of one read from the socket.
pub(crate) const READ_CHUNK: usize = 256 << 10;
/// Reads per turn of the I/O thread before writes and timers get their turn again (a
/// leader reads one chunk at a time, and stops as soon as its answer is there).
pub(crate) const READS_PER_TURN: usize = 16;
/// The least body still to come for which a read goes straight into the frame's own
/// buffer (see [`ReadSide::read_once`]) rather than through the read buffer.
pub(crate) const DIRECT_BODY: usize = 16 << 10;

/// What the read side reads from: the session's stream, or the socket under it.
pub(crate) trait Source: Read {
    /// The socket's descriptor when reads may bypass `read` and go to the kernel
    /// directly (into memory not yet initialised); `None` when bytes must come through
    /// `read` (TLS).
    fn direct_fd(&self) -> Option<RawFd>;

    /// Whether a read waits for data (a leader's, see `socket.rs`) rather than failing
    /// with `WouldBlock` at once.
    fn waits(&self) -> bool {
        false
    }
}

impl Source for crate::transport::Stream {
    fn direct_fd(&self) -> Option<RawFd> {
        self.socket_fd()
    }
}

/// Framing, decoder and buffers of the reading side.
pub(crate) struct ReadSide {
    framing: Framing,
    decoder: Decoder,
    rbuf: Vec<u8>,
    /// Pongs and Close replies produced while reading, for the writer.
    pub(crate) replies: Vec<u8>,
    batch: Batch,
    /// An end a leader met (EOF, error, ERROR frame); the I/O thread ends with it.
    pub(crate) end: Option<End>,
    /// The link this side reads: every message is tagged with it.
    epoch: u64,
}

/// The queues that got items during one read, woken together at its end.
struct Batch {
    subs: Wakeups<Frame>,
    jobs: Wakeups<dispatch::Job>,
    /// A subscription this batch delivered to holds more than [`BACKLOG`] bytes.
    backlog: bool,
}

/// Queued bytes of one subscription past which the reader offers its core after each
/// read, though no receiver waits: see [`Batch::flush`].
const BACKLOG: usize = 512 << 10;

impl Batch {
    /// Wakes the receivers of this batch. When one was waiting, the reader then offers
    /// its core: on a machine (or a pinned process) with one core the receiver would
    /// otherwise wait until many more chunks were read, and the queue, with the memory
    /// it holds, would grow by all of them. The same when a receiver falls behind
    /// without waiting (it was preempted while it handled a message): with nobody to
    /// wake, the reader would go on for the rest of its time slice, and a slice of
    /// 64 KiB messages at full speed queued up to 8 MB (benchmark consumer on one core:
    /// peak RSS above 5 MB in 15 of 84 runs; at most 3.6 MB in 64 runs since).
    fn flush(&mut self) {
        let subs = self.subs.flush();
        let jobs = self.jobs.flush();
        if subs || jobs || std::mem::take(&mut self.backlog) {
            std::thread::yield_now();
        }
    }
}

impl ReadSide {
    pub(crate) fn new(framing: Framing, decoder: Decoder, epoch: u64) -> ReadSide {
        ReadSide {
            framing,
            decoder,
            rbuf: Vec::new(),
            replies: Vec::new(),
            batch: Batch {
                subs: Wakeups::new(),
                jobs: Wakeups::new(),
                backlog: false,
            },
            end: None,
            epoch,
        }
    }

    /// Reads from `src` until it would block, decoding and delivering as it goes.
    /// Returns true when it stopped after [`READS_PER_TURN`] reads (more may wait,
    /// e.g. bytes OpenSSL holds that poll cannot see).
    pub(crate) fn read_from(
        &mut self,
        shared: &Shared,
        src: &mut dyn Source,
        peer: &str,
        max_reads: usize,
    ) -> std::result::Result<bool, End> {
        if self.rbuf.is_empty() {
            // Zeroed memory from the allocator: pages are only touched as data arrives.
            self.rbuf = vec![0; READ_CHUNK];
        }
        for _ in 0..max_reads {
            let n = match self.read_once(src) {
                Ok((0, _)) => return Err(End::PeerClosed(String::new())),
                Ok((_, tail)) => tail,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(End::Lost(format!("read from {peer} failed: {e}"))),
            };
            shared.saw_data();
            let input = std::mem::take(&mut self.rbuf);
            let r = self.wire_bytes(shared, &input[..n]);
            self.rbuf = input;
            self.batch.flush();
            r?;
        }
        Ok(true)
    }

    /// One read from `src`. Returns the bytes read, and how many of them are in the read
    /// buffer, waiting to be decoded.
    ///
    /// When the bytes next on the wire are the rest of a large body, and the socket can
    /// be read directly, one `recvmsg` puts that rest straight into the frame's own buffer
    /// and what follows into the read buffer: a large body is not copied out of the
    /// read buffer, and the read buffer need not be as large as the frames.
    fn read_once(&mut self, src: &mut dyn Source) -> io::Result<(usize, usize)> {
        let room = self.framing.payload_room();
        let direct = match src.direct_fd() {
            Some(fd) if room >= DIRECT_BODY => {
                self.decoder.body_spare(DIRECT_BODY).map(|s| (fd, s))
            }
            _ => None,
        };
        let Some((fd, spare)) = direct else {
            let n = src.read(&mut self.rbuf)?;
            return Ok((n, n));
        };
        let len = spare.len().min(room);
        let mut iov = [
            libc::iovec {
                iov_base: spare.as_mut_ptr().cast(),
                iov_len: len,
            },
            libc::iovec {
                iov_base: self.rbuf.as_mut_ptr().cast(),
                iov_len: self.rbuf.len(),
            },
        ];
        // SAFETY: both regions are live, writable and as long as given (the first is
        // spare capacity of the frame's buffer, which the kernel writes and never
        // reads). The caller keeps `fd` open.
        let n = unsafe { socket::recv_vectored(fd, &mut iov, src.waits()) }?;
        let body = n.min(len);
        // SAFETY: recvmsg filled the first `body` bytes of the spare slice, `body <= len`.
        unsafe { self.decoder.body_filled(body) };
        self.framing.payload_taken(body);
        Ok((n, n - body))
    }

    /// Takes the framing off wire bytes and decodes the STOMP bytes inside.
    fn wire_bytes(&mut self, shared: &Shared, input: &[u8]) -> std::result::Result<(), End> {
        let mut stop = None;
        let decoder = &mut self.decoder;
        let batch = &mut self.batch;
        let epoch = self.epoch;
        let outcome = self.framing.read(
            input,
            &mut |data| {
                let mut data = data;
                while let Some(d) = decoder.decode(&mut data)? {
                    if let Decoded::Frame(mut f) = d {
                        f.set_epoch(epoch);
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

    /// STOMP bytes that need no deframing (what came after CONNECTED in its read).
    pub(crate) fn stomp_bytes(
        &mut self,
        shared: &Shared,
        mut data: &[u8],
    ) -> std::result::Result<(), End> {
        while let Some(d) = self
            .decoder
            .decode(&mut data)
            .map_err(|e| End::Protocol(e.to_string()))?
        {
            if let Decoded::Frame(mut f) = d {
                f.set_epoch(self.epoch);
                let r = deliver(shared, f, &mut self.batch);
                self.batch.flush();
                r?;
            }
        }
        Ok(())
    }
}

/// Hands one decoded frame to whoever waits for it. An ERROR ends the session.
fn deliver(shared: &Shared, frame: Frame, batch: &mut Batch) -> std::result::Result<(), End> {
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
                let waiter = lock(&shared.state).receipts.remove(id);
                if let Some(tx) = waiter {
                    let _ = tx.send(Ok(()));
                    shared.open_leader_window();
                }
            }
            Ok(())
        }
        "ERROR" if late_delivery_error(shared, &frame) => {
            // Not fatal: see late_delivery_error. Reported, and the session goes on.
            let message = frame.header("message").unwrap_or("");
            shared.event(super::Event::ServerError, message);
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

/// RabbitMQ answers a delivery that crossed our UNSUBSCRIBE with
/// `ERROR message:Subscription not found` naming the subscription's tag `T_<id>`, and
/// keeps the connection open. Ending the session for that would make unsubscribing
/// from a busy destination lose the connection now and then, so this one ERROR, for an
/// id we gave up ourselves and asked no receipt of, is not fatal.
fn late_delivery_error(shared: &Shared, frame: &Frame) -> bool {
    if frame.header("message") != Some("Subscription not found")
        || frame.header("receipt-id").is_some()
    {
        return false;
    }
    let body = String::from_utf8_lossy(frame.body());
    let Some(tag) = body.split('\'').nth(1) else {
        return false;
    };
    let id = tag.strip_prefix("T_").unwrap_or(tag);
    lock(&shared.state).was_unsubscribed(id)
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
    let queued = entry
        .stats
        .messages
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        + 1;
    let bytes = entry
        .stats
        .bytes
        .fetch_add(size, std::sync::atomic::Ordering::Relaxed)
        + size;
    batch.backlog |= bytes > BACKLOG;
    match &entry.target {
        Target::Pull(q) => {
            if q.push_quiet(frame) {
                batch.subs.add(q);
                // Someone waited for this: likely request/response, as after a RECEIPT.
                shared.open_leader_window();
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
        let entry = st.forget_subscription(&id);
        drop(st);
        drop(entry);
        let _ = shared.enqueue_frame(
            |w| {
                w.header("id", &id);
            },
            "UNSUBSCRIBE",
            b"",
            super::Origin::Internal,
        );
        shared.event(
            super::Event::SubscriptionClosed,
            &format!("{id}: queue limit of {max_messages} messages / {max_bytes} bytes passed"),
        );
    }
}

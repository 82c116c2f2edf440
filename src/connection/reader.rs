//! The read side of a link: framing, decoder and read buffer. Whoever reads the socket
//! holds the [`ReadSide`]: the I/O thread, or a leader (see `leader.rs`). What it
//! decodes goes to a [`Deliver`] (the session, in `deliver.rs`), with the queues it
//! filled woken once per read ([`Batch`]).

use std::io::{self, ErrorKind, Read};
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Instant;

use crate::error::Error;
use crate::frame::{Decoded, Decoder, Frame};
use crate::transport::{socket, Framing};

use super::callback::Job;
use super::end::End;
use super::queue::{Queue, Wakeups};

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

/// What one [`ReadSide::read_from`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Turn {
    /// It stopped after its last allowed read rather than at `WouldBlock`: more may
    /// wait (e.g. bytes OpenSSL holds that poll cannot see).
    pub(crate) more: bool,
    /// When its last read that brought data returned (`None`: none did). A leader
    /// takes it as the time now, which saves reading the clock again.
    pub(crate) data_at: Option<Instant>,
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
    /// The last frame decoded had a large body (at least [`DIRECT_BODY`] bytes).
    last_large: bool,
}

/// Where decoded frames go.
pub(crate) trait Deliver {
    /// Data came in at `at` (any byte proves the broker alive).
    fn saw_data(&self, at: Instant);

    /// Hands one decoded frame to whoever waits for it, noting in `batch` the queues
    /// to wake. `Err` ends the link (an ERROR frame).
    fn deliver(&self, frame: Frame, batch: &mut Batch) -> std::result::Result<(), End>;
}

/// The queues that got items during one read, woken together at its end.
pub(crate) struct Batch {
    subs: Wakeups<Frame>,
    jobs: Wakeups<Job>,
    /// A subscription this batch delivered to holds more than [`BACKLOG`] bytes.
    backlog: bool,
}

/// Queued bytes of one subscription past which the reader offers its core after each
/// read, though no receiver waits: see [`Batch::flush`].
const BACKLOG: usize = 512 << 10;

impl Batch {
    /// A subscription's queue got a frame that a receiver waits for. True the first
    /// time in this batch for that queue.
    pub(crate) fn woke(&mut self, queue: &Arc<Queue<Frame>>) -> bool {
        self.subs.add(queue)
    }

    /// The dispatch thread's queue got a job while it waited.
    pub(crate) fn woke_jobs(&mut self, jobs: &Arc<Queue<Job>>) {
        self.jobs.add(jobs);
    }

    /// A subscription now holds `bytes` queued bytes.
    pub(crate) fn queued(&mut self, bytes: usize) {
        self.backlog |= bytes > BACKLOG;
    }

    /// Wakes the receivers of this batch. When one was waiting, the reader then offers
    /// its core: on a machine (or a pinned process) with one core the receiver would
    /// otherwise wait until many more chunks were read, and the queue, with the memory
    /// it holds, would grow by all of them. The same when a receiver falls behind
    /// without waiting (it was preempted while it handled a message): with nobody to
    /// wake, the reader would go on for the rest of its time slice, and a slice of
    /// large messages at full speed queues megabytes.
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
            last_large: false,
        }
    }

    /// Whether large bodies are on their way: the rest of one, or, since the last frame
    /// had one, likely the next. Their bytes come in many pieces, and a reader does
    /// better to wait for them in `poll` than in the read (see `leader.rs`).
    pub(crate) fn in_large_bodies(&self) -> bool {
        self.last_large || self.decoder.body_missing() >= DIRECT_BODY
    }

    /// Reads from `src` until it would block, or `max_reads` times, decoding and
    /// delivering as it goes. See [`Turn`] for what it returns.
    pub(crate) fn read_from(
        &mut self,
        sink: &impl Deliver,
        src: &mut dyn Source,
        peer: &str,
        max_reads: usize,
    ) -> std::result::Result<Turn, End> {
        if self.rbuf.is_empty() {
            // Zeroed memory from the allocator: pages are only touched as data arrives.
            self.rbuf = vec![0; READ_CHUNK];
        }
        let mut turn = Turn {
            more: true,
            data_at: None,
        };
        for _ in 0..max_reads {
            let n = match self.read_once(src) {
                Ok((0, _)) => return Err(End::PeerClosed(String::new())),
                Ok((_, tail)) => tail,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    turn.more = false;
                    return Ok(turn);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(End::Lost(format!("read from {peer} failed: {e}"))),
            };
            let at = Instant::now();
            turn.data_at = Some(at);
            sink.saw_data(at);
            let input = std::mem::take(&mut self.rbuf);
            let r = self.wire_bytes(sink, &input[..n]);
            self.rbuf = input;
            self.batch.flush();
            r?;
        }
        Ok(turn)
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
    fn wire_bytes(&mut self, sink: &impl Deliver, input: &[u8]) -> std::result::Result<(), End> {
        let mut stop = None;
        let decoder = &mut self.decoder;
        let batch = &mut self.batch;
        let epoch = self.epoch;
        let mut last_large = None;
        let outcome = self.framing.read(
            input,
            &mut |data| {
                let mut data = data;
                while let Some(d) = decoder.decode(&mut data)? {
                    if let Decoded::Frame(mut f) = d {
                        f.set_epoch(epoch);
                        last_large = Some(f.body().len() >= DIRECT_BODY);
                        if let Err(end) = sink.deliver(f, batch) {
                            stop = Some(end);
                            return Err(Error::Disconnected);
                        }
                    }
                }
                Ok(())
            },
            &mut self.replies,
        );
        if let Some(large) = last_large {
            self.last_large = large;
        }
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
        sink: &impl Deliver,
        mut data: &[u8],
    ) -> std::result::Result<(), End> {
        while let Some(d) = self
            .decoder
            .decode(&mut data)
            .map_err(|e| End::Protocol(e.to_string()))?
        {
            if let Decoded::Frame(mut f) = d {
                f.set_epoch(self.epoch);
                let r = sink.deliver(f, &mut self.batch);
                self.batch.flush();
                r?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::VecDeque;

    use super::*;
    use crate::frame::Limits;

    /// Records what the reader hands on.
    #[derive(Default)]
    struct Sink {
        seen: RefCell<Vec<Instant>>,
        frames: RefCell<Vec<String>>,
    }

    impl Deliver for Sink {
        fn saw_data(&self, at: Instant) {
            self.seen.borrow_mut().push(at);
        }

        fn deliver(&self, frame: Frame, _: &mut Batch) -> std::result::Result<(), End> {
            self.frames.borrow_mut().push(frame.command().to_string());
            Ok(())
        }
    }

    /// Chunks of bytes, one per read, then `WouldBlock`.
    struct Chunks(VecDeque<&'static [u8]>);

    impl Read for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let chunk = self.0.pop_front().ok_or(ErrorKind::WouldBlock)?;
            buf[..chunk.len()].copy_from_slice(chunk);
            Ok(chunk.len())
        }
    }

    impl Source for Chunks {
        fn direct_fd(&self) -> Option<RawFd> {
            None
        }
    }

    fn read_side() -> ReadSide {
        let ep = crate::transport::parse_url("tcp://127.0.0.1:61613").unwrap();
        ReadSide::new(Framing::raw(&ep), Decoder::new(Limits::default()), 1)
    }

    #[test]
    fn a_turn_says_when_its_data_came_and_whether_more_may_wait() {
        let mut rs = read_side();
        let sink = Sink::default();
        let mut src = Chunks(VecDeque::from([
            &b"MESSAGE\nsubscription:0\n\nhi\0"[..],
            &b"RECEIPT\nreceipt-id:1\n\n\0"[..],
        ]));
        let before = Instant::now();
        let turn = rs.read_from(&sink, &mut src, "test", 1).unwrap();
        assert!(turn.more, "stopped after its one read, not at WouldBlock");
        let at = turn.data_at.expect("the read brought data");
        assert!(at >= before);
        assert_eq!(
            *sink.seen.borrow(),
            [at],
            "the broker's liveness uses the same time"
        );
        assert_eq!(*sink.frames.borrow(), ["MESSAGE"]);

        let turn = rs.read_from(&sink, &mut src, "test", 4).unwrap();
        assert!(!turn.more, "ended at WouldBlock");
        assert!(turn.data_at.is_some_and(|t| t >= at));
        assert_eq!(*sink.frames.borrow(), ["MESSAGE", "RECEIPT"]);

        let turn = rs.read_from(&sink, &mut src, "test", 4).unwrap();
        assert_eq!(
            turn,
            Turn {
                more: false,
                data_at: None
            }
        );
        assert_eq!(sink.seen.borrow().len(), 2);
    }
}

//! The one wait of a caller for what the read side delivers, and leader/followers:
//! handing the reading role to a caller that waits for an answer.
//!
//! Whoever reads the socket holds the `ReadSide` (`reader.rs`): normally the I/O
//! thread; but on a plain TCP socket a caller about to wait for its receipt may take the
//! reading role itself (it "leads") while the I/O thread stays off the socket, so that
//! the answer reaches the caller without passing through another thread. On one core
//! that saves a context switch per round trip. The I/O thread leaves the socket to
//! leaders for a short window after each RECEIPT (request/response traffic usually comes
//! in runs) and whenever a leader is active; the state that decides it lives in the
//! outbox (`outbox.rs`), under its lock, with the rules.
//!
//! A leader hands on what it reads as the I/O thread would (`deliver.rs`), except that a
//! receiver's lead takes that receiver's next message for it directly ([`Claim`]).

use std::cell::RefCell;
use std::io::Read;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::frame::Frame;
use crate::transport::{poll_once, socket};

use super::end::End;
use super::outbox::Role;
use super::queue::Queue;
use super::reader::{Batch, Deliver, Source};
use super::session::Session;
use super::sync::lock;

/// How long a follower waits before it tries to lead again, while the I/O thread may be
/// off the socket.
const FOLLOWER_RECHECK: Duration = Duration::from_micros(200);

/// What a caller about to wait became; see [`Session::try_lead`].
enum Lead<'a> {
    /// It reads the socket itself, on this descriptor, until its answer came.
    Leader(RawFd),
    /// It waits to be handed its answer; registered until dropped. With a duration: it
    /// should wait no longer than that before it tries to lead again.
    Follower(Follower<'a>, Option<Duration>),
}

/// A registered follower; see [`Lead`].
struct Follower<'a>(&'a Session);

impl Drop for Follower<'_> {
    fn drop(&mut self) {
        lock(&self.0.link.outbox).unfollow();
    }
}

impl Session {
    /// Before a caller waits, at `now`: the leader role or a follower's place, as the
    /// outbox's rule decides ([`Outbox::before_wait`](super::outbox::Outbox::before_wait)).
    fn try_lead(&self, now: Instant) -> Lead<'_> {
        let (role, wake) = lock(&self.link.outbox).before_wait(now, socket::send);
        if wake {
            self.link.waker.wake();
        }
        match role {
            Role::Leader(fd) => Lead::Leader(fd),
            Role::Follower { recheck } => {
                Lead::Follower(Follower(self), recheck.then_some(FOLLOWER_RECHECK))
            }
        }
    }

    /// Registers a caller that waits without leading (after leading gave up).
    fn follow(&self) -> Follower<'_> {
        lock(&self.link.outbox).follow();
        Follower(self)
    }

    /// Gives the leader role back at `now`, keeping the window open for the next round
    /// trip; wakes the I/O thread when followers wait or the leader met the end of the
    /// link.
    fn end_lead(&self, now: Instant) {
        let followers = lock(&self.link.outbox).end_lead(now);
        if followers || self.link.leader_ended.load(Ordering::Acquire) {
            self.link.waker.wake();
        }
    }

    /// After a waiter was handed its answer: see [`Outbox::answered`](super::outbox::Outbox::answered).
    pub(crate) fn open_leader_window(&self) {
        lock(&self.link.outbox).answered(Instant::now());
    }

    /// The I/O thread is back from poll (woken by the flush timer when `timer_fired`).
    pub(crate) fn awake(&self, timer_fired: bool) {
        lock(&self.link.outbox).io_awake(timer_fired);
    }

    /// An end a leader met, for the I/O thread to end with.
    pub(crate) fn leader_end(&self) -> Option<End> {
        if !self.link.leader_ended.load(Ordering::Acquire) {
            return None;
        }
        lock(&self.link.read_side).end.take()
    }
}

/// Reads a plain socket by its descriptor (a leader cannot use the I/O thread's stream).
///
/// The descriptor stays open while the leader reads: the leader checked under the outbox
/// lock that the session was connected before it started, and the I/O thread closes the
/// socket only after finishing the session, which waits for the read side's lock the
/// leader holds.
struct FdReader {
    fd: RawFd,
    /// Whether a read waits for data (about `socket::WAIT_SLICE`, at most
    /// `socket::WAIT_BOUND`).
    wait: bool,
}

impl Source for FdReader {
    fn direct_fd(&self) -> Option<RawFd> {
        Some(self.fd)
    }

    fn waits(&self) -> bool {
        self.wait
    }
}

impl Read for FdReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        socket::recv(self.fd, buf, self.wait)
    }
}

/// How long a wait without a deadline (a subscription's iterator) leads before it looks
/// again whether it may go on leading.
const LEAD_UNBOUNDED: Duration = Duration::from_secs(1);

/// What a receiver on a pull subscription lets its lead take for it straight off the
/// wire: the subscription's next MESSAGE, which then bypasses the queue (and its locks,
/// the routing table and the queue's accounting). A consumer paced by its broker leads
/// once per message, so this is most of its path. Order is kept: a leader reads only
/// after a look found the queue empty, and while it holds the read side nobody else
/// puts anything in it; it claims one frame, and what comes after it goes to the queue.
pub(crate) struct Claim<'a, T> {
    /// The subscription's id, as MESSAGE frames name it in their `subscription` header.
    pub(crate) id: &'a str,
    /// Its queue. A closed one claims nothing: the session closes it when it forgets
    /// the subscription, before the id can be used again, so a frame read after that
    /// may belong to a new subscription of the same id.
    pub(crate) queue: &'a Queue<Frame>,
    /// Makes the caller's answer of the claimed frame.
    pub(crate) answer: fn(Frame) -> T,
}

/// The session as the sink of a leader's reads: hands every frame on as the I/O thread
/// would, except the one MESSAGE it claims for the leader's caller.
struct Claiming<'a, T> {
    shared: &'a Session,
    claim: Option<&'a Claim<'a, T>>,
    got: RefCell<Option<Frame>>,
}

impl<T> Claiming<'_, T> {
    /// Whether `frame` is the one to keep. The cheap test first: once a frame is kept,
    /// the rest of the read goes on without a second header lookup per frame (`deliver`
    /// looks the header up itself).
    fn claims(&self, frame: &Frame) -> bool {
        self.got.borrow().is_none()
            && self.claim.is_some_and(|c| {
                frame.command() == "MESSAGE"
                    && frame.header("subscription") == Some(c.id)
                    && !c.queue.is_closed()
            })
    }
}

impl<T> Deliver for Claiming<'_, T> {
    fn saw_data(&self, at: Instant) {
        self.shared.link.saw_data(at);
    }

    fn deliver(&self, frame: Frame, batch: &mut Batch) -> std::result::Result<(), End> {
        if !self.claims(&frame) {
            return self.shared.deliver(frame, batch);
        }
        self.shared.debug_received(&frame);
        *self.got.borrow_mut() = Some(frame);
        Ok(())
    }
}

impl Session {
    /// The one wait of a caller for what the read side delivers: its receipt, or a
    /// message of its subscription, which `take` returns if one came; `take` is given
    /// how long it may wait (`None`: no bound, `Some(ZERO)`: just look). Until
    /// `deadline` (`None`: no end) the caller takes the leader role whenever it can,
    /// reading the socket itself (sleeping as `how` says) and looking with `take` after
    /// each read; otherwise it waits as a follower in `take`. Returns `None` once the
    /// deadline passed without an answer.
    ///
    /// With a `claim`, a lead may also take the caller's message straight off the wire
    /// (see [`Claim`]).
    ///
    /// `now` is the time the caller read when it set its deadline. The clock is read
    /// again only after a wait: a consumer paced by its broker comes here once per
    /// message, and reading the clock at every step was a measurable part of its cost.
    pub(crate) fn wait_for<T>(
        &self,
        mut now: Instant,
        deadline: Option<Instant>,
        how: Wait,
        claim: Option<&Claim<'_, T>>,
        take: &mut dyn FnMut(Option<Duration>) -> Option<T>,
    ) -> Option<T> {
        loop {
            let (follower, recheck) = match self.try_lead(now) {
                Lead::Leader(fd) => {
                    let until = deadline.unwrap_or(now + LEAD_UNBOUNDED);
                    let sink = Claiming {
                        shared: self,
                        claim,
                        got: RefCell::new(None),
                    };
                    let answer;
                    (answer, now) = lead_until(&sink, fd, now, until, how, take);
                    if answer.is_some() {
                        return answer;
                    }
                    (self.follow(), None)
                }
                Lead::Follower(f, recheck) => (f, recheck),
            };
            let left = deadline.map(|d| d.saturating_duration_since(now));
            let wait = match (left, recheck) {
                (Some(l), Some(r)) => Some(l.min(r)),
                (l, r) => l.or(r),
            };
            let answer = take(wait);
            drop(follower);
            if answer.is_some() {
                return answer;
            }
            now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return None;
            }
        }
    }
}

/// Where a leader sleeps until data comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// In the read itself (see `socket.rs`): for one answer, a receipt, where it saves
    /// a system call per round trip.
    InRead,
    /// For messages: in the read itself too, which is what a consumer paced by its
    /// broker does most (a message now and then, each read a wake-up), except while
    /// large messages come (the rest of one, or the next after one). Those come in many
    /// pieces, and reads that waited for each piece themselves cost a consumer of large
    /// messages clearly more CPU time than `poll` and a read that does not wait.
    Stream,
}

/// Reads the socket as the leader from `now` until `take` (given `Some(ZERO)`: a look)
/// returns the answer, the deadline passes or the session ends, then gives the leader
/// role back. Returns the answer if it came, and the time it last knew: when its last
/// read brought data (taken right after that read), or a fresh reading.
///
/// Each turn is a look, then one read. When `how` says so, the read waits for data
/// itself (no `poll` first) for about `socket::WAIT_SLICE`, after which the session and
/// the deadline are looked at again. Otherwise, and with less than `socket::WAIT_BOUND`
/// (the longest such a read can take) left before the deadline, `poll` waits (at most
/// as long as is left, in slices of `WAIT_SLICE`) and the read that follows does not
/// wait.
fn lead_until<T>(
    sink: &Claiming<'_, T>,
    fd: RawFd,
    mut now: Instant,
    deadline: Instant,
    how: Wait,
    take: &mut dyn FnMut(Option<Duration>) -> Option<T>,
) -> (Option<T>, Instant) {
    let shared = sink.shared;
    let mut rs = lock(&shared.link.read_side);
    let answer = loop {
        // The answer may have come before this caller led, or with the last read.
        let answer = take(Some(Duration::ZERO));
        if answer.is_some() || rs.end.is_some() || !shared.is_connected() || now >= deadline {
            break answer;
        }
        let left = deadline - now;
        let wait = left >= socket::WAIT_BOUND
            && match how {
                Wait::InRead => true,
                Wait::Stream => !rs.in_large_bodies(),
            };
        if !wait {
            match poll_once(fd, libc::POLLIN, left.min(socket::WAIT_SLICE)) {
                Ok(true) => {}
                Ok(false) => {
                    now = Instant::now();
                    continue;
                }
                Err(e) => {
                    rs.end = Some(End::Lost(format!("poll failed: {e}")));
                    shared.link.leader_ended.store(true, Ordering::Release);
                    continue; // the next turn looks once more, and ends
                }
            }
        }
        let mut src = FdReader { fd, wait };
        match rs.read_from(sink, &mut src, "the broker", 1) {
            Ok(turn) => now = turn.data_at.unwrap_or_else(Instant::now),
            Err(end) => {
                rs.end = Some(end);
                shared.link.leader_ended.store(true, Ordering::Release);
                now = Instant::now();
            }
        }
        if !rs.replies.is_empty() {
            let replies = std::mem::take(&mut rs.replies);
            shared.enqueue_wire(&replies);
        }
        // A claimed message is the answer, even when the read also met the end.
        if let (Some(frame), Some(c)) = (sink.got.take(), sink.claim) {
            break Some((c.answer)(frame));
        }
    };
    drop(rs);
    shared.end_lead(now);
    (answer, now)
}

//! The hand-off queue between the I/O thread and the threads that consume what it reads
//! (pull subscribers, the dispatch thread).
//!
//! A channel wakes its receiver on every send. When the I/O thread decodes a few hundred
//! messages from one read and the receiver shares its core, that is a context switch per
//! message. This queue lets the producer push a whole batch quietly and wake the
//! receivers once at the end of it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::sync::lock;

/// Why a receive returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Empty {
    /// Nothing came within the time given.
    Timeout,
    /// The queue is closed and drained.
    Closed,
}

struct Inner<T> {
    items: VecDeque<T>,
    /// Receivers blocked in `recv`; a push needs a wake-up only when this is not 0.
    waiters: usize,
}

/// A FIFO with batched wake-ups; see the module docs.
pub(crate) struct Queue<T> {
    inner: Mutex<Inner<T>>,
    ready: Condvar,
    /// No more items will come. Written only under `inner`'s lock, so that those who
    /// hold it see it as if it were part of `Inner`; readable without the lock too
    /// ([`Queue::is_closed`]).
    closed: AtomicBool,
}

impl<T> Queue<T> {
    pub(crate) fn new() -> Arc<Queue<T>> {
        Arc::new(Queue {
            inner: Mutex::new(Inner {
                items: VecDeque::new(),
                waiters: 0,
            }),
            ready: Condvar::new(),
            closed: AtomicBool::new(false),
        })
    }

    /// Adds an item without waking anyone. Returns true when a receiver waits: the
    /// producer must then call [`Queue::notify`] once its batch is done. A closed queue
    /// drops the item.
    pub(crate) fn push_quiet(&self, item: T) -> bool {
        let mut g = lock(&self.inner);
        if self.closed.load(Ordering::Relaxed) {
            return false;
        }
        g.items.push_back(item);
        g.waiters > 0
    }

    /// Adds an item and wakes a waiting receiver at once.
    pub(crate) fn push(&self, item: T) {
        if self.push_quiet(item) {
            self.notify();
        }
    }

    /// Wakes the receivers after a batch of [`Queue::push_quiet`].
    pub(crate) fn notify(&self) {
        self.ready.notify_all();
    }

    /// No more items will come; receivers get what is queued, then [`Empty::Closed`].
    pub(crate) fn close(&self) {
        let g = lock(&self.inner);
        self.closed.store(true, Ordering::Release);
        drop(g);
        self.ready.notify_all();
    }

    /// Whether [`Queue::close`] was called, without taking the lock: for a reader about
    /// to hand a frame to the queue's receiver directly (`leader.rs`), which must not
    /// once the queue is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Hands up to `max` queued items to `f`, in order, under one lock; never waits.
    /// Returns how many it handed over (0 when the queue is empty), or
    /// [`Empty::Closed`] when it is closed and nothing is queued.
    pub(crate) fn take_queued(&self, max: usize, mut f: impl FnMut(T)) -> Result<usize, Empty> {
        let mut g = lock(&self.inner);
        if g.items.is_empty() && self.closed.load(Ordering::Relaxed) {
            return Err(Empty::Closed);
        }
        let n = max.min(g.items.len());
        for item in g.items.drain(..n) {
            f(item);
        }
        Ok(n)
    }

    /// The next item, waiting at most `timeout` (`None`: until one comes or the queue
    /// closes; `Some(ZERO)`: just look).
    pub(crate) fn recv(&self, timeout: Option<Duration>) -> Result<T, Empty> {
        // Set when the queue is first found empty: a consumer that keeps up with a busy
        // queue never reads the clock.
        let mut deadline = None;
        let mut g = lock(&self.inner);
        loop {
            if let Some(item) = g.items.pop_front() {
                return Ok(item);
            }
            if self.closed.load(Ordering::Relaxed) {
                return Err(Empty::Closed);
            }
            if timeout == Some(Duration::ZERO) {
                return Err(Empty::Timeout); // just a look: no clock, no wait
            }
            g.waiters += 1;
            g = match timeout {
                None => self.ready.wait(g).unwrap_or_else(|e| e.into_inner()),
                Some(t) => {
                    let now = Instant::now();
                    let d = *deadline.get_or_insert_with(|| now + t);
                    if now >= d {
                        g.waiters -= 1;
                        return Err(Empty::Timeout);
                    }
                    self.ready
                        .wait_timeout(g, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
            g.waiters -= 1;
        }
    }
}

/// The queues the I/O thread pushed to quietly during one batch, to wake at its end.
pub(crate) struct Wakeups<T> {
    pending: Vec<Arc<Queue<T>>>,
}

impl<T> Wakeups<T> {
    pub(crate) fn new() -> Wakeups<T> {
        Wakeups {
            pending: Vec::new(),
        }
    }

    /// Remembers `q` (once) for the end of the batch; true when it was not yet.
    pub(crate) fn add(&mut self, q: &Arc<Queue<T>>) -> bool {
        if self.pending.iter().any(|p| Arc::ptr_eq(p, q)) {
            return false;
        }
        self.pending.push(Arc::clone(q));
        true
    }

    /// Wakes every queue remembered since the last call; true if there was any.
    pub(crate) fn flush(&mut self) -> bool {
        let any = !self.pending.is_empty();
        for q in self.pending.drain(..) {
            q.notify();
        }
        any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_timeout_and_close() {
        let q = Queue::new();
        assert_eq!(q.recv(Some(Duration::ZERO)), Err(Empty::Timeout));
        q.push(1);
        q.push(2);
        q.close();
        q.push(3); // dropped: closed
        assert_eq!(q.recv(None), Ok(1));
        assert_eq!(q.recv(Some(Duration::from_millis(1))), Ok(2));
        assert_eq!(q.recv(None), Err(Empty::Closed));
    }

    #[test]
    fn take_queued_hands_over_at_most_max_in_order() {
        let q = Queue::new();
        for i in 0..5 {
            q.push(i);
        }
        let mut got = Vec::new();
        assert_eq!(q.take_queued(3, |i| got.push(i)), Ok(3));
        assert_eq!(got, [0, 1, 2]);
        assert_eq!(q.take_queued(10, |i| got.push(i)), Ok(2));
        assert_eq!(got, [0, 1, 2, 3, 4]);
        assert_eq!(q.take_queued(10, |i| got.push(i)), Ok(0));
        q.push(5);
        q.close();
        assert_eq!(q.take_queued(0, |i| got.push(i)), Ok(0));
        assert_eq!(q.take_queued(1, |i| got.push(i)), Ok(1));
        assert_eq!(got.last(), Some(&5));
        assert_eq!(q.take_queued(1, |i| got.push(i)), Err(Empty::Closed));
    }

    #[test]
    fn quiet_pushes_wake_a_waiter_at_notify() {
        let q: Arc<Queue<u32>> = Queue::new();
        let r = Arc::clone(&q);
        let t = std::thread::spawn(move || r.recv(Some(Duration::from_secs(10))));
        while lock(&q.inner).waiters == 0 {
            std::thread::yield_now();
        }
        let mut w = Wakeups::new();
        assert!(q.push_quiet(7), "a receiver waits");
        assert!(w.add(&q), "first in this batch");
        assert!(!w.add(&q), "remembered once");
        assert_eq!(w.pending.len(), 1);
        w.flush();
        assert_eq!(t.join().unwrap(), Ok(7));
    }
}

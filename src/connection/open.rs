//! Opening a session: the first link, then the I/O thread; the dispatch thread when it
//! is first needed.

use std::sync::Arc;
use std::thread;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::transport::{Endpoint, RawIo};

use super::dispatch;
use super::end::End;
use super::io;
use super::link::Link;
use super::outbox::Outbox;
use super::policy::{Plan, Policy};
use super::queue::Queue;
use super::reader::ReadSide;
use super::reconnect;
use super::session::{Session, Settings};
use super::sync::lock;
use super::waker::{Timer, Waker};

impl Session {
    /// Connects to the first endpoint that answers (each tried once, in order; see
    /// `reconnect::connect_first`), or over the caller's stream, then starts the I/O
    /// thread, and the dispatch thread when there is an event hook (else the first push
    /// subscription starts it: see [`Session::start_dispatch`]).
    pub(crate) fn connect(
        endpoints: Vec<(String, Endpoint)>,
        io: Option<Box<dyn RawIo>>,
        config: &Config,
    ) -> Result<Arc<Session>> {
        let (url, est) = match io {
            Some(io) => {
                let (url, ep) = &endpoints[0];
                (url.clone(), reconnect::open_link(ep, Some(io), config)?)
            }
            None => reconnect::connect_first(&endpoints, config)?,
        };
        let waker = Waker::new().map_err(|e| Error::io("eventfd", &e))?;
        let flush_timer = Timer::new().map_err(|e| Error::io("timerfd", &e))?;
        let jobs = Queue::new();
        let reconnect = config.reconnect.map(|(initial, max, attempts)| {
            Box::new(Plan::new(
                Policy::new(initial, max, attempts),
                endpoints,
                config,
            ))
        });
        let mut info = est.info.clone();
        info.url = url.clone();
        let settings = Settings {
            receipt_timeout: config.receipt_timeout,
            send_timeout: config.send_timeout,
            auto_content_length: config.auto_content_length,
            queue_limit: config.queue_limit,
            debug: config.debug.clone(),
            on_event: config.on_event.clone(),
            reconnect,
        };
        let outbox = Outbox::new(est.writer, est.io.stream.socket_fd(), info.version);
        let read_side = ReadSide::new(est.reader, est.decoder, 1);
        let link = Link::new(outbox, read_side, waker, flush_timer);
        let shared = Arc::new(Session::new(settings, link, jobs, info));
        if shared.settings.on_event.is_some() {
            shared.start_dispatch()?;
        }
        let s = Arc::clone(&shared);
        let io = thread::Builder::new()
            .name("stompws-io".into())
            .spawn(move || io::run(s, est.io))
            .map_err(|e| Error::io("spawning the I/O thread", &e));
        match io {
            Ok(h) => lock(&shared.threads).io = Some(h),
            Err(e) => {
                shared.finish(End::Lost(e.to_string()));
                shared.join_dispatch();
                return Err(e);
            }
        }
        shared.event(Event::Connected, &url);
        Ok(shared)
    }

    /// Starts the dispatch thread unless it runs, or ran: the first push subscription
    /// does, or connect when there is an event hook. Until then a connection costs one
    /// thread, the I/O thread.
    pub(crate) fn start_dispatch(self: &Arc<Session>) -> Result<()> {
        let mut threads = lock(&self.threads);
        if threads.dispatch.is_some() || threads.dispatch_done {
            return Ok(());
        }
        let d = Arc::clone(self);
        let jobs = Arc::clone(&self.jobs);
        let dispatch = thread::Builder::new()
            .name("stompws-dispatch".into())
            .spawn(move || dispatch::run(d, jobs))
            .map_err(|e| Error::io("spawning the dispatch thread", &e))?;
        *lock(&self.dispatch_thread) = Some(dispatch.thread().id());
        threads.dispatch = Some(dispatch);
        Ok(())
    }
}

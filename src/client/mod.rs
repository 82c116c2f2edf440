//! The blocking client API: [`Client`], [`Subscription`], [`Message`], [`Transaction`].

mod message;
mod subscription;
mod transaction;

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::connection::{CallbackSlot, Queue, QueueStats, Session, SubEntry, Target, UNHANDLED_ID};
use crate::error::{Error, Result};
use crate::transport::{parse_url, RawIo};

pub use message::Message;
pub use subscription::{AckMode, Subscription, SubscriptionIter};
pub use transaction::Transaction;

/// How long dropping the last `Client` handle waits for the DISCONNECT receipt.
const DROP_DISCONNECT_TIMEOUT: Duration = Duration::from_millis(1000);

/// A connection to a STOMP broker.
///
/// `Client` is `Send + Sync` and cheap to clone: every clone is a handle to the same
/// connection, and the connection closes when [`Client::disconnect`] is called or when the
/// last handle is dropped (then with a DISCONNECT that waits at most one second for its
/// receipt). Subscriptions, messages and transactions may outlive the client; afterwards
/// they answer [`Error::Disconnected`].
///
/// ```no_run
/// use stompws::{AckMode, Client, Config};
/// # fn main() -> stompws::Result<()> {
/// let config = Config::new().login("guest", "guest");
/// let client = Client::connect("ws://127.0.0.1:15674/ws", &config)?;
/// let sub = client.subscribe("/queue/test", AckMode::Client, &[])?;
/// client.send("/queue/test", &[("priority", "9")], b"Hello, STOMP")?;
/// let msg = sub.recv_timeout(std::time::Duration::from_secs(5))?;
/// msg.ack(&[])?;
/// client.disconnect()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Session>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.shared.disconnect(DROP_DISCONNECT_TIMEOUT);
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("version", &self.version())
            .field("server", &self.server())
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl Client {
    /// Connects to `url` and waits for CONNECTED.
    ///
    /// `url` is `ws://host[:port]/path`, `wss://...`, `tcp://host[:port]` (plain STOMP,
    /// default port 61613) or `ssl://host[:port]` (STOMP over TLS, default 61614). The
    /// whole of it (TCP, TLS, the WebSocket upgrade, CONNECTED) is bounded by the
    /// connect timeout. An ERROR answer gives [`Error::ServerError`] with the broker's
    /// message.
    ///
    /// With failover URLs in the config, the endpoints (`url`, then those) are tried
    /// once each, in order, without waiting in between; the first CONNECTED wins. An
    /// ERROR answering CONNECT ends the call at once. When all fail, the error is the
    /// last endpoint's, and its text names each endpoint with its error. With reconnect
    /// on, a lost connection is made again in the background: see [`Config::reconnect`].
    pub fn connect(url: &str, config: &Config) -> Result<Client> {
        check_config(config)?;
        let mut endpoints = vec![(url.to_string(), parse_url(url)?)];
        for u in &config.failover_urls {
            endpoints.push((u.clone(), parse_url(u)?));
        }
        Ok(Client::wrap(Session::connect(endpoints, None, config)?))
    }

    /// Runs STOMP over a stream the caller already opened (a Unix socket, a proxy tunnel,
    /// one end of `UnixStream::pair()`): the counterpart of stomp.js's `Stomp.over(ws)`.
    /// For a `ws`/`wss` URL the WebSocket upgrade (and for `wss`/`ssl` TLS) is done on
    /// that stream; for `tcp` STOMP is spoken on it directly. The URL's host and path
    /// are used for the `Host` header, TLS name checks and the request line.
    ///
    /// The stream's descriptor is what is read, written and polled; a caller that
    /// shares it sees its mode change. A plain socket (no TLS) is read and written
    /// through the descriptor with calls that do not wait, and is left in blocking
    /// mode with a 10 ms receive timeout (`SO_RCVTIMEO`), so that a thread waiting for
    /// an answer can sleep in the read itself. Anything else (TLS, or a descriptor that
    /// is no socket) goes through the stream's own `Read` and `Write`, switched to
    /// non-blocking mode.
    ///
    /// Reconnect and failover need to open new connections, which this cannot: a config
    /// with either is [`Error::InvalidArgument`].
    pub fn over<S>(stream: S, url: &str, config: &Config) -> Result<Client>
    where
        S: std::io::Read + std::io::Write + std::os::fd::AsFd + Send + 'static,
    {
        check_config(config)?;
        if config.reconnect.is_some() || !config.failover_urls.is_empty() {
            return Err(Error::invalid(
                "Client::over cannot reconnect or fail over (it cannot open a new stream)",
            ));
        }
        let endpoint = parse_url(url)?;
        let io: Box<dyn RawIo> = Box::new(stream);
        Ok(Client::wrap(Session::connect(
            vec![(url.to_string(), endpoint)],
            Some(io),
            config,
        )?))
    }

    fn wrap(shared: Arc<Session>) -> Client {
        Client {
            inner: Arc::new(Inner { shared }),
        }
    }

    fn shared(&self) -> &Arc<Session> {
        &self.inner.shared
    }

    /// The negotiated STOMP version: `"1.0"`, `"1.1"` or `"1.2"`. After a reconnect, the
    /// new connection's (so are [`Client::server`] and [`Client::session`]); during an
    /// outage, the lost one's.
    pub fn version(&self) -> &str {
        self.shared().info().version.as_str()
    }

    /// The CONNECTED frame's `server` header, if the broker sent one.
    pub fn server(&self) -> Option<&str> {
        self.shared().info().server.as_deref()
    }

    /// The CONNECTED frame's `session` header, if the broker sent one.
    pub fn session(&self) -> Option<&str> {
        self.shared().info().session.as_deref()
    }

    /// The WebSocket subprotocol the server chose, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.shared().info().subprotocol.as_deref()
    }

    /// Whether the connection is up: false from a loss until a reconnect succeeds.
    pub fn is_connected(&self) -> bool {
        self.shared().is_connected()
    }

    /// Why the connection closed (the ERROR text, a heart-beat timeout, an I/O error...);
    /// `None` while connected. During a reconnect outage: why the connection was lost.
    pub fn close_reason(&self) -> Option<String> {
        self.shared().close_reason()
    }

    /// SEND. `Ok` means the frame is queued for the socket, not that the broker has it:
    /// put a `receipt` header among `headers` (the call then waits for the RECEIPT) or
    /// use [`Client::send_with_receipt`]. To confirm a batch, send it and then one frame
    /// with a receipt: brokers process a connection's frames in order. That holds within
    /// one connection only: with reconnect on, a loss in the middle of a batch may lose
    /// the frames before it, and the receipt that comes on the new connection says
    /// nothing of them. Resend a batch during which an
    /// [`Event::ConnectionLost`](crate::Event::ConnectionLost) came (or whose
    /// [`Client::session`] changed).
    ///
    /// `destination` and `content-length` are set by the library; passing either among
    /// `headers` is [`Error::InvalidArgument`]. Waits at most the send timeout for room
    /// in the outgoing buffer.
    pub fn send(&self, destination: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<()> {
        self.send_inner(destination, headers, body, false)
    }

    /// SEND with a generated `receipt` header; returns once the broker's RECEIPT came
    /// ([`Error::Timeout`] after the receipt timeout, [`Error::ServerError`] if an ERROR
    /// names it).
    pub fn send_with_receipt(
        &self,
        destination: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<()> {
        self.send_inner(destination, headers, body, true)
    }

    fn send_inner(
        &self,
        destination: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        receipt: bool,
    ) -> Result<()> {
        let shared = self.shared();
        check_destination(destination)?;
        shared.check_headers("SEND", headers, &["destination", "content-length"])?;
        shared.check_own_header("SEND", "destination", destination)?;
        shared.request(
            "SEND",
            &[("destination", destination)],
            headers,
            body,
            receipt,
        )
    }

    /// Subscribes with a pull queue: messages wait until [`Subscription::recv_timeout`],
    /// [`Subscription::try_recv`] or iteration takes them.
    ///
    /// The id is generated unless `headers` carry an `id`. Other headers (`selector`,
    /// `prefetch-count`, `activemq.prefetchSize`, ...) are passed through; `destination`
    /// and `ack` are the library's. The queue is bounded by `Config::queue_limit`: when a
    /// bound is passed the subscription is closed (UNSUBSCRIBE), an
    /// [`Event::SubscriptionClosed`](crate::Event::SubscriptionClosed) is reported, and
    /// the receiver gets what was queued, then [`Error::Disconnected`]. Use client acks
    /// with the broker's prefetch header to bound what a broker sends ahead.
    pub fn subscribe(
        &self,
        destination: &str,
        ack: AckMode,
        headers: &[(&str, &str)],
    ) -> Result<Subscription> {
        let queue = Queue::new();
        self.subscribe_inner(
            destination,
            ack,
            headers,
            Target::Pull(Arc::clone(&queue)),
            Some(queue),
        )
    }

    /// Subscribes with a callback, run on the client's dispatch thread one message at a
    /// time in arrival order (never on the I/O thread, so it may send, ack, subscribe and
    /// even wait for receipts). It may not disconnect this client: that returns
    /// [`Error::InvalidArgument`] there.
    ///
    /// After [`Subscription::unsubscribe`] or dropping the subscription returns, the
    /// callback is never called again (they wait for a running call to finish, except
    /// when called from inside the callback itself).
    ///
    /// A callback that captures a `Client` clone keeps the connection alive until
    /// [`Client::disconnect`] is called: dropping the other handles is then not enough.
    pub fn subscribe_callback<F>(
        &self,
        destination: &str,
        ack: AckMode,
        headers: &[(&str, &str)],
        mut callback: F,
    ) -> Result<Subscription>
    where
        F: FnMut(&Message) + Send + 'static,
    {
        self.shared().start_dispatch()?;
        let weak = Arc::downgrade(self.shared());
        let slot = CallbackSlot::new(Box::new(move |frame| {
            if let Some(shared) = weak.upgrade() {
                let msg = Message::new(frame, shared, ack);
                callback(&msg);
            }
        }));
        self.subscribe_inner(destination, ack, headers, Target::Callback(slot), None)
    }

    fn subscribe_inner(
        &self,
        destination: &str,
        ack: AckMode,
        headers: &[(&str, &str)],
        target: Target,
        rx: Option<Arc<Queue<crate::frame::Frame>>>,
    ) -> Result<Subscription> {
        let shared = self.shared();
        check_destination(destination)?;
        shared.check_headers("SUBSCRIBE", headers, &["destination", "ack"])?;
        shared.check_own_header("SUBSCRIBE", "destination", destination)?;
        let (id, rest): (String, Vec<(&str, &str)>) = match headers.iter().find(|(n, _)| *n == "id")
        {
            Some(&(_, id)) => (
                id.to_string(),
                headers
                    .iter()
                    .filter(|(n, _)| *n != "id")
                    .copied()
                    .collect(),
            ),
            None => (shared.next_id("sub"), headers.to_vec()),
        };
        if id.is_empty() {
            return Err(Error::invalid("a subscription id may not be empty"));
        }
        if id == UNHANDLED_ID {
            return Err(Error::invalid(
                "the subscription id \"*\" is reserved for subscribe_unhandled",
            ));
        }
        let stats = Arc::new(QueueStats::default());
        let entry = SubEntry {
            destination: destination.to_string(),
            ack: ack.header_value(),
            headers: rest
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            target,
            stats: Arc::clone(&stats),
            seq: 0,
            confirmed: false,
            local: false,
        };
        let seq = shared.subscribe(&id, entry, &rest)?;
        Ok(Subscription::new(
            Arc::clone(shared),
            id,
            seq,
            ack,
            rx,
            stats,
        ))
    }

    /// A pull subscription that sends nothing to the broker and receives every MESSAGE
    /// whose `subscription` header names no open subscription of this client: replies
    /// sent to `reply-to: /temp-queue/NAME` on RabbitMQ (the broker delivers them on a
    /// subscription it made itself), or messages that crossed an UNSUBSCRIBE. Without
    /// one, such messages are dropped and the debug hook says so.
    ///
    /// At most one per client at a time (a second while one is open:
    /// [`Error::InvalidArgument`]). Its id is `"*"`, which is reserved: a caller's
    /// `id:*` header, or [`Client::unsubscribe_id`] of `"*"`, is
    /// [`Error::InvalidArgument`]. Unsubscribing it, dropping it, its queue limit and a
    /// reconnect send nothing to the broker. Its messages may be acked or nacked as
    /// their `ack` (STOMP 1.2) or `message-id` headers allow: the library does not know
    /// the ack mode of the broker's subscription, so ack only what needs it.
    pub fn subscribe_unhandled(&self) -> Result<Subscription> {
        let shared = self.shared();
        let queue = Queue::new();
        let stats = Arc::new(QueueStats::default());
        let entry = SubEntry {
            destination: String::new(),
            ack: AckMode::ClientIndividual.header_value(),
            headers: Vec::new(),
            target: Target::Pull(Arc::clone(&queue)),
            stats: Arc::clone(&stats),
            seq: 0,
            confirmed: false,
            local: true,
        };
        let seq = shared.subscribe(UNHANDLED_ID, entry, &[])?;
        Ok(Subscription::new(
            Arc::clone(shared),
            UNHANDLED_ID.to_string(),
            seq,
            AckMode::ClientIndividual,
            Some(queue),
            stats,
        ))
    }

    /// UNSUBSCRIBE with this id and these extra headers, whether or not this client has
    /// an open subscription with that id: e.g. removing an ActiveMQ durable topic
    /// subscription (`activemq.subscriptionName`) after its consumer is gone. An open
    /// subscription of this client with that id ends as by [`Subscription::unsubscribe`]
    /// (whose own unsubscribe then returns `Ok` and sends nothing). A `receipt` header
    /// makes the call wait for it; during a reconnect outage it waits for the next
    /// connection, at most the send timeout. The id `"*"` is [`Error::InvalidArgument`]
    /// (see [`Client::subscribe_unhandled`]).
    pub fn unsubscribe_id(&self, id: &str, headers: &[(&str, &str)]) -> Result<()> {
        let shared = self.shared();
        if id.is_empty() {
            return Err(Error::invalid("a subscription id may not be empty"));
        }
        if id == UNHANDLED_ID {
            return Err(Error::invalid(
                "the subscription id \"*\" is subscribe_unhandled's, which the broker never \
                 saw: unsubscribe its handle instead",
            ));
        }
        shared.check_headers("UNSUBSCRIBE", headers, &["id"])?;
        shared.check_own_header("UNSUBSCRIBE", "id", id)?;
        shared.unsubscribe_id(id, headers)
    }

    /// BEGIN with a generated transaction id.
    pub fn begin(&self) -> Result<Transaction> {
        let id = self.shared().next_id("tx");
        self.begin_with_id(&id)
    }

    /// BEGIN with the caller's transaction id. Frames join the transaction through a
    /// `transaction` header carrying [`Transaction::id`].
    pub fn begin_with_id(&self, id: &str) -> Result<Transaction> {
        let shared = self.shared();
        if id.is_empty() {
            return Err(Error::invalid("a transaction id may not be empty"));
        }
        shared.check_own_header("BEGIN", "transaction", id)?;
        let epoch = shared.begin(id)?;
        Ok(Transaction::new(Arc::clone(shared), id.to_string(), epoch))
    }

    /// DISCONNECT with a receipt, wait for it (at most the receipt timeout), then close
    /// the connection for every clone and stop the client's threads.
    ///
    /// `Ok` when the receipt came, when the broker closed the connection cleanly instead
    /// (RabbitMQ over WebSocket never sends this receipt), or when the connection was
    /// already closed; calling it again returns `Ok`. [`Error::Timeout`] if neither
    /// happened in time (the connection is closed anyway). From inside a callback of this
    /// client: [`Error::InvalidArgument`].
    pub fn disconnect(&self) -> Result<()> {
        self.disconnect_timeout(self.shared().settings.receipt_timeout)
    }

    /// [`Client::disconnect`] with its own bound on the wait for the receipt
    /// (`Duration::ZERO`: do not wait, close at once).
    pub fn disconnect_timeout(&self, timeout: Duration) -> Result<()> {
        if self.shared().on_dispatch_thread() {
            return Err(Error::invalid(
                "disconnect was called from inside a callback of the same client",
            ));
        }
        self.shared().disconnect(timeout)
    }

    /// The current connection's CONNECTED values, C strings included (for the C API).
    pub(crate) fn info(&self) -> &crate::connection::SessionInfo {
        self.shared().info()
    }

    /// True when called from inside one of this client's callbacks.
    pub(crate) fn in_callback(&self) -> bool {
        self.shared().on_dispatch_thread()
    }
}

fn check_config(config: &Config) -> Result<()> {
    config.validate()
}

fn check_destination(destination: &str) -> Result<()> {
    if destination.is_empty() {
        return Err(Error::invalid("the destination may not be empty"));
    }
    Ok(())
}

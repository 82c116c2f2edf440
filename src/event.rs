//! Connection life-cycle events, reported to the callback set with `Config::on_event`.

/// What happened to a connection. Matches the C enum `stompws_event` value for value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Event {
    /// The session is up: after the first connect and each reconnect; the detail is the
    /// endpoint's URL.
    Connected = 0,
    /// The socket closed, an I/O error happened or heart-beats stopped; the detail says which.
    ConnectionLost = 1,
    /// A reconnect attempt's wait begins; the detail is `"attempt N: waiting M ms"`.
    Reconnecting = 2,
    /// An ERROR frame arrived; the detail is its `message` header.
    ServerError = 3,
    /// The client is closed for good (disconnect, a loss with reconnect off, or
    /// reconnect gave up); the detail is the close reason.
    Disconnected = 4,
    /// A pull subscription was closed because its queue passed the configured limit;
    /// the detail names the subscription id.
    SubscriptionClosed = 5,
}

impl Event {
    /// A short lower-case name, e.g. `"connection-lost"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Connected => "connected",
            Event::ConnectionLost => "connection-lost",
            Event::Reconnecting => "reconnecting",
            Event::ServerError => "server-error",
            Event::Disconnected => "disconnected",
            Event::SubscriptionClosed => "subscription-closed",
        }
    }
}

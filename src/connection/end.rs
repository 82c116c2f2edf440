//! How a link ended.

/// Why a link ended.
#[derive(Debug)]
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

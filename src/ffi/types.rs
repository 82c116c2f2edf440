//! The C types: result codes, events, ack modes, headers, and the opaque handles.

use std::ffi::{c_char, CString};

use crate::client::{Client, Message, Subscription, Transaction};
use crate::config::Config;

/// The result of every fallible function. The numbers are part of the ABI and are never
/// reused. `stompws_last_error` gives the detail of a failure on the same thread.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum stompws_result {
    /// Success; out-params were written.
    STOMPWS_RESULT_OK = 0,
    /// A required pointer argument was NULL. Nothing was done.
    STOMPWS_RESULT_NULL_PARAMETER = 1,
    /// Bad URL, bad header name or value, invalid UTF-8, a value out of range, or a call
    /// on a handle in the wrong state.
    STOMPWS_RESULT_INVALID_ARGUMENT = 2,
    /// The wait ended before the answer came.
    STOMPWS_RESULT_TIMEOUT = 3,
    /// The connection is closed, was lost, or never came up.
    STOMPWS_RESULT_DISCONNECTED = 4,
    /// The broker sent an ERROR frame; `stompws_last_error` holds its message and body.
    STOMPWS_RESULT_SERVER_ERROR = 5,
    /// A malformed or oversized frame, or an unexpected reply.
    STOMPWS_RESULT_PROTOCOL = 6,
    /// TLS setup, handshake or certificate failure.
    STOMPWS_RESULT_TLS = 7,
    /// Name lookup, connect refused, read or write failure.
    STOMPWS_RESULT_IO = 8,
    /// The HTTP upgrade to WebSocket was refused.
    STOMPWS_RESULT_HANDSHAKE = 9,
    /// The operation does not exist here, e.g. NACK on a STOMP 1.0 session.
    STOMPWS_RESULT_UNSUPPORTED = 10,
    /// An internal error (a Rust panic) was caught at the boundary.
    STOMPWS_RESULT_PANIC = 11,
}

impl stompws_result {
    pub(crate) fn from_code(code: u32) -> stompws_result {
        use stompws_result::*;
        match code {
            0 => STOMPWS_RESULT_OK,
            1 => STOMPWS_RESULT_NULL_PARAMETER,
            2 => STOMPWS_RESULT_INVALID_ARGUMENT,
            3 => STOMPWS_RESULT_TIMEOUT,
            4 => STOMPWS_RESULT_DISCONNECTED,
            5 => STOMPWS_RESULT_SERVER_ERROR,
            6 => STOMPWS_RESULT_PROTOCOL,
            7 => STOMPWS_RESULT_TLS,
            8 => STOMPWS_RESULT_IO,
            9 => STOMPWS_RESULT_HANDSHAKE,
            10 => STOMPWS_RESULT_UNSUPPORTED,
            _ => STOMPWS_RESULT_PANIC,
        }
    }
}

/// A connection life-cycle event, passed to the event callback.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum stompws_event {
    /// After the first connect and each successful reconnect; the detail is the
    /// endpoint's URL.
    STOMPWS_EVENT_CONNECTED = 0,
    /// Socket closed, I/O error, heart-beat timeout, an ERROR frame or a protocol error;
    /// the detail says which.
    STOMPWS_EVENT_CONNECTION_LOST = 1,
    /// A reconnect attempt's wait begins; the detail is "attempt N: waiting M ms".
    STOMPWS_EVENT_RECONNECTING = 2,
    /// An ERROR frame arrived; the detail is its `message` header.
    STOMPWS_EVENT_SERVER_ERROR = 3,
    /// Closed for good (disconnect, a loss with reconnect off, or reconnect gave up);
    /// the detail is the close reason.
    STOMPWS_EVENT_DISCONNECTED = 4,
    /// A pull subscription was closed because its queue passed the configured limit;
    /// the detail names the subscription id.
    STOMPWS_EVENT_SUBSCRIPTION_CLOSED = 5,
}

/// How messages of a subscription are acknowledged: one of the `STOMPWS_ACK_MODE_*`
/// constants. Declared as an integer so that an out-of-range value is reported as
/// `STOMPWS_RESULT_INVALID_ARGUMENT` instead of being undefined behaviour.
#[allow(non_camel_case_types)]
pub type stompws_ack_mode = u32;
/// `ack:auto`: delivered means acknowledged.
pub const STOMPWS_ACK_MODE_AUTO: stompws_ack_mode = 0;
/// `ack:client`: an ACK covers this message and every earlier one (cumulative).
pub const STOMPWS_ACK_MODE_CLIENT: stompws_ack_mode = 1;
/// `ack:client-individual`: each message is acknowledged on its own.
pub const STOMPWS_ACK_MODE_CLIENT_INDIVIDUAL: stompws_ack_mode = 2;

/// A C `bool` argument, received as its byte so that a value other than 0 or 1 is
/// reported as INVALID_ARGUMENT instead of being undefined behaviour. The header spells
/// it `bool`.
#[allow(non_camel_case_types)]
pub type c_bool = u8;

/// One STOMP header passed in: both strings NUL-terminated UTF-8, borrowed for the call.
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct stompws_header {
    /// The header name.
    pub name: *const c_char,
    /// The header value.
    pub value: *const c_char,
}

/// Connection settings. Created by `stompws_config_new`, freed by `stompws_config_free`.
/// Not thread-safe: use one config from one thread at a time. Only read during
/// `stompws_client_connect`, so it may be freed or reused right after.
#[allow(non_camel_case_types)]
pub struct stompws_config {
    pub(crate) config: Config,
}

/// A connection to a broker. Created by `stompws_client_connect`, freed by
/// `stompws_client_free`. Thread-safe: any number of threads may use it at once, except
/// that `stompws_client_free` must not race with other calls on it.
#[allow(non_camel_case_types)]
pub struct stompws_client {
    pub(crate) client: Client,
}

/// A subscription. Created by `stompws_client_subscribe` or
/// `stompws_client_subscribe_callback`, freed by `stompws_subscription_free` (which
/// unsubscribes if still active). Thread-safe like the client; may outlive it.
#[allow(non_camel_case_types)]
pub struct stompws_subscription {
    pub(crate) sub: Subscription,
    pub(crate) id: CString,
}

/// A received message. Immutable; may be read from any thread. Owned ones (from
/// `stompws_subscription_receive` or `stompws_message_clone`) are freed with
/// `stompws_message_free`; the one passed to a callback is borrowed for the call.
#[allow(non_camel_case_types)]
pub struct stompws_message {
    // Never instantiated: a handle is the pointer of a `Message` (`Message::into_raw`),
    // so receiving one allocates nothing beyond the message itself.
    _opaque: [u8; 0],
}

impl stompws_message {
    /// The handle that owns `msg`: freed by `stompws_message_free`.
    pub(crate) fn owning(msg: Message) -> *mut stompws_message {
        msg.into_raw().cast_mut().cast()
    }

    /// A handle that borrows `msg` for as long as `msg` lives (a callback's message).
    pub(crate) fn borrowing(msg: &Message) -> *const stompws_message {
        msg.as_raw().cast()
    }

    /// The frame of the message behind a handle; `None` for NULL.
    ///
    /// # Safety
    /// `handle` is NULL or a live handle, which outlives `'a`.
    pub(crate) unsafe fn frame<'a>(
        handle: *const stompws_message,
    ) -> Option<&'a crate::frame::Frame> {
        // SAFETY: per the contract, a live handle is a pointer from Message::into_raw/as_raw.
        (!handle.is_null()).then(|| unsafe { Message::frame_of(handle.cast()) })
    }

    /// The message behind a handle, borrowed; `None` for NULL.
    ///
    /// # Safety
    /// `handle` is NULL or a live handle from `owning` or `borrowing`; what is borrowed
    /// from the result stays valid while the handle does.
    pub(crate) unsafe fn message(
        handle: *const stompws_message,
    ) -> Option<std::mem::ManuallyDrop<Message>> {
        // SAFETY: a live handle is a pointer from Message::into_raw/as_raw; ManuallyDrop
        // keeps the handle's reference where it is.
        (!handle.is_null())
            .then(|| std::mem::ManuallyDrop::new(unsafe { Message::from_raw(handle.cast()) }))
    }
}

/// A transaction. Created by `stompws_client_begin`, freed by
/// `stompws_transaction_free` (which aborts it if neither commit nor abort was tried).
#[allow(non_camel_case_types)]
pub struct stompws_transaction {
    pub(crate) tx: Transaction,
    pub(crate) id: CString,
}

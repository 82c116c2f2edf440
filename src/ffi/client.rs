//! `stompws_client_*`: connecting, sending, subscribing, transactions, disconnecting.

use std::ffi::{c_char, c_void};
use std::ptr;

use crate::client::{AckMode, Client, Message};
use crate::config::Config;
use crate::connection::defer_on_dispatch_thread;
use crate::error::Error;

use super::boundary::{
    self, check_out, copy_out, opt_str, try_bytes, try_headers, try_ref, try_str, write_out, Fail,
    FfiResult, UserData,
};
use super::cstring;
use super::types::{
    stompws_ack_mode, stompws_client, stompws_config, stompws_header, stompws_message,
    stompws_result, stompws_subscription, stompws_transaction, STOMPWS_ACK_MODE_AUTO,
    STOMPWS_ACK_MODE_CLIENT, STOMPWS_ACK_MODE_CLIENT_INDIVIDUAL,
};

/// Connects to `url` and blocks until CONNECTED, an ERROR frame (SERVER_ERROR, with the
/// broker's message in `stompws_last_error`), or the connect timeout (TIMEOUT).
///
/// `url`: `ws://host[:port]/path`, `wss://...`, `tcp://host:port` (plain STOMP) or
/// `ssl://host:port` (STOMP over TLS); another scheme is INVALID_ARGUMENT. `config` may
/// be NULL (defaults) and is only read during the call. On OK, `*out` receives a client
/// the caller owns and frees with `stompws_client_free`.
///
/// # Safety
/// `url` is NULL or NUL-terminated; `config` is NULL or a live config; `out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn stompws_client_connect(
    url: *const c_char,
    config: *const stompws_config,
    out: *mut *mut stompws_client,
) -> stompws_result {
    boundary::result(|| {
        // SAFETY: per the contract above.
        let url = unsafe { try_str(url, "url") }?;
        check_out(out, "out")?;
        let default;
        // SAFETY: NULL or a live config, per the contract.
        let config = match unsafe { config.as_ref() } {
            Some(c) => &c.config,
            None => {
                default = Config::new();
                &default
            }
        };
        let client =
            Client::connect(url, config).map_err(
                |e| match crate::connection::take_connect_detail() {
                    Some(text) => Fail::Detailed(e, text),
                    None => Fail::Api(e),
                },
            )?;
        let handle = Box::new(stompws_client { client });
        // SAFETY: checked non-NULL above; written only on success.
        unsafe { write_out(out, Box::into_raw(handle)) };
        Ok(())
    })
}

/// The negotiated STOMP version: "1.0", "1.1" or "1.2"; NULL if `client` is NULL.
/// Borrowed from the client: valid until `stompws_client_free`. After a reconnect it is
/// the new connection's (during an outage, the lost one's); a pointer returned earlier
/// stays valid. The same holds for `stompws_client_server` and `stompws_client_session`.
///
/// # Safety
/// `client` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn stompws_client_version(client: *const stompws_client) -> *const c_char {
    // SAFETY: NULL or a live client, per the contract.
    boundary::getter(ptr::null(), || {
        unsafe { client.as_ref() }.map_or(ptr::null(), |c| c.client.info().c.version.as_ptr())
    })
}

/// The CONNECTED frame's `server` header, or NULL when absent (or `client` is NULL).
/// Borrowed from the client: valid until `stompws_client_free`.
///
/// # Safety
/// `client` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn stompws_client_server(client: *const stompws_client) -> *const c_char {
    boundary::getter(ptr::null(), || {
        // SAFETY: NULL or a live client, per the contract.
        unsafe { client.as_ref() }
            .and_then(|c| c.client.info().c.server.as_ref())
            .map_or(ptr::null(), |s| s.as_ptr())
    })
}

/// The CONNECTED frame's `session` header, or NULL when absent (or `client` is NULL).
/// Borrowed from the client: valid until `stompws_client_free`.
///
/// # Safety
/// `client` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn stompws_client_session(client: *const stompws_client) -> *const c_char {
    boundary::getter(ptr::null(), || {
        // SAFETY: NULL or a live client, per the contract.
        unsafe { client.as_ref() }
            .and_then(|c| c.client.info().c.session.as_ref())
            .map_or(ptr::null(), |s| s.as_ptr())
    })
}

/// Whether the connection is still up; false for NULL. Thread-safe.
///
/// # Safety
/// `client` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn stompws_client_is_connected(client: *const stompws_client) -> bool {
    // SAFETY: NULL or a live client, per the contract.
    boundary::getter(false, || {
        unsafe { client.as_ref() }.is_some_and(|c| c.client.is_connected())
    })
}

/// Why the connection closed (the ERROR text, heart-beat timeout, I/O error...), copied
/// into `buf` like `stompws_last_error` (NUL-terminated, truncated, full length
/// returned). 0 while connected, or for a NULL client; `buf` then holds "" (when
/// `buf_len` > 0), so it never keeps an earlier text.
///
/// # Safety
/// `client` is NULL or a live client; `buf` is NULL or valid for `buf_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn stompws_client_close_reason(
    client: *const stompws_client,
    buf: *mut c_char,
    buf_len: usize,
) -> usize {
    boundary::getter(0, || {
        // SAFETY: NULL or a live client, per the contract.
        let reason = unsafe { client.as_ref() }.and_then(|c| c.client.close_reason());
        // SAFETY: the caller provides `buf_len` writable bytes (or NULL).
        unsafe { copy_out(reason.as_deref().unwrap_or(""), buf, buf_len) }
    })
}

/// DISCONNECT with a receipt, wait for it (at most `timeout_ms`; 0 = do not wait), close
/// the connection and stop the client's threads. OK when the receipt came, when the
/// broker closed the connection cleanly instead (RabbitMQ over ws never sends this
/// receipt), or when the connection was already closed; calling it again returns OK.
/// TIMEOUT if neither happened in time (the connection is closed anyway). From inside a
/// callback of this client: INVALID_ARGUMENT (it would wait for itself).
///
/// # Safety
/// `client` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn stompws_client_disconnect(
    client: *mut stompws_client,
    timeout_ms: u32,
) -> stompws_result {
    boundary::result(|| {
        // SAFETY: NULL or a live client, per the contract.
        let c = unsafe { try_ref(client, "client") }?;
        c.client
            .disconnect_timeout(std::time::Duration::from_millis(u64::from(timeout_ms)))?;
        Ok(())
    })
}

/// Frees the client. If still connected: DISCONNECT, waiting at most 1000 ms for its
/// receipt. Called from inside a callback of this client, it takes effect when that
/// callback returns. NULL is fine; call at most once, and not while other threads use
/// the client. Subscriptions, messages and transactions stay valid and answer
/// DISCONNECTED afterwards.
///
/// # Safety
/// `client` is NULL or a live client, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn stompws_client_free(client: *mut stompws_client) {
    boundary::void(|| {
        if client.is_null() {
            return;
        }
        // SAFETY: a pointer from Box::into_raw in stompws_client_connect, freed once.
        let handle = unsafe { Box::from_raw(client) };
        if handle.client.in_callback() {
            defer_on_dispatch_thread(Box::new(move || drop(handle)));
        } else {
            drop(handle);
        }
    })
}

/// SEND. OK means the frame is queued for the socket, not that the broker has it: put a
/// `receipt` header among `headers` (the call then waits for the RECEIPT, up to the
/// receipt timeout) or use `stompws_client_send_with_receipt`. To confirm a batch, send
/// it and then one frame with a receipt (brokers process a connection's frames in
/// order). `destination` and `content-length` are the library's: a caller header with
/// either name is INVALID_ARGUMENT, as is a header STOMP cannot carry. `headers` may be
/// NULL when `header_count` is 0, `body` may be NULL when `body_len` is 0; both are
/// borrowed for the call only. The body may hold NUL bytes. Thread-safe.
///
/// With reconnect on, during an outage the call waits for the new connection, at most
/// the send timeout (then TIMEOUT, and nothing is sent later); a receipt wait that the
/// loss cuts returns DISCONNECTED at once (the outcome is unknown); a `transaction`
/// header naming a transaction of a lost connection is DISCONNECTED, not sent. A batch
/// confirmed by one receipt at its end is confirmed only if no connection was lost
/// while it was sent: resend a batch during which STOMPWS_EVENT_CONNECTION_LOST came.
///
/// # Safety
/// `client` is NULL or a live client; strings NULL or NUL-terminated; `headers` valid
/// for `header_count` elements; `body` valid for `body_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn stompws_client_send(
    client: *mut stompws_client,
    destination: *const c_char,
    headers: *const stompws_header,
    header_count: usize,
    body: *const u8,
    body_len: usize,
) -> stompws_result {
    // SAFETY: forwarded with this function's contract.
    unsafe {
        send(
            client,
            destination,
            headers,
            header_count,
            body,
            body_len,
            false,
        )
    }
}

/// The same as `stompws_client_send`, with a generated `receipt` header; returns once
/// the broker's RECEIPT came (TIMEOUT after the receipt timeout, SERVER_ERROR if an
/// ERROR frame names it).
///
/// # Safety
/// As for `stompws_client_send`.
#[no_mangle]
pub unsafe extern "C" fn stompws_client_send_with_receipt(
    client: *mut stompws_client,
    destination: *const c_char,
    headers: *const stompws_header,
    header_count: usize,
    body: *const u8,
    body_len: usize,
) -> stompws_result {
    // SAFETY: forwarded with this function's contract.
    unsafe {
        send(
            client,
            destination,
            headers,
            header_count,
            body,
            body_len,
            true,
        )
    }
}

/// # Safety
/// As for `stompws_client_send`.
unsafe fn send(
    client: *mut stompws_client,
    destination: *const c_char,
    headers: *const stompws_header,
    header_count: usize,
    body: *const u8,
    body_len: usize,
    receipt: bool,
) -> stompws_result {
    boundary::result(|| {
        // SAFETY: per the callers' contract.
        let (c, dest, headers, body) = unsafe {
            (
                try_ref(client, "client")?,
                try_str(destination, "destination")?,
                try_headers(headers, header_count)?,
                try_bytes(body, body_len, "body")?,
            )
        };
        if receipt {
            c.client.send_with_receipt(dest, &headers, body)?;
        } else {
            c.client.send(dest, &headers, body)?;
        }
        Ok(())
    })
}

pub(crate) fn ack_mode(ack: stompws_ack_mode) -> FfiResult<AckMode> {
    match ack {
        STOMPWS_ACK_MODE_AUTO => Ok(AckMode::Auto),
        STOMPWS_ACK_MODE_CLIENT => Ok(AckMode::Client),
        STOMPWS_ACK_MODE_CLIENT_INDIVIDUAL => Ok(AckMode::ClientIndividual),
        other => Err(Error::invalid(format!("{other} is not a stompws_ack_mode")).into()),
    }
}

/// Pull subscription: messages queue up until `stompws_subscription_receive` takes them.
/// The id is generated unless `headers` carry an `id`. Extra headers (`selector`,
/// `prefetch-count`, `activemq.prefetchSize`, ...) are passed through; `destination` and
/// `ack` are the library's (INVALID_ARGUMENT among `headers`). A `receipt` header makes
/// the call wait for it. On OK, `*out` receives a subscription the caller owns and frees
/// with `stompws_subscription_free`. The queue is bounded by
/// `stompws_config_set_queue_limit`.
///
/// # Safety
/// `client` is NULL or a live client; strings NULL or NUL-terminated; `headers` valid
/// for `header_count` elements; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn stompws_client_subscribe(
    client: *mut stompws_client,
    destination: *const c_char,
    ack: stompws_ack_mode,
    headers: *const stompws_header,
    header_count: usize,
    out: *mut *mut stompws_subscription,
) -> stompws_result {
    boundary::result(|| {
        // SAFETY: per the contract above.
        let (c, dest, headers) = unsafe {
            (
                try_ref(client, "client")?,
                try_str(destination, "destination")?,
                try_headers(headers, header_count)?,
            )
        };
        check_out(out, "out")?;
        let sub = c.client.subscribe(dest, ack_mode(ack)?, &headers)?;
        let handle = Box::new(stompws_subscription {
            id: cstring(sub.id()),
            sub,
        });
        // SAFETY: checked non-NULL above; written only on success.
        unsafe { write_out(out, Box::into_raw(handle)) };
        Ok(())
    })
}

/// A push subscription's callback: runs on the client's dispatch thread, one message at
/// a time, in arrival order. `message` is borrowed for the call (`stompws_message_clone`
/// keeps it). It may call any stompws function (send, ack, subscribe, even wait for
/// receipts) except `stompws_client_disconnect` of this client, which returns
/// INVALID_ARGUMENT there; `stompws_client_free` of this client from inside it takes
/// effect when it returns. It must return normally (no C++ exception, no longjmp).
#[allow(non_camel_case_types)]
pub type stompws_message_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, message: *const stompws_message)>;

/// Push subscription: `fn` is called for every message (see `stompws_message_fn`),
/// with `userdata` passed back as is. After `stompws_subscription_free` (or unsubscribe)
/// returns, `fn` is never called again and `userdata` may be released; free waits for a
/// running call of `fn` to finish, unless it is called from inside `fn`. Headers as for
/// `stompws_client_subscribe`. On OK, `*out` receives the subscription (owned).
///
/// # Safety
/// As for `stompws_client_subscribe`; `fn` non-NULL and callable from another thread;
/// `userdata` valid on the dispatch thread until the subscription is freed.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn stompws_client_subscribe_callback(
    client: *mut stompws_client,
    destination: *const c_char,
    ack: stompws_ack_mode,
    headers: *const stompws_header,
    header_count: usize,
    r#fn: stompws_message_fn,
    userdata: *mut c_void,
    out: *mut *mut stompws_subscription,
) -> stompws_result {
    let ud = UserData(userdata);
    boundary::result(|| {
        // SAFETY: per the contract above.
        let (c, dest, headers) = unsafe {
            (
                try_ref(client, "client")?,
                try_str(destination, "destination")?,
                try_headers(headers, header_count)?,
            )
        };
        let f = r#fn.ok_or(boundary::Fail::Null("fn"))?;
        check_out(out, "out")?;
        let sub =
            c.client
                .subscribe_callback(dest, ack_mode(ack)?, &headers, move |m: &Message| {
                    let ud = ud;
                    let borrowed = stompws_message::borrowing(m);
                    // SAFETY: the C caller promised a callable function and a userdata valid on
                    // the dispatch thread; the message lives until the call returns.
                    unsafe { f(ud.0, borrowed) }
                })?;
        let handle = Box::new(stompws_subscription {
            id: cstring(sub.id()),
            sub,
        });
        // SAFETY: checked non-NULL above; written only on success.
        unsafe { write_out(out, Box::into_raw(handle)) };
        Ok(())
    })
}

/// A pull subscription that sends nothing to the broker and receives every MESSAGE whose
/// `subscription` header names no open subscription of this client: replies sent to
/// `reply-to: /temp-queue/NAME` on RabbitMQ (the broker delivers them on a subscription
/// it made itself), or messages that crossed an UNSUBSCRIBE. Without one, such messages
/// are dropped and the debug hook says so.
///
/// At most one per client at a time (a second while one is open: INVALID_ARGUMENT). Its
/// id is "*", which is reserved: a caller's `id:*` header, or `stompws_client_unsubscribe`
/// of "*", is INVALID_ARGUMENT. It is never sent to the broker: unsubscribe, free, a
/// queue-limit closure and a reconnect send nothing for it. Its messages may be acked as
/// their `ack` / `message-id` headers allow (the library does not know the ack mode of
/// the broker's subscription: ack only what needs it). On OK, `*out` receives a
/// subscription the caller owns and frees with `stompws_subscription_free`; receive from
/// it with `stompws_subscription_receive`. Any thread.
///
/// # Safety
/// `client` is NULL or a live client; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn stompws_client_subscribe_unhandled(
    client: *mut stompws_client,
    out: *mut *mut stompws_subscription,
) -> stompws_result {
    boundary::result(|| {
        // SAFETY: per the contract above.
        let c = unsafe { try_ref(client, "client")? };
        check_out(out, "out")?;
        let sub = c.client.subscribe_unhandled()?;
        let handle = Box::new(stompws_subscription {
            id: cstring(sub.id()),
            sub,
        });
        // SAFETY: checked non-NULL above; written only on success.
        unsafe { write_out(out, Box::into_raw(handle)) };
        Ok(())
    })
}

/// UNSUBSCRIBE with this id and these extra headers, whether or not this client has an
/// open subscription with that id: e.g. removing an ActiveMQ durable topic subscription
/// (`activemq.subscriptionName`) after its consumer is gone. An open subscription of this
/// client with that id ends as by `stompws_subscription_unsubscribe` (its handle's own
/// unsubscribe then returns OK and sends nothing; the handle is still the caller's to
/// free). `id` may not be empty or "*"; `headers` may not hold `id`. A `receipt` header
/// makes the call wait for it (receipt timeout); during a reconnect outage the call waits
/// for the next connection, at most the send timeout. Nothing of the caller's is kept.
/// Any thread.
///
/// # Safety
/// `client` is NULL or a live client; `id` NULL or NUL-terminated; `headers` valid for
/// `header_count` elements.
#[no_mangle]
pub unsafe extern "C" fn stompws_client_unsubscribe(
    client: *mut stompws_client,
    id: *const c_char,
    headers: *const stompws_header,
    header_count: usize,
) -> stompws_result {
    boundary::result(|| {
        // SAFETY: per the contract above.
        let (c, id, headers) = unsafe {
            (
                try_ref(client, "client")?,
                try_str(id, "id")?,
                try_headers(headers, header_count)?,
            )
        };
        c.client.unsubscribe_id(id, &headers)?;
        Ok(())
    })
}

/// BEGIN a transaction. `transaction_id` NULL: an id is generated. On OK, `*out`
/// receives the transaction (owned; free with `stompws_transaction_free`). Frames join
/// it through a `transaction` header carrying `stompws_transaction_id`.
///
/// # Safety
/// `client` is NULL or a live client; `transaction_id` NULL or NUL-terminated; `out`
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn stompws_client_begin(
    client: *mut stompws_client,
    transaction_id: *const c_char,
    out: *mut *mut stompws_transaction,
) -> stompws_result {
    boundary::result(|| {
        // SAFETY: per the contract above.
        let (c, id) = unsafe {
            (
                try_ref(client, "client")?,
                opt_str(transaction_id, "transaction_id")?,
            )
        };
        check_out(out, "out")?;
        let tx = match id {
            Some(id) => c.client.begin_with_id(id)?,
            None => c.client.begin()?,
        };
        let handle = Box::new(stompws_transaction {
            id: cstring(tx.id()),
            tx,
        });
        // SAFETY: checked non-NULL above; written only on success.
        unsafe { write_out(out, Box::into_raw(handle)) };
        Ok(())
    })
}

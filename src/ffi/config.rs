//! `stompws_config_*`: building the settings a client connects with.
//!
//! Every setter checks its arguments at once (so a mistake is reported where it is
//! made), returns `STOMPWS_RESULT_OK` or an error with the detail in
//! `stompws_last_error`, and leaves the config unchanged on error. A config is not
//! thread-safe: use it from one thread at a time.

use std::ffi::{c_char, c_void, CString};
use std::time::Duration;

use crate::config::{self, Config};
use crate::error::Error;
use crate::event::Event;
use crate::frame::{check_header, Version};

use super::boundary::{self, config_ms, try_bool, try_mut, try_str, FfiResult, UserData};
use super::types::{c_bool, stompws_config, stompws_event, stompws_result};

/// Applies `f` to the config behind `config` inside the panic boundary.
fn with_config(
    config: *mut stompws_config,
    f: impl FnOnce(&mut Config) -> FfiResult<()>,
) -> stompws_result {
    boundary::result(|| {
        // SAFETY: the caller passes NULL or a live config used by this thread only
        // (documented on every setter).
        let c = unsafe { try_mut(config, "config") }?;
        f(&mut c.config)
    })
}

/// A new config with the defaults: no login, heart-beats 10000/10000 ms, versions
/// "1.2,1.1,1.0", 30 s timeouts, 64 MiB frames, TLS verified against the system roots.
/// Never NULL (allocation failure aborts, as in any Rust program). The caller owns it
/// and frees it with `stompws_config_free`.
#[no_mangle]
pub extern "C" fn stompws_config_new() -> *mut stompws_config {
    Box::into_raw(Box::new(stompws_config {
        config: Config::new(),
    }))
}

/// Frees a config. NULL is fine. Call at most once per config.
///
/// # Safety
/// `config` is NULL or a config from `stompws_config_new`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_free(config: *mut stompws_config) {
    boundary::void(|| {
        if !config.is_null() {
            // SAFETY: per the contract, a pointer from Box::into_raw, freed once.
            drop(unsafe { Box::from_raw(config) });
        }
    })
}

/// CONNECT `login` and `passcode` (both required). They go unescaped in CONNECT, so a
/// line break in either is INVALID_ARGUMENT. The passcode never appears in debug output.
///
/// # Safety
/// `config` is NULL or a live config; strings are NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_set_login(
    config: *mut stompws_config,
    login: *const c_char,
    passcode: *const c_char,
) -> stompws_result {
    with_config(config, |c| {
        // SAFETY: NULL or NUL-terminated per the contract.
        let (l, p) = unsafe { (try_str(login, "login")?, try_str(passcode, "passcode")?) };
        check_header("login", l, Version::V1_2, "CONNECT")?;
        check_header("passcode", p, Version::V1_2, "CONNECT")?;
        *c = std::mem::take(c).login(l, p);
        Ok(())
    })
}

/// The STOMP `host` header (RabbitMQ: the virtual host, e.g. "/"). Not sent by default,
/// a deliberate deviation from STOMP 1.1/1.2: RabbitMQ refuses a `host` it does not
/// know, such as the URL's host name. "" is INVALID_ARGUMENT (leave the host unset for
/// the broker's default virtual host).
///
/// # Safety
/// `config` is NULL or a live config; `host` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_set_host(
    config: *mut stompws_config,
    host: *const c_char,
) -> stompws_result {
    with_config(config, |c| {
        // SAFETY: NULL or NUL-terminated per the contract.
        let h = unsafe { try_str(host, "host") }?;
        config::check_host(h)?;
        check_header("host", h, Version::V1_2, "CONNECT")?;
        *c = std::mem::take(c).host(h);
        Ok(())
    })
}

/// Heart-beats asked for, in ms: how often we promise to send and how often we want to
/// hear from the broker. 0 disables a direction. Default 10000, 10000.
///
/// # Safety
/// `config` is NULL or a live config.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_set_heartbeat(
    config: *mut stompws_config,
    outgoing_ms: u32,
    incoming_ms: u32,
) -> stompws_result {
    with_config(config, |c| {
        *c = std::mem::take(c).heartbeat(outgoing_ms, incoming_ms);
        Ok(())
    })
}

/// The `accept-version` list, e.g. "1.2" or "1.1,1.0". Default "1.2,1.1,1.0". An
/// unknown version is INVALID_ARGUMENT.
///
/// # Safety
/// `config` is NULL or a live config; `accept_version` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_set_versions(
    config: *mut stompws_config,
    accept_version: *const c_char,
) -> stompws_result {
    with_config(config, |c| {
        // SAFETY: NULL or NUL-terminated per the contract.
        let v = unsafe { try_str(accept_version, "accept_version") }?;
        config::parse_versions(v)?;
        *c = std::mem::take(c).versions(v);
        Ok(())
    })
}

/// Overrides the `Sec-WebSocket-Protocol` offer (comma separated). Default: derived from
/// the versions, "v12.stomp,v11.stomp,v10.stomp". "" offers none.
///
/// # Safety
/// `config` is NULL or a live config; `comma_list` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_set_subprotocols(
    config: *mut stompws_config,
    comma_list: *const c_char,
) -> stompws_result {
    with_config(config, |c| {
        // SAFETY: NULL or NUL-terminated per the contract.
        let list = unsafe { try_str(comma_list, "comma_list") }?;
        config::check_http_header("Sec-WebSocket-Protocol", list)?;
        *c = std::mem::take(c).subprotocols(list);
        Ok(())
    })
}

/// WebSocket only: `true` sends every frame as a binary message. By default a frame goes
/// as a text message when it is valid UTF-8 and as binary otherwise (ActiveMQ ignores
/// binary messages; RabbitMQ closes on non-UTF-8 text).
///
/// # Safety
/// `config` is NULL or a live config.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_set_binary_frames(
    config: *mut stompws_config,
    always: c_bool,
) -> stompws_result {
    with_config(config, |c| {
        *c = std::mem::take(c).binary_frames(try_bool(always, "always")?);
        Ok(())
    })
}

/// Adds a header to the CONNECT frame, e.g. `client-id`. CONNECT is not escaped, so a
/// line break, or a ':' in the name, is INVALID_ARGUMENT.
///
/// # Safety
/// `config` is NULL or a live config; strings are NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_add_connect_header(
    config: *mut stompws_config,
    name: *const c_char,
    value: *const c_char,
) -> stompws_result {
    with_config(config, |c| {
        // SAFETY: NULL or NUL-terminated per the contract.
        let (n, v) = unsafe { (try_str(name, "name")?, try_str(value, "value")?) };
        check_header(n, v, Version::V1_2, "CONNECT")?;
        *c = std::mem::take(c).connect_header(n, v);
        Ok(())
    })
}

/// Adds a header to the WebSocket upgrade request (Authorization, Cookie, Origin). The
/// name must be an HTTP token and the value free of CR and LF.
///
/// # Safety
/// `config` is NULL or a live config; strings are NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_add_http_header(
    config: *mut stompws_config,
    name: *const c_char,
    value: *const c_char,
) -> stompws_result {
    with_config(config, |c| {
        // SAFETY: NULL or NUL-terminated per the contract.
        let (n, v) = unsafe { (try_str(name, "name")?, try_str(value, "value")?) };
        config::check_http_header(n, v)?;
        *c = std::mem::take(c).http_header(n, v);
        Ok(())
    })
}

/// One deadline for TCP, TLS, the WebSocket upgrade and CONNECTED. Default 30000 ms; 0
/// is INVALID_ARGUMENT.
///
/// # Safety
/// `config` is NULL or a live config.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_set_connect_timeout(
    config: *mut stompws_config,
    ms: u32,
) -> stompws_result {
    with_config(config, |c| {
        *c = std::mem::take(c).connect_timeout(config_ms(ms, "connect timeout")?);
        Ok(())
    })
}

/// How long a call that asked for a receipt waits for it (commit, abort, disconnect,
/// any call with a `receipt` header). Default 30000 ms; 0 is INVALID_ARGUMENT.
///
/// # Safety
/// `config` is NULL or a live config.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_set_receipt_timeout(
    config: *mut stompws_config,
    ms: u32,
) -> stompws_result {
    with_config(config, |c| {
        *c = std::mem::take(c).receipt_timeout(config_ms(ms, "receipt timeout")?);
        Ok(())
    })
}

/// How long a send may wait for room in the outgoing buffer. Default 30000 ms; 0 is
/// INVALID_ARGUMENT.
///
/// # Safety
/// `config` is NULL or a live config.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_set_send_timeout(
    config: *mut stompws_config,
    ms: u32,
) -> stompws_result {
    with_config(config, |c| {
        *c = std::mem::take(c).send_timeout(config_ms(ms, "send timeout")?);
        Ok(())
    })
}

/// Silence longer than `factor` times the negotiated incoming heart-beat interval means
/// the connection is lost. Default 2.0; below 1.0 or not finite is INVALID_ARGUMENT.
///
/// # Safety
/// `config` is NULL or a live config.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_set_heartbeat_tolerance(
    config: *mut stompws_config,
    factor: f64,
) -> stompws_result {
    with_config(config, |c| {
        config::check_tolerance(factor)?;
        *c = std::mem::take(c).heartbeat_tolerance(factor);
        Ok(())
    })
}

/// The largest inbound frame (and WebSocket message) accepted; a larger one closes the
/// connection with a protocol error, before its memory is allocated. Default 64 MiB;
/// below 64 bytes is INVALID_ARGUMENT.
///
/// # Safety
/// `config` is NULL or a live config.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_set_max_frame_size(
    config: *mut stompws_config,
    bytes: usize,
) -> stompws_result {
    with_config(config, |c| {
        config::check_max_frame_size(bytes)?;
        *c = std::mem::take(c).max_frame_size(bytes);
        Ok(())
    })
}

/// ws and wss only (ignored for tcp and ssl): a STOMP frame longer than `bytes` goes out
/// as several WebSocket messages of at most `bytes` payload bytes each, for servers that
/// reassemble a STOMP frame across messages but refuse large messages: Spring, which on
/// Tomcat closes the session (1009) on a message over 16,640 bytes and reassembles
/// frames up to 64 KiB (16000 suits it). A text frame is cut on UTF-8 character
/// boundaries, so every piece is a valid text message; a binary frame is cut anywhere.
/// 0 (the default): one frame per message, as ActiveMQ requires. 1 to 1023 is
/// INVALID_ARGUMENT and leaves the config unchanged. Read when connecting: a client
/// already connected keeps the value it was made with.
///
/// # Safety
/// `config` is NULL or a live config, used by one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_set_ws_message_limit(
    config: *mut stompws_config,
    bytes: usize,
) -> stompws_result {
    with_config(config, |c| {
        config::check_ws_message_limit(bytes)?;
        *c = std::mem::take(c).ws_message_limit(bytes);
        Ok(())
    })
}

/// Bounds each subscription's queue. When either bound is passed the subscription is
/// closed (UNSUBSCRIBE), `STOMPWS_EVENT_SUBSCRIPTION_CLOSED` is reported, and its
/// receiver gets the queued messages, then DISCONNECTED. Default 1000000 messages,
/// 256 MiB; 0 is INVALID_ARGUMENT.
///
/// # Safety
/// `config` is NULL or a live config.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_set_queue_limit(
    config: *mut stompws_config,
    messages: usize,
    bytes: usize,
) -> stompws_result {
    with_config(config, |c| {
        config::check_queue_limit(messages, bytes)?;
        *c = std::mem::take(c).queue_limit(messages, bytes);
        Ok(())
    })
}

/// `true` (default): every SEND carries `content-length`. `false`: only bodies holding a
/// NUL byte get one (ActiveMQ then delivers a TextMessage).
///
/// # Safety
/// `config` is NULL or a live config.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_set_auto_content_length(
    config: *mut stompws_config,
    always: c_bool,
) -> stompws_result {
    with_config(config, |c| {
        *c = std::mem::take(c).auto_content_length(try_bool(always, "always")?);
        Ok(())
    })
}

/// Trusts the certificates in this PEM file in addition to the system's roots. The file
/// is read when connecting; a path that does not exist now is INVALID_ARGUMENT.
///
/// # Safety
/// `config` is NULL or a live config; `pem_path` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_set_tls_ca_file(
    config: *mut stompws_config,
    pem_path: *const c_char,
) -> stompws_result {
    with_config(config, |c| {
        // SAFETY: NULL or NUL-terminated per the contract.
        let p = unsafe { try_str(pem_path, "pem_path") }?;
        config::check_file("TLS CA file", p.as_ref())?;
        *c = std::mem::take(c).tls_ca_file(p);
        Ok(())
    })
}

/// Presents this client certificate (PEM) with its private key (PKCS#8 PEM). Paths that
/// do not exist now are INVALID_ARGUMENT.
///
/// # Safety
/// `config` is NULL or a live config; paths are NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_set_tls_client_cert(
    config: *mut stompws_config,
    cert_pem_path: *const c_char,
    key_pem_path: *const c_char,
) -> stompws_result {
    with_config(config, |c| {
        // SAFETY: NULL or NUL-terminated per the contract.
        let (cert, key) = unsafe {
            (
                try_str(cert_pem_path, "cert_pem_path")?,
                try_str(key_pem_path, "key_pem_path")?,
            )
        };
        config::check_file("TLS client certificate", cert.as_ref())?;
        config::check_file("TLS client key", key.as_ref())?;
        *c = std::mem::take(c).tls_client_cert(cert, key);
        Ok(())
    })
}

/// Skips certificate and host name verification. Off by default; for tests only.
///
/// # Safety
/// `config` is NULL or a live config.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_set_tls_insecure(
    config: *mut stompws_config,
    insecure: c_bool,
) -> stompws_result {
    with_config(config, |c| {
        *c = std::mem::take(c).tls_insecure(try_bool(insecure, "insecure")?);
        Ok(())
    })
}

/// Turns on reconnecting after a lost connection (off by default; `initial_delay_ms` 0
/// turns it off again). Attempt n waits min(initial x 2^(n-1), max) ms times a random
/// factor in [0.8, 1.2] (at most `max_delay_ms`), then tries every endpoint once, in
/// order; `max_attempts` failed attempts (0 = never give up) close the client for good.
/// The count and the delay start again only once a new connection has stayed up for
/// 1 s. The rules (which calls wait during an outage, which fail, what is replayed) are
/// in the README, "Surviving restarts and failover":
/// - at the loss, STOMPWS_EVENT_CONNECTION_LOST fires, `stompws_client_is_connected`
///   turns false, and every call waiting for a receipt returns DISCONNECTED at once;
/// - acks of messages received before the loss, and commits of its transactions, return
///   DISCONNECTED and send nothing (the broker redelivers what was not acked);
/// - sends, subscribes and begins wait for the new connection, at most the send timeout
///   (then TIMEOUT, having sent nothing); receives keep waiting; unsubscribing ends the
///   subscription at once;
/// - after reconnecting, every subscription is made again with its id and headers
///   before any other frame, and STOMPWS_EVENT_CONNECTED fires with the endpoint's URL;
/// - `stompws_client_disconnect` during an outage returns OK at once.
///
/// INVALID_ARGUMENT when `max_delay_ms < initial_delay_ms`; the config is then left
/// unchanged.
///
/// # Safety
/// `config` is NULL or a live config.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_set_reconnect(
    config: *mut stompws_config,
    initial_delay_ms: u32,
    max_delay_ms: u32,
    max_attempts: u32,
) -> stompws_result {
    with_config(config, |c| {
        if initial_delay_ms != 0 && max_delay_ms < initial_delay_ms {
            return Err(Error::invalid(format!(
                "max_delay_ms ({max_delay_ms}) is less than initial_delay_ms ({initial_delay_ms})"
            ))
            .into());
        }
        let ms = |v: u32| Duration::from_millis(u64::from(v));
        *c = std::mem::take(c).reconnect(ms(initial_delay_ms), ms(max_delay_ms), max_attempts);
        Ok(())
    })
}

/// Another broker to try, after the URL given to connect and the failover URLs added
/// before it: `stompws_client_connect` tries each once, in order, without waiting, and
/// every reconnect attempt goes through the list from the first. Every endpoint uses the
/// same config. When all fail at connect, the result is the last one's and
/// `stompws_last_error` names each endpoint with its error. A URL that connect would
/// refuse (another scheme, bad UTF-8) is INVALID_ARGUMENT here, and is not added.
///
/// # Safety
/// `config` is NULL or a live config; `url` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_add_failover_url(
    config: *mut stompws_config,
    url: *const c_char,
) -> stompws_result {
    with_config(config, |c| {
        // SAFETY: NULL or NUL-terminated per the contract.
        let url = unsafe { try_str(url, "url") }?;
        crate::transport::parse_url(url)?;
        *c = std::mem::take(c).failover_url(url);
        Ok(())
    })
}

/// The debug hook: called with one line of text per frame sent (">>> SEND ...") and
/// received ("<<< MESSAGE ..."), headers included, body abbreviated, passcode never
/// shown. `line` is borrowed for the call. It may run on any of the client's threads
/// (also the I/O thread), several at once, so it must be quick, thread-safe, and must
/// not call back into the library. `userdata` is passed back as is; it must stay valid
/// until the client is freed. A NULL `fn` removes the hook.
#[allow(non_camel_case_types)]
pub type stompws_debug_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, line: *const c_char)>;

/// Sets or removes (NULL `fn`) the debug hook; see `stompws_debug_fn`.
///
/// # Safety
/// `config` is NULL or a live config; `fn` and `userdata` follow `stompws_debug_fn`.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_set_debug(
    config: *mut stompws_config,
    r#fn: stompws_debug_fn,
    userdata: *mut c_void,
) -> stompws_result {
    let ud = UserData(userdata);
    with_config(config, |c| {
        match r#fn {
            None => c.clear_debug(),
            Some(f) => {
                *c = std::mem::take(c).debug(move |line| {
                    let line = CString::new(line.replace('\0', "\\0")).unwrap_or_default();
                    let ud = ud;
                    // SAFETY: the C caller promised a callable hook and a userdata valid
                    // on the client's threads (documented on stompws_debug_fn).
                    unsafe { f(ud.0, line.as_ptr()) }
                })
            }
        }
        Ok(())
    })
}

/// The event hook: runs on the client's dispatch thread (never the I/O thread), so it
/// may call the library, even wait for a receipt; disconnecting or freeing this client
/// from inside it is treated as in a message callback. `detail` is borrowed for the
/// call. `userdata` must stay valid until the client is freed. It must return normally
/// (no C++ exception or longjmp out of it).
#[allow(non_camel_case_types)]
pub type stompws_event_fn = Option<
    unsafe extern "C" fn(userdata: *mut c_void, event: stompws_event, detail: *const c_char),
>;

/// Sets or removes (NULL `fn`) the event hook; see `stompws_event_fn`.
///
/// # Safety
/// `config` is NULL or a live config; `fn` and `userdata` follow `stompws_event_fn`.
#[no_mangle]
pub unsafe extern "C" fn stompws_config_set_event_callback(
    config: *mut stompws_config,
    r#fn: stompws_event_fn,
    userdata: *mut c_void,
) -> stompws_result {
    let ud = UserData(userdata);
    with_config(config, |c| {
        match r#fn {
            None => c.clear_on_event(),
            Some(f) => {
                *c = std::mem::take(c).on_event(move |event, detail| {
                    let detail = super::cstring(detail);
                    let ud = ud;
                    // SAFETY: the C caller promised a callable hook and a userdata valid
                    // on the dispatch thread (documented on stompws_event_fn).
                    unsafe { f(ud.0, c_event(event), detail.as_ptr()) }
                })
            }
        }
        Ok(())
    })
}

fn c_event(e: Event) -> stompws_event {
    match e {
        Event::Connected => stompws_event::STOMPWS_EVENT_CONNECTED,
        Event::ConnectionLost => stompws_event::STOMPWS_EVENT_CONNECTION_LOST,
        Event::Reconnecting => stompws_event::STOMPWS_EVENT_RECONNECTING,
        Event::ServerError => stompws_event::STOMPWS_EVENT_SERVER_ERROR,
        Event::Disconnected => stompws_event::STOMPWS_EVENT_DISCONNECTED,
        Event::SubscriptionClosed => stompws_event::STOMPWS_EVENT_SUBSCRIPTION_CLOSED,
    }
}

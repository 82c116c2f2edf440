//! `stompws_message_*`: reading a received message, acking and nacking it.

use std::ffi::{c_char, CStr};
use std::ptr;

use crate::Message;

use super::boundary::{self, try_headers, write_out, Fail, FfiResult};
use super::types::{stompws_header, stompws_message, stompws_result};

/// The frame's command, "MESSAGE"; NULL for NULL. Borrowed from the message: valid until
/// `stompws_message_free` (for a callback's message: until the callback returns).
///
/// # Safety
/// `message` is NULL or a live message.
#[no_mangle]
pub unsafe extern "C" fn stompws_message_command(message: *const stompws_message) -> *const c_char {
    boundary::getter(ptr::null(), || {
        // SAFETY: NULL or a live message, per the contract.
        unsafe { stompws_message::frame(message) }
            .map_or(ptr::null(), |f| f.command_cstr().as_ptr())
    })
}

/// The `destination` header, or NULL. Borrowed like `stompws_message_command`.
///
/// # Safety
/// `message` is NULL or a live message.
#[no_mangle]
pub unsafe extern "C" fn stompws_message_destination(
    message: *const stompws_message,
) -> *const c_char {
    boundary::getter(ptr::null(), || {
        // SAFETY: NULL or a live message, per the contract.
        unsafe { stompws_message::frame(message) }
            .and_then(|f| f.header_cstr(b"destination"))
            .map_or(ptr::null(), |c| c.as_ptr())
    })
}

/// The first header called `name`, unescaped; NULL if absent (or an argument is NULL or
/// not UTF-8). Borrowed like `stompws_message_command`.
///
/// # Safety
/// `message` is NULL or a live message; `name` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn stompws_message_header(
    message: *const stompws_message,
    name: *const c_char,
) -> *const c_char {
    boundary::getter(ptr::null(), || {
        // SAFETY: per the contract above.
        let Some(frame) = (unsafe { stompws_message::frame(message) }) else {
            return ptr::null();
        };
        if name.is_null() {
            return ptr::null();
        }
        // SAFETY: not NULL, and NUL-terminated per the contract. Compared as bytes: a
        // name that is not UTF-8 matches no header, as it did when it was refused.
        let name = unsafe { CStr::from_ptr(name) }.to_bytes();
        frame.header_cstr(name).map_or(ptr::null(), |c| c.as_ptr())
    })
}

/// How many headers the message has (repeats included); 0 for NULL.
///
/// # Safety
/// `message` is NULL or a live message.
#[no_mangle]
pub unsafe extern "C" fn stompws_message_header_count(message: *const stompws_message) -> usize {
    // SAFETY: NULL or a live message, per the contract.
    boundary::getter(0, || {
        unsafe { stompws_message::frame(message) }.map_or(0, |f| f.header_count())
    })
}

/// The header at `index` (0-based, in arrival order). On OK `*name` and `*value` are
/// borrowed like `stompws_message_command`. INVALID_ARGUMENT past the end.
///
/// # Safety
/// `message` is NULL or a live message; `name` and `value` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn stompws_message_header_at(
    message: *const stompws_message,
    index: usize,
    name: *mut *const c_char,
    value: *mut *const c_char,
) -> stompws_result {
    boundary::result(|| {
        // SAFETY: NULL or a live message, per the contract.
        let frame = unsafe { stompws_message::frame(message) }.ok_or(Fail::Null("message"))?;
        boundary::check_out(name, "name")?;
        boundary::check_out(value, "value")?;
        let (n, v) = frame.header_at_cstr(index).ok_or_else(|| {
            crate::Error::invalid(format!(
                "header index {index} is past the end ({} headers)",
                frame.header_count()
            ))
        })?;
        // SAFETY: both checked non-NULL above; written only on success.
        unsafe {
            write_out(name, n.as_ptr());
            write_out(value, v.as_ptr());
        }
        Ok(())
    })
}

/// The body. `*len` (if `len` is not NULL) receives its length, which excludes a
/// terminating NUL the library always puts after it, so a text body can be used as a C
/// string (a body may itself hold NUL bytes: use `*len`). Borrowed like
/// `stompws_message_command`. NULL message: returns NULL and `*len` = 0.
///
/// # Safety
/// `message` is NULL or a live message; `len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn stompws_message_body(
    message: *const stompws_message,
    len: *mut usize,
) -> *const u8 {
    boundary::getter(ptr::null(), || {
        // SAFETY: NULL or a live message, per the contract.
        let body = unsafe { stompws_message::frame(message) }.map(|f| f.body_with_nul());
        if !len.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { len.write(body.map_or(0, |b| b.len() - 1)) };
        }
        body.map_or(ptr::null(), |b| b.as_ptr())
    })
}

/// An owned copy of the message (e.g. to keep a callback's message): the caller frees it
/// with `stompws_message_free`. It shares the acknowledgement state of the original, so
/// the two together are acked at most once. It is a counted reference to the same
/// message, so the pointer may equal `message`: each handle is freed once, in any order,
/// on any thread. NULL only if `message` is NULL. Any thread.
///
/// # Safety
/// `message` is NULL or a live message.
#[no_mangle]
pub unsafe extern "C" fn stompws_message_clone(
    message: *const stompws_message,
) -> *mut stompws_message {
    boundary::getter(ptr::null_mut(), || {
        // SAFETY: NULL or a live message, per the contract.
        unsafe { stompws_message::message(message) }.map_or(ptr::null_mut(), |m| {
            stompws_message::owning(Message::clone(&m))
        })
    })
}

/// ACK this message with the header the session's version needs (1.2: `id` = the
/// message's `ack` header; 1.1: `message-id` + `subscription`; 1.0: `message-id`). Extra
/// headers (`transaction`, `receipt`) are passed through; a `receipt` makes the call
/// wait. A message (or any clone) is acked or nacked at most once: a second attempt is
/// INVALID_ARGUMENT and sends nothing; so is acking a message of an `ack:auto`
/// subscription. A message received on a connection that was since lost (even if a
/// reconnect made a new one) gives DISCONNECTED and sends nothing: the broker delivers
/// it again; such a refusal does not use up the message's one ack. Thread-safe.
///
/// # Safety
/// `message` is NULL or a live message; `headers` valid for `header_count` elements.
#[no_mangle]
pub unsafe extern "C" fn stompws_message_ack(
    message: *const stompws_message,
    headers: *const stompws_header,
    header_count: usize,
) -> stompws_result {
    // SAFETY: forwarded with this function's contract.
    boundary::result(|| unsafe { settle(message, headers, header_count, true) })
}

/// NACK, like `stompws_message_ack`. On a STOMP 1.0 session: UNSUPPORTED.
///
/// # Safety
/// As for `stompws_message_ack`.
#[no_mangle]
pub unsafe extern "C" fn stompws_message_nack(
    message: *const stompws_message,
    headers: *const stompws_header,
    header_count: usize,
) -> stompws_result {
    // SAFETY: forwarded with this function's contract.
    boundary::result(|| unsafe { settle(message, headers, header_count, false) })
}

/// # Safety
/// As for `stompws_message_ack`.
unsafe fn settle(
    message: *const stompws_message,
    headers: *const stompws_header,
    header_count: usize,
    ack: bool,
) -> FfiResult<()> {
    // SAFETY: per the callers' contract.
    let (m, headers) = unsafe {
        (
            stompws_message::message(message).ok_or(Fail::Null("message"))?,
            try_headers(headers, header_count)?,
        )
    };
    if ack {
        m.ack(&headers)?;
    } else {
        m.nack(&headers)?;
    }
    Ok(())
}

/// Frees an owned message (from `stompws_subscription_receive` or
/// `stompws_message_clone`); never the one borrowed by a callback. NULL is fine; call
/// at most once.
///
/// # Safety
/// `message` is NULL or an owned message, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn stompws_message_free(message: *mut stompws_message) {
    boundary::void(|| {
        if !message.is_null() {
            // SAFETY: an owned handle (Message::into_raw), freed once, per the contract.
            drop(unsafe { Message::from_raw(message.cast_const().cast()) });
        }
    })
}

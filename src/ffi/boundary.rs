//! What every export goes through: the panic boundary, the thread's last error, and the
//! checked conversion of C arguments (NULL, UTF-8, lengths, headers, out-params).

use std::cell::RefCell;
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::Error;

use super::types::{stompws_header, stompws_result};

thread_local! {
    /// The detail of the last failed call on this thread (empty after a success).
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Why an export fails: a library error, or a NULL where a pointer was required.
pub(crate) enum Fail {
    Null(&'static str),
    Api(Error),
    /// A library error whose detail for `stompws_last_error` is given (the code's variant
    /// carries no text: a connect that timed out on the last of several endpoints).
    Detailed(Error, String),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::Api(e)
    }
}

pub(crate) type FfiResult<T> = Result<T, Fail>;

/// Clears the thread's last error on entry of a call (and a detail noted by an earlier
/// one that was not this call's), touching nothing when it is clear already: every
/// receive of a consumer comes here.
#[inline]
fn clear_last_error() {
    LAST_ERROR.with(|l| {
        if !l.borrow().is_empty() {
            *l.borrow_mut() = String::new();
        }
    });
    let _ = crate::error::take_detail();
}

fn set_last_error(detail: String) {
    LAST_ERROR.with(|l| *l.borrow_mut() = detail);
}

/// Runs the body of a fallible export: clears the last error, catches panics, and
/// turns the outcome into a `stompws_result` (recording the detail of a failure).
pub(crate) fn result(f: impl FnOnce() -> FfiResult<()>) -> stompws_result {
    clear_last_error();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => stompws_result::STOMPWS_RESULT_OK,
        Ok(Err(Fail::Null(what))) => {
            set_last_error(format!("{what} is NULL"));
            stompws_result::STOMPWS_RESULT_NULL_PARAMETER
        }
        Ok(Err(Fail::Api(e))) => {
            set_last_error(detail(&e));
            stompws_result::from_code(e.code())
        }
        Ok(Err(Fail::Detailed(e, text))) => {
            set_last_error(text);
            stompws_result::from_code(e.code())
        }
        Err(_) => {
            set_last_error("internal error: a panic was caught at the C boundary".into());
            stompws_result::STOMPWS_RESULT_PANIC
        }
    }
}

/// Runs the body of a getter; a panic gives `default`.
pub(crate) fn getter<T>(default: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(default)
}

/// Runs a function that returns nothing (the `_free`s); a panic is swallowed.
pub(crate) fn void(f: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(f));
}

/// The text `stompws_last_error` gives: for SERVER_ERROR the `message` header, then
/// the body on the next line.
fn detail(e: &Error) -> String {
    match e {
        Error::ServerError { message, body } if body.is_empty() => message.clone(),
        Error::ServerError { message, body } => format!("{message}\n{body}"),
        Error::InvalidArgument(d)
        | Error::Protocol(d)
        | Error::Tls(d)
        | Error::Io(d)
        | Error::Handshake(d)
        | Error::Unsupported(d) => d.clone(),
        // What timed out, or why the connection is closed, when the library said.
        Error::Timeout | Error::Disconnected => match crate::error::take_detail() {
            Some(d) => d.into_owned(),
            None => e.to_string(),
        },
    }
}

/// Copies `text` into the caller's buffer like snprintf: NUL-terminated, truncated to
/// `buf_len`, returning the full length. `buf` may be NULL when `buf_len` is 0.
///
/// # Safety
/// `buf` is NULL or valid for `buf_len` bytes of writes.
pub(crate) unsafe fn copy_out(text: &str, buf: *mut c_char, buf_len: usize) -> usize {
    // A NUL inside would end the C string early; none of our texts has one, but the
    // length returned must match what the caller can read.
    let bytes = text.as_bytes();
    let bytes = &bytes[..bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len())];
    if !buf.is_null() && buf_len > 0 {
        let n = bytes.len().min(buf_len - 1);
        // SAFETY: the caller gives `buf_len` writable bytes at `buf`; we write n + 1 <=
        // buf_len of them, from a slice that does not overlap the caller's buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), n);
            *buf.add(n) = 0;
        }
    }
    bytes.len()
}

/// The thread's last error, for `stompws_last_error`.
pub(crate) fn last_error(buf: *mut c_char, buf_len: usize) -> usize {
    LAST_ERROR.with(|l| {
        // SAFETY: forwarded from stompws_last_error, whose caller promises the buffer.
        unsafe { copy_out(&l.borrow(), buf, buf_len) }
    })
}

/// A shared reference from a handle pointer.
///
/// # Safety
/// `p` is NULL or a live handle of this type, not being freed concurrently.
pub(crate) unsafe fn try_ref<'a, T>(p: *const T, what: &'static str) -> FfiResult<&'a T> {
    // SAFETY: per this function's contract.
    unsafe { p.as_ref() }.ok_or(Fail::Null(what))
}

/// A mutable reference from a handle pointer (config setters).
///
/// # Safety
/// `p` is NULL or a live handle of this type used by this thread only.
pub(crate) unsafe fn try_mut<'a, T>(p: *mut T, what: &'static str) -> FfiResult<&'a mut T> {
    // SAFETY: per this function's contract.
    unsafe { p.as_mut() }.ok_or(Fail::Null(what))
}

/// A `&str` from a NUL-terminated C string; invalid UTF-8 is INVALID_ARGUMENT.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that lives for the call.
pub(crate) unsafe fn try_str<'a>(p: *const c_char, what: &'static str) -> FfiResult<&'a str> {
    if p.is_null() {
        return Err(Fail::Null(what));
    }
    // SAFETY: non-NULL and NUL-terminated per this function's contract.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    // Destinations and header names are nearly always ASCII, which a word at a time
    // tells cheaper than the general UTF-8 check (every send comes here).
    if bytes.is_ascii() {
        // SAFETY: ASCII is valid UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes)
        .map_err(|_| Fail::Api(Error::invalid(format!("{what} is not valid UTF-8"))))
}

/// Like [`try_str`], but NULL gives `None`.
///
/// # Safety
/// As for [`try_str`].
pub(crate) unsafe fn opt_str<'a>(
    p: *const c_char,
    what: &'static str,
) -> FfiResult<Option<&'a str>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: per this function's contract.
    unsafe { try_str(p, what) }.map(Some)
}

/// A byte slice from pointer + length; NULL is allowed only with length 0.
///
/// # Safety
/// `p` is NULL or valid for `len` bytes of reads for the call.
pub(crate) unsafe fn try_bytes<'a>(
    p: *const u8,
    len: usize,
    what: &'static str,
) -> FfiResult<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Fail::Null(what));
    }
    // SAFETY: non-NULL and valid for `len` bytes per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// The caller's header array as `(name, value)` pairs; `headers` may be NULL when
/// `count` is 0. Each name and value is checked like any other C string.
///
/// # Safety
/// `headers` is NULL or valid for `count` elements, each holding NULL or
/// NUL-terminated strings that live for the call.
pub(crate) unsafe fn try_headers<'a>(
    headers: *const stompws_header,
    count: usize,
) -> FfiResult<Vec<(&'a str, &'a str)>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if headers.is_null() {
        return Err(Fail::Null("headers"));
    }
    // SAFETY: non-NULL and valid for `count` elements per this function's contract.
    let raw = unsafe { std::slice::from_raw_parts(headers, count) };
    raw.iter()
        .map(|h| {
            // SAFETY: each element's strings are NULL or valid per the contract.
            unsafe {
                Ok((
                    try_str(h.name, "a header name")?,
                    try_str(h.value, "a header value")?,
                ))
            }
        })
        .collect()
}

/// Writes an out-param (only ever on success, at the end of an export's body).
///
/// # Safety
/// `out` is valid for a write of `T` (checked non-NULL by [`check_out`] first).
pub(crate) unsafe fn write_out<T>(out: *mut T, value: T) {
    // SAFETY: per this function's contract.
    unsafe { out.write(value) }
}

/// Fails with NULL_PARAMETER before any work is done when an out-param is NULL.
pub(crate) fn check_out<T>(out: *mut T, what: &'static str) -> FfiResult<()> {
    if out.is_null() {
        Err(Fail::Null(what))
    } else {
        Ok(())
    }
}

/// A C `bool` received as a byte, so that a value other than 0 or 1 is an error
/// instead of undefined behaviour.
pub(crate) fn try_bool(b: u8, what: &'static str) -> FfiResult<bool> {
    match b {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(Fail::Api(Error::invalid(format!(
            "{what} is {other}, not a bool"
        )))),
    }
}

/// A millisecond timeout of a config setter: 0 is INVALID_ARGUMENT.
pub(crate) fn config_ms(ms: u32, what: &str) -> FfiResult<std::time::Duration> {
    let d = std::time::Duration::from_millis(u64::from(ms));
    crate::config::check_timeout(what, d)?;
    Ok(d)
}

/// Wraps a C `void *userdata` so that a callback may carry it to the client's threads.
/// The C caller promises (and the header says) that the userdata may be used there.
#[derive(Clone, Copy)]
pub(crate) struct UserData(pub(crate) *mut std::ffi::c_void);

// SAFETY: the pointer is only handed back to the C callback it came with; the header
// documents that callbacks run on the client's threads, so the caller provides
// userdata that is usable from them.
unsafe impl Send for UserData {}
// SAFETY: as above; the library never dereferences it.
unsafe impl Sync for UserData {}

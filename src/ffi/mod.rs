//! The C API: `extern "C"` shims over the Rust API, one file per C object.
//!
//! Every export is a few lines that check and convert its arguments, call the Rust
//! API and convert the answer back; all logic lives in the Rust layers below. Each runs
//! inside the panic boundary of `boundary.rs`, so no panic crosses into C.

mod boundary;
mod types;

// In this order, which is the header's (cbindgen follows it): an object's functions
// come after those of the objects it is made from.
mod config;

mod client;

mod subscription;

mod message;

mod transaction;

use std::ffi::{c_char, CString};

pub use client::*;
pub use config::*;
pub use message::*;
pub use subscription::*;
pub use transaction::*;
pub use types::*;

/// A `CString` from text that cannot hold NUL (header values, ids); a NUL, should one
/// ever appear, ends the C text there instead of failing.
pub(crate) fn cstring(s: &str) -> CString {
    let end = s.find('\0').unwrap_or(s.len());
    CString::new(&s[..end]).unwrap_or_default()
}

/// A static, lower-case description of a result, e.g. `"timeout"`. Never NULL; an
/// unknown value gives `"unknown result"`. Thread-safe.
#[no_mangle]
pub extern "C" fn stompws_result_str(result: u32) -> *const c_char {
    let s: &'static [u8] = match result {
        0 => b"ok\0",
        1 => b"null parameter\0",
        2 => b"invalid argument\0",
        3 => b"timeout\0",
        4 => b"disconnected\0",
        5 => b"server error\0",
        6 => b"protocol error\0",
        7 => b"TLS error\0",
        8 => b"I/O error\0",
        9 => b"WebSocket handshake refused\0",
        10 => b"unsupported\0",
        11 => b"internal error (panic)\0",
        _ => b"unknown result\0",
    };
    s.as_ptr().cast()
}

/// Copies the calling thread's last error detail into `buf`, NUL-terminated and
/// truncated to `buf_len` bytes, and returns the full length of the detail (like
/// snprintf: a return value >= `buf_len` means it was cut). `buf` may be NULL when
/// `buf_len` is 0, to ask for the length.
///
/// For `STOMPWS_RESULT_SERVER_ERROR` the detail is the ERROR frame's `message` header,
/// then its body on the next line; for IO and HANDSHAKE errors it names the peer and,
/// for a refused upgrade, the HTTP status line. Every fallible call clears it on entry,
/// so after a success it is empty (returns 0). Thread-safe: each thread has its own.
///
/// # Safety
/// `buf` must be NULL or valid for `buf_len` bytes of writes.
#[no_mangle]
pub unsafe extern "C" fn stompws_last_error(buf: *mut c_char, buf_len: usize) -> usize {
    boundary::getter(0, || boundary::last_error(buf, buf_len))
}

/// The library version, `"0.1.0"`, the same text as the `STOMPWS_VERSION` macro of the
/// header it was built with. Static; never NULL; thread-safe.
#[no_mangle]
pub extern "C" fn stompws_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

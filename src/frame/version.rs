//! STOMP versions, and which headers a frame of a version can carry.

use super::scan;
use crate::{Error, Result};

/// A STOMP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// STOMP 1.0: no header escaping, no NACK, no heart-beats.
    V1_0,
    /// STOMP 1.1: escapes `\\`, `\n`, `\c`; heart-beats; NACK.
    V1_1,
    /// STOMP 1.2: adds `\r` escaping, CRLF line ends and the `ack` header.
    V1_2,
}

impl Version {
    /// The version as it appears in `accept-version` and `version` headers: `"1.2"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1_0 => "1.0",
            Version::V1_1 => "1.1",
            Version::V1_2 => "1.2",
        }
    }

    /// Parses `"1.0"`, `"1.1"` or `"1.2"`.
    pub fn parse(s: &str) -> Option<Version> {
        match s.trim() {
            "1.0" => Some(Version::V1_0),
            "1.1" => Some(Version::V1_1),
            "1.2" => Some(Version::V1_2),
            _ => None,
        }
    }

    /// The WebSocket subprotocol name for this version: `"v12.stomp"`.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Version::V1_0 => "v10.stomp",
            Version::V1_1 => "v11.stomp",
            Version::V1_2 => "v12.stomp",
        }
    }
}

/// Whether header names and values of a `command` frame are escaped on `version`.
///
/// CONNECT, STOMP and CONNECTED are exempt because they are exchanged before (or while)
/// the version is negotiated, so neither side can know which escaping the other uses.
pub(crate) fn escapes_headers(version: Version, command: &str) -> bool {
    version != Version::V1_0 && !matches!(command, "CONNECT" | "STOMP" | "CONNECTED")
}

/// Checks that STOMP can carry this header in a `command` frame on `version`.
///
/// The rules: the name is not empty; neither name nor value holds a NUL byte (the C API
/// and the frame layout both end strings at NUL); and when the frame is not escaped
/// (STOMP 1.0, or a CONNECT, STOMP or CONNECTED frame) neither holds a carriage return or
/// line feed and the name holds no `:`, because without escaping those would end the
/// line or the name early. Escaped frames can carry everything else.
///
/// [`Frame::encode`](super::Frame::encode) and
/// [`FrameWriter::header`](super::FrameWriter::header) do not check; call this first on
/// headers that come from outside.
///
/// # Errors
///
/// [`Error::InvalidArgument`] naming the header and the offending character.
///
/// ```
/// use stompws::frame::{check_header, Version};
///
/// assert!(check_header("note", "line 1\nline 2", Version::V1_2, "SEND").is_ok());
/// assert!(check_header("note", "line 1\nline 2", Version::V1_0, "SEND").is_err());
/// assert!(check_header("login", "a\nb", Version::V1_2, "CONNECT").is_err());
/// assert!(check_header("", "x", Version::V1_2, "SEND").is_err());
/// ```
pub fn check_header(name: &str, value: &str, version: Version, command: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid("header name is empty"));
    }
    if scan::contains(0, name.as_bytes()) {
        return Err(Error::invalid(format!(
            "header name {name:?} contains a NUL byte, which STOMP cannot carry"
        )));
    }
    if scan::contains(0, value.as_bytes()) {
        return Err(nul_in_value(name));
    }
    if escapes_headers(version, command) {
        return Ok(());
    }
    let line_break = |s: &str| s.contains(['\r', '\n']);
    if line_break(name) {
        return Err(Error::invalid(format!(
            "header name {name:?} contains a line break, which cannot be sent {}",
            unescaped(version, command)
        )));
    }
    if line_break(value) {
        return Err(line_break_in_value(name, version, command));
    }
    if name.contains(':') {
        return Err(Error::invalid(format!(
            "header name {name:?} contains ':', which cannot be sent {}",
            unescaped(version, command)
        )));
    }
    Ok(())
}

/// [`check_header`] for a header whose name is the library's own, which is known to pass:
/// only `value` is looked at. Same rules, same errors.
pub(crate) fn check_value(name: &str, value: &str, version: Version, command: &str) -> Result<()> {
    if scan::contains(0, value.as_bytes()) {
        return Err(nul_in_value(name));
    }
    if escapes_headers(version, command) || !value.contains(['\r', '\n']) {
        return Ok(());
    }
    Err(line_break_in_value(name, version, command))
}

#[cold]
fn nul_in_value(name: &str) -> Error {
    Error::invalid(format!(
        "value of header {name:?} contains a NUL byte, which STOMP cannot carry"
    ))
}

#[cold]
fn line_break_in_value(name: &str, version: Version, command: &str) -> Error {
    Error::invalid(format!(
        "value of header {name:?} contains a line break, which cannot be sent {}",
        unescaped(version, command)
    ))
}

/// Why a frame's headers are not escaped, for error texts.
fn unescaped(version: Version, command: &str) -> String {
    if version == Version::V1_0 {
        "on STOMP 1.0, which does not escape headers".to_string()
    } else {
        format!("in a {command} frame, whose headers are never escaped")
    }
}

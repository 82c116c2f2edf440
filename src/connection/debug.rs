//! The debug hook's lines: one per frame, headers included as they are on the wire
//! (STOMP-escaped where the frame is, once), body abbreviated, passcode never shown.

use std::fmt::Write;

use crate::frame::{escapes_headers, Frame, Version};

/// Longest body excerpt shown.
const BODY_EXCERPT: usize = 80;

/// `"<<< MESSAGE destination:/queue/a content-length:5 | hello"` for a frame decoded on
/// a session of `version`: its headers escaped again as the wire had them.
pub(crate) fn frame_line(dir: &str, frame: &Frame, version: Version) -> String {
    let mut s = format!("{dir} {}", frame.command());
    let escaped = escapes_headers(version, frame.command());
    let cr = version == Version::V1_2;
    for (name, value) in frame.headers() {
        if escaped {
            push_header(&mut s, &escape(name, cr), &escape(value, cr));
        } else {
            push_header(&mut s, name, value);
        }
    }
    push_body(&mut s, frame.body());
    s
}

/// The same for a frame we encoded ourselves: its headers are on the wire already.
pub(crate) fn encoded_line(dir: &str, encoded: &[u8]) -> String {
    let text_end = encoded
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or(encoded.len());
    let head = String::from_utf8_lossy(&encoded[..text_end]);
    let mut lines = head.split('\n');
    let mut s = format!("{dir} {}", lines.next().unwrap_or(""));
    for line in lines {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        push_header(&mut s, name, value);
    }
    let body = encoded.get(text_end + 2..).unwrap_or(&[]);
    push_body(&mut s, body.strip_suffix(&[0]).unwrap_or(body));
    s
}

fn push_header(s: &mut String, name: &str, value: &str) {
    let value = if name == "passcode" {
        "********"
    } else {
        value
    };
    let _ = write!(s, " {name}:{value}");
}

/// A decoded header name or value as STOMP 1.1/1.2 escaping puts it on the wire (`cr`:
/// 1.2, which escapes the carriage return too).
fn escape(text: &str, cr: bool) -> std::borrow::Cow<'_, str> {
    let special = text.contains(['\\', '\n', ':']) || (cr && text.contains('\r'));
    if !special {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            ':' => out.push_str("\\c"),
            '\r' if cr => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.into()
}

fn push_body(s: &mut String, body: &[u8]) {
    if body.is_empty() {
        return;
    }
    let cut = body.len().min(BODY_EXCERPT);
    let _ = write!(
        s,
        " | {}",
        String::from_utf8_lossy(&body[..cut]).escape_debug()
    );
    if cut < body.len() {
        let _ = write!(s, "... ({} bytes)", body.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passcode_is_hidden_and_body_abbreviated() {
        let f = Frame::new("CONNECT")
            .with_header("login", "guest")
            .with_header("passcode", "s3cret");
        let line = frame_line(">>>", &f, Version::V1_2);
        assert_eq!(line, ">>> CONNECT login:guest passcode:********");
        let enc = b"CONNECT\nlogin:u\npasscode:s3cret\n\n\0";
        assert!(!encoded_line(">>>", enc).contains("s3cret"));
        let body = vec![b'x'; 200];
        let f = Frame::new("SEND").with_body(&body);
        let line = frame_line(">>>", &f, Version::V1_2);
        assert!(line.ends_with("... (200 bytes)"), "{line}");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn headers_show_as_on_the_wire_escaped_once() {
        // What we send: the encoded text, untouched.
        let enc = b"SEND\ndestination:/q\nnote:a\\nb\\cc\\\\d\n\nx\0";
        assert_eq!(
            encoded_line(">>>", enc),
            ">>> SEND destination:/q note:a\\nb\\cc\\\\d | x"
        );
        // What we received, decoded: escaped again, as the broker sent it.
        let f = Frame::new("MESSAGE").with_header("note", "a\nb:c\\d\re");
        assert_eq!(
            frame_line("<<<", &f, Version::V1_2),
            "<<< MESSAGE note:a\\nb\\cc\\\\d\\re"
        );
        assert_eq!(
            frame_line("<<<", &f, Version::V1_1),
            "<<< MESSAGE note:a\\nb\\cc\\\\d\re"
        );
        // Frames that are not escaped show their text as is.
        let f = Frame::new("CONNECTED").with_header("server", "RabbitMQ/3.10:x");
        assert_eq!(
            frame_line("<<<", &f, Version::V1_2),
            "<<< CONNECTED server:RabbitMQ/3.10:x"
        );
    }
}

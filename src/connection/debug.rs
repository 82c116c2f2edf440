//! The debug hook's lines: one per frame, headers included, body abbreviated, passcode
//! never shown.

use std::fmt::Write;

use crate::frame::Frame;

/// Longest body excerpt shown.
const BODY_EXCERPT: usize = 80;

/// `">>> SEND destination:/queue/a content-length:5 | hello"` for a decoded frame.
pub(crate) fn frame_line(dir: &str, frame: &Frame) -> String {
    let mut s = format!("{dir} {}", frame.command());
    for (name, value) in frame.headers() {
        push_header(&mut s, name, value);
    }
    push_body(&mut s, frame.body());
    s
}

/// The same for a frame we encoded ourselves (headers are escaped already, so they are
/// shown as they go on the wire).
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
    let _ = write!(s, " {}:{}", name.escape_debug(), value.escape_debug());
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
        let line = frame_line(">>>", &f);
        assert_eq!(line, ">>> CONNECT login:guest passcode:********");
        let enc = b"CONNECT\nlogin:u\npasscode:s3cret\n\n\0";
        assert!(!encoded_line(">>>", enc).contains("s3cret"));
        let body = vec![b'x'; 200];
        let f = Frame::new("SEND").with_body(&body);
        let line = frame_line(">>>", &f);
        assert!(line.ends_with("... (200 bytes)"), "{line}");
        assert!(!line.contains('\n'));
    }
}

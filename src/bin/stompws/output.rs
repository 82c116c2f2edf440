//! How `subscribe` writes a message: its body and a newline, or with `--json` one JSON
//! object per line, and the small base64 encoder and JSON string escaping that takes.

use std::io::{self, Write};

use stompws::Message;

/// Writes one message: the body's bytes as they came followed by `\n`, or with `json`
/// the line `{"destination":...,"headers":{...},"body":"..."}` followed by `\n`.
///
/// In JSON, `destination` is `null` when the frame has none; `headers` holds each
/// header name once, with its first value (the one STOMP says counts); a body that is
/// valid UTF-8 is a JSON string under `body`, any other body is standard base64 (with
/// padding) under `body_base64`.
pub fn write_message(out: &mut impl Write, msg: &Message, json: bool) -> io::Result<()> {
    if !json {
        out.write_all(msg.body())?;
        return out.write_all(b"\n");
    }
    let mut line = String::with_capacity(64 + msg.body().len() * 4 / 3);
    line.push_str("{\"destination\":");
    match msg.destination() {
        Some(d) => push_json_string(&mut line, d),
        None => line.push_str("null"),
    }
    line.push_str(",\"headers\":{");
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in msg.headers() {
        if seen.contains(&name) {
            continue;
        }
        if !seen.is_empty() {
            line.push(',');
        }
        seen.push(name);
        push_json_string(&mut line, name);
        line.push(':');
        push_json_string(&mut line, value);
    }
    line.push_str("},");
    match std::str::from_utf8(msg.body()) {
        Ok(text) => {
            line.push_str("\"body\":");
            push_json_string(&mut line, text);
        }
        Err(_) => {
            line.push_str("\"body_base64\":\"");
            push_base64(&mut line, msg.body());
            line.push('"');
        }
    }
    line.push_str("}\n");
    out.write_all(line.as_bytes())
}

/// Appends `s` as a JSON string (RFC 8259): quotes, backslashes and control characters
/// escaped, everything else (non-ASCII included) as it is.
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `bytes` in standard base64 (RFC 4648 section 4), padded with `=`.
pub fn push_base64(out: &mut String, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sextet = |n: u32, shift: u32| ALPHABET[((n >> shift) & 63) as usize] as char;
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(sextet(n, 18));
        out.push(sextet(n, 12));
        out.push(if chunk.len() > 1 { sextet(n, 6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(n, 0) } else { '=' });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        let mut s = String::new();
        push_base64(&mut s, bytes);
        s
    }

    fn json(s: &str) -> String {
        let mut out = String::new();
        push_json_string(&mut out, s);
        out
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(b64(plain.as_bytes()), encoded, "{plain:?}");
        }
        assert_eq!(b64(&[0, 0xff, 0xfe, 0x80, 0]), "AP/+gAA=");
        assert_eq!(b64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn json_strings_escape_what_json_requires() {
        assert_eq!(json("plain"), r#""plain""#);
        assert_eq!(json("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(json("l1\nl2\r\t"), r#""l1\nl2\r\t""#);
        assert_eq!(
            json("\u{0}\u{1f}\u{8}\u{c}\u{7f}"),
            "\"\\u0000\\u001f\\b\\f\u{7f}\""
        );
        assert_eq!(json("héllo ✓ /queue:x"), "\"héllo ✓ /queue:x\"");
    }
}

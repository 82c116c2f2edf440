//! Header text: `content-length`, unescaping and UTF-8, shared by both decoder paths.

/// Parses a decimal `content-length`: digits only, no sign, no spaces, no overflow.
pub(super) fn parse_content_length(s: &[u8]) -> Option<usize> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0usize, |n, &b| {
        let digit = b.is_ascii_digit().then(|| usize::from(b - b'0'))?;
        n.checked_mul(10)?.checked_add(digit)
    })
}

/// Why a header piece could not be unescaped.
pub(super) enum BadEscape {
    /// A backslash followed by something STOMP does not define (the escape as read).
    Undefined(String),
    /// A backslash at the very end of the piece.
    LoneBackslash,
}

/// Appends `piece` unescaped (`\\`, `\n`, `\c`, and `\r` when `crlf`) and its NUL.
pub(super) fn unescape_into(
    text: &mut String,
    piece: &str,
    crlf: bool,
) -> std::result::Result<(), BadEscape> {
    let mut rest = piece;
    while let Some(i) = rest.bytes().position(|b| b == b'\\') {
        text.push_str(&rest[..i]);
        let c = match rest.as_bytes().get(i + 1) {
            Some(b'\\') => '\\',
            Some(b'n') => '\n',
            Some(b'c') => ':',
            Some(b'r') if crlf => '\r',
            Some(_) => return Err(BadEscape::Undefined(rest[i..].chars().take(2).collect())),
            None => return Err(BadEscape::LoneBackslash),
        };
        text.push(c);
        // Both bytes of the escape are ASCII, so this is a char boundary.
        rest = &rest[i + 2..];
    }
    text.push_str(rest);
    text.push('\0');
    Ok(())
}

/// UTF-8 validation with an ASCII fast path: header lines are nearly always ASCII, and
/// `is_ascii` on a short line costs a fraction of a full validation's setup.
pub(super) fn utf8(bytes: &[u8]) -> Option<&str> {
    if super::scan::is_ascii(bytes) {
        // SAFETY: every ASCII byte sequence is valid UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes).ok()
    }
}

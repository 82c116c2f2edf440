//! Byte scans for the decoder, eight bytes at a time without `unsafe` or dependencies.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Sets the high bit of each zero byte of `x`. Bytes above a zero byte may be flagged
/// too (the subtraction borrows), so only the lowest flag is exact; that is the one
/// wanted.
#[inline]
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// The index of the first byte of `bytes` that is NUL or `needle`.
///
/// The decoder needs "line feed or NUL" in the head and "NUL" in a body without
/// content-length (pass `needle` 0); a 64 KiB body is scanned about eight times faster
/// than byte by byte.
#[inline]
pub(super) fn find_nul_or(needle: u8, bytes: &[u8]) -> Option<usize> {
    let pattern = ONES * u64::from(needle);
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        // Little-endian, so the lowest flagged bit belongs to the earliest byte.
        let x = u64::from_le_bytes(word);
        let found = zero_bytes(x) | zero_bytes(x ^ pattern);
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    let rest = chunks.remainder();
    rest.iter()
        .position(|&b| b == 0 || b == needle)
        .map(|i| offset + i)
}

/// The index of the first byte of `bytes` that a STOMP 1.1 header escape changes
/// (backslash, line feed, `:`), or with `cr` a 1.2 one (also carriage return).
///
/// The encoder scans every header name and value with it; they rarely hold any, and a
/// byte-by-byte table lookup was the largest single cost of sending small frames.
#[inline]
pub(super) fn find_escaped(bytes: &[u8], cr: bool) -> Option<usize> {
    let escaped = |b: u8| matches!(b, b'\\' | b'\n' | b':') || (cr && b == b'\r');
    // A carriage return is looked for as a second line feed when it does not count.
    let cr_pattern = ONES * u64::from(if cr { b'\r' } else { b'\n' });
    let found = |x: u64| {
        zero_bytes(x ^ (ONES * u64::from(b'\\')))
            | zero_bytes(x ^ (ONES * u64::from(b'\n')))
            | zero_bytes(x ^ (ONES * u64::from(b':')))
            | zero_bytes(x ^ cr_pattern)
    };
    if bytes.len() < 8 {
        return bytes.iter().position(|&b| escaped(b));
    }
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let f = found(u64::from_le_bytes(word));
        if f != 0 {
            return Some(offset + (f.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    let rest = chunks.remainder().len();
    if rest == 0 {
        return None;
    }
    // The last eight bytes, overlapping bytes already checked, whose lanes are masked
    // off. (Copying the rest into a zeroed word instead stalls the load that follows
    // the byte-wise copy: that was half of this function's time.)
    let start = bytes.len() - 8;
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[start..]);
    let f = found(u64::from_le_bytes(word)) & (u64::MAX << ((8 - rest) * 8));
    (f != 0).then(|| start + (f.trailing_zeros() / 8) as usize)
}

/// Whether `bytes` holds `needle`. Without early exit: for the ~100 bytes of a frame's
/// head, where the answer is nearly always no, fewer branches beat stopping early. A
/// tail shorter than a word is read as the last eight bytes, overlapping bytes already
/// looked at (no call out to `memchr`, which costs more than the rest on a short header).
#[inline]
pub(super) fn contains(needle: u8, bytes: &[u8]) -> bool {
    if bytes.len() < 8 {
        return bytes.iter().fold(false, |found, &b| found | (b == needle));
    }
    let pattern = ONES * u64::from(needle);
    let word = |chunk: &[u8]| {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        u64::from_le_bytes(word)
    };
    let mut chunks = bytes.chunks_exact(8);
    let mut found = 0;
    for chunk in &mut chunks {
        found |= zero_bytes(word(chunk) ^ pattern);
    }
    if !chunks.remainder().is_empty() {
        found |= zero_bytes(word(&bytes[bytes.len() - 8..]) ^ pattern);
    }
    found != 0
}

/// Whether every byte of `bytes` is ASCII: one OR per word. The std version costs
/// twice as much on a frame's ~100-byte head, where it runs for every frame.
#[inline]
pub(super) fn is_ascii(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    let mut any = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        any |= u64::from_le_bytes(word);
    }
    any & HIGHS == 0 && chunks.remainder().iter().all(|&b| b < 0x80)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_the_first_match() {
        assert_eq!(find_nul_or(b'\n', b""), None);
        assert_eq!(find_nul_or(b'\n', b"abcdefghijklmnop"), None);
        assert_eq!(find_nul_or(b'\n', b"abcdefghij\nlmn\0p"), Some(10));
        assert_eq!(find_nul_or(b'\n', b"abcdefghij\0lmn\np"), Some(10));
        // A zero byte makes the bytes after it look like matches; the first one wins.
        assert_eq!(find_nul_or(b'\n', b"ab\0\x01\x01cdefgh"), Some(2));
        assert_eq!(find_nul_or(0, b"\x01\x01\x01\x01\x01\x01\x01\0"), Some(7));
        assert_eq!(
            find_nul_or(0, b"\x80\xff\x81\x01\x02\x7f\xfe\x00\x01"),
            Some(7)
        );
        assert_eq!(find_nul_or(0, b"12345678\xff"), None);
    }

    proptest! {
        #[test]
        fn same_as_a_byte_loop(
            needle in prop_oneof![Just(0u8), Just(b'\n'), any::<u8>()],
            bytes in prop::collection::vec(
                prop_oneof![4 => any::<u8>(), 1 => Just(0u8), 1 => Just(b'\n'), 1 => Just(1u8)],
                0..40,
            ),
        ) {
            let expected = bytes.iter().position(|&b| b == 0 || b == needle);
            prop_assert_eq!(find_nul_or(needle, &bytes), expected);
            prop_assert_eq!(contains(needle, &bytes), bytes.contains(&needle));
            prop_assert_eq!(is_ascii(&bytes), bytes.is_ascii());
        }

        #[test]
        fn find_escaped_is_a_byte_loop(
            cr in any::<bool>(),
            bytes in prop::collection::vec(
                prop_oneof![
                    6 => any::<u8>(),
                    1 => Just(0u8),
                    1 => prop::sample::select(b"\\\n:\r".to_vec()),
                ],
                0..40,
            ),
        ) {
            let expected = bytes
                .iter()
                .position(|&b| matches!(b, b'\\' | b'\n' | b':') || (cr && b == b'\r'));
            prop_assert_eq!(find_escaped(&bytes, cr), expected);
        }
    }

    #[test]
    fn find_escaped_finds_each_escape_in_any_lane() {
        for len in 1..20 {
            for at in 0..len {
                for (b, cr, hit) in [
                    (b'\\', false, true),
                    (b'\n', false, true),
                    (b':', false, true),
                    (b'\r', false, false),
                    (b'\r', true, true),
                    (0, true, false),
                ] {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    assert_eq!(find_escaped(&bytes, cr), hit.then_some(at), "{bytes:?}");
                }
            }
        }
    }
}

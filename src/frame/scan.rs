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

/// Whether `bytes` holds `needle`. Without early exit: for the ~100 bytes of a frame's
/// head, where the answer is nearly always no, fewer branches beat stopping early.
#[inline]
pub(super) fn contains(needle: u8, bytes: &[u8]) -> bool {
    let pattern = ONES * u64::from(needle);
    let mut chunks = bytes.chunks_exact(8);
    let mut found = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        found |= zero_bytes(u64::from_le_bytes(word) ^ pattern);
    }
    found != 0 || chunks.remainder().contains(&needle)
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
    }
}

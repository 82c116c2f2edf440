//! WebSocket masking: the per-message key generator and the XOR itself.
//!
//! RFC 6455 §5.3 asks for masking keys that are "unpredictable" and derived from a strong
//! source of entropy. The reason (§10.3) is cache poisoning of transparent proxies by
//! *hostile scripts in a browser* that choose the payload: if the script could predict
//! the key it could make the masked bytes look like an HTTP request. No such script
//! exists here: our payloads are STOMP frames built by the application that links us,
//! which could open a raw socket anyway. So a fast PRNG seeded once per connection from
//! the kernel (`getrandom`) is plenty, and it keeps a syscall off every message.

use std::mem::MaybeUninit;
use std::time::{SystemTime, UNIX_EPOCH};

/// A splitmix64 generator for masking keys, one per connection.
#[derive(Debug, Clone)]
pub(crate) struct MaskRng {
    state: u64,
}

impl MaskRng {
    /// Seeds from `getrandom(2)`; if that fails (very old kernel, seccomp), from the
    /// clock and an address, which is still unpredictable enough for a proxy (see the
    /// module comment).
    pub(crate) fn new() -> MaskRng {
        let mut seed = [0u8; 8];
        // SAFETY: the pointer and length describe `seed`, a live local buffer that
        // getrandom may fill completely; flags 0 reads the urandom pool.
        let n = unsafe { libc::getrandom(seed.as_mut_ptr().cast(), seed.len(), 0) };
        let seed = if n == seed.len() as isize {
            u64::from_ne_bytes(seed)
        } else {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            let local = 0u8;
            nanos ^ (&local as *const u8 as u64).rotate_left(32)
        };
        MaskRng { state: seed }
    }

    /// A generator with a fixed seed, for tests that compare bytes.
    #[cfg(test)]
    pub(crate) fn with_seed(seed: u64) -> MaskRng {
        MaskRng { state: seed }
    }

    /// The next masking key.
    pub(crate) fn next_key(&mut self) -> [u8; 4] {
        // splitmix64 (Steele, Lea, Flood 2014): one add and a mixing function; every
        // seed, zero included, gives a full-period sequence.
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z as u32).to_ne_bytes()
    }
}

/// XORs `data` with the repeating 4-byte `key`, as if `data` started at payload offset 0.
///
/// Eight bytes at a time: the key repeated twice makes a `u64`, and because 8 is a
/// multiple of 4 the key phase is the same at the start of every chunk. The compiler
/// vectorises the chunk loop further.
pub(crate) fn apply_mask(data: &mut [u8], key: [u8; 4]) {
    let k8 = [
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ];
    let k64 = u64::from_ne_bytes(k8);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ k64).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

/// Appends `src` to `out` masked with `key` as if `src` started at payload offset
/// `offset`, in one pass that also tells whether `src` is all ASCII (then it is valid
/// UTF-8 without a separate scan). Returns the ASCII answer.
pub(crate) fn extend_masked(out: &mut Vec<u8>, src: &[u8], key: [u8; 4], offset: usize) -> bool {
    let r = offset & 3;
    let key = [key[r], key[(r + 1) & 3], key[(r + 2) & 3], key[(r + 3) & 3]];
    let k64 = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    out.reserve(src.len());
    let start = out.len();
    let dst = &mut out.spare_capacity_mut()[..src.len()];
    // Large bodies pass through here once per frame: blocks written straight into the
    // spare capacity, with no per-word length update.
    let blocks = src.len() & !(BLOCK - 1);
    let (src_blocks, tail) = src.split_at(blocks);
    let (dst_blocks, dst_tail) = dst.split_at_mut(blocks);
    let mut high = mask_blocks(src_blocks, dst_blocks, k64);
    // The rest (a small frame's head is mostly rest) in words, then bytes. Both start at
    // a multiple of 4 into `src`: the key lines up again.
    let whole = tail.len() & !7;
    let words = tail[..whole].chunks_exact(8);
    for (s, d) in words.zip(dst_tail[..whole].chunks_exact_mut(8)) {
        high |= mask_word(s, d, k64);
    }
    for (i, (d, &b)) in dst_tail[whole..].iter_mut().zip(&tail[whole..]).enumerate() {
        high |= u64::from(b);
        d.write(b ^ key[i & 3]);
    }
    // SAFETY: the loops above wrote every one of the first `src.len()` bytes of the spare
    // capacity (the blocks, then the remainder), which `reserve` made room for.
    unsafe { out.set_len(start + src.len()) };
    high & 0x8080_8080_8080_8080 == 0
}

/// The unit [`mask_blocks`] works in.
const BLOCK: usize = 32;

/// Writes `src` XORed with `k64` (the key at phase 0, twice) to `dst`; both are a
/// whole number of [`BLOCK`]s long. Returns the OR of `src`'s words (for the ASCII test).
///
/// With SSE2, which every x86-64 CPU has, in 16-byte registers. Left to the compiler,
/// whether this loop was vectorised depended on where link-time optimisation inlined it,
/// so the same source ran at a different speed in each program that linked it.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
fn mask_blocks(src: &[u8], dst: &mut [MaybeUninit<u8>], k64: u64) -> u64 {
    use std::arch::x86_64::{
        _mm_cvtsi128_si64, _mm_loadu_si128, _mm_or_si128, _mm_set1_epi64x, _mm_setzero_si128,
        _mm_storeu_si128, _mm_unpackhi_epi64, _mm_xor_si128,
    };
    assert!(src.len() == dst.len() && src.len() % BLOCK == 0);
    let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
    // SAFETY: SSE2 is enabled for this target (the cfg above), so the intrinsics run on
    // every CPU this code can run on. Each load reads 16 bytes at `i` or `i + 16` with
    // `i + 32 <= src.len()`, so inside `src`; each store writes the same range of `dst`,
    // which is as long. Both are unaligned accesses, which these intrinsics allow.
    unsafe {
        let key = _mm_set1_epi64x(k64 as i64);
        let (mut high_a, mut high_b) = (_mm_setzero_si128(), _mm_setzero_si128());
        let mut i = 0;
        while i < src.len() {
            let a = _mm_loadu_si128(s.add(i).cast());
            let b = _mm_loadu_si128(s.add(i + 16).cast());
            high_a = _mm_or_si128(high_a, a);
            high_b = _mm_or_si128(high_b, b);
            _mm_storeu_si128(d.add(i).cast(), _mm_xor_si128(a, key));
            _mm_storeu_si128(d.add(i + 16).cast(), _mm_xor_si128(b, key));
            i += BLOCK;
        }
        let high = _mm_or_si128(high_a, high_b);
        (_mm_cvtsi128_si64(high) | _mm_cvtsi128_si64(_mm_unpackhi_epi64(high, high))) as u64
    }
}

/// [`mask_blocks`] on targets without SSE2.
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
use mask_blocks_by_words as mask_blocks;

/// [`mask_blocks`] a word at a time: used where SSE2 is missing, and by the tests.
#[cfg_attr(
    all(target_arch = "x86_64", target_feature = "sse2", not(test)),
    allow(dead_code)
)]
fn mask_blocks_by_words(src: &[u8], dst: &mut [MaybeUninit<u8>], k64: u64) -> u64 {
    // One accumulator per word of a block: with a single one, each block would wait for
    // the previous block's result.
    let mut high = [0u64; BLOCK / 8];
    for (s, d) in src.chunks_exact(BLOCK).zip(dst.chunks_exact_mut(BLOCK)) {
        let words = s.chunks_exact(8).zip(d.chunks_exact_mut(8));
        for (high, (s, d)) in high.iter_mut().zip(words) {
            *high |= mask_word(s, d, k64);
        }
    }
    high.iter().fold(0, |a, &h| a | h)
}

/// Writes the 8 bytes of `s` XORed with `k64` to `d`; returns them unmasked (for the
/// ASCII test).
#[inline(always)]
fn mask_word(s: &[u8], d: &mut [MaybeUninit<u8>], k64: u64) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(s);
    let w = u64::from_ne_bytes(word);
    for (d, m) in d.iter_mut().zip((w ^ k64).to_ne_bytes()) {
        d.write(m);
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(data: &mut [u8], key: [u8; 4]) {
        for (i, b) in data.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }

    #[test]
    fn extend_masked_matches_apply_mask_at_every_offset_and_reports_ascii() {
        let key = [0x12, 0x34, 0x56, 0x78];
        for len in 0..100 {
            for offset in 0..4 {
                let src: Vec<u8> = (0..len).map(|i| (i * 5 + 1) as u8 & 0x7F).collect();
                let mut whole = vec![0u8; offset];
                whole.extend_from_slice(&src);
                apply_mask(&mut whole, key);
                let mut out = Vec::new();
                assert!(extend_masked(&mut out, &src, key, offset));
                assert_eq!(out, whole[offset..], "len {len} offset {offset}");
                for at in 0..len {
                    let mut high = src.clone();
                    high[at] |= 0x80;
                    assert!(
                        !extend_masked(&mut Vec::new(), &high, key, offset),
                        "len {len} offset {offset}: a high bit at {at}"
                    );
                }
            }
        }
    }

    #[test]
    fn both_ways_of_masking_blocks_agree() {
        let k64 = u64::from_ne_bytes([0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0x56, 0x78]);
        for blocks in 0..5 {
            let len = blocks * BLOCK;
            for high_at in (0..len).map(Some).chain([None]) {
                let mut src: Vec<u8> = (0..len).map(|i| (i * 3 + 1) as u8 & 0x7F).collect();
                if let Some(at) = high_at {
                    src[at] |= 0x80;
                }
                let mut a = vec![MaybeUninit::new(0u8); len];
                let mut b = vec![MaybeUninit::new(0u8); len];
                let ha = mask_blocks(&src, &mut a, k64);
                let hb = mask_blocks_by_words(&src, &mut b, k64);
                assert_eq!(ha, hb, "{len} bytes, high bit at {high_at:?}");
                // SAFETY: both were initialised above (and overwritten by the calls).
                let (a, b) = unsafe {
                    (
                        a.iter().map(|x| x.assume_init()).collect::<Vec<u8>>(),
                        b.iter().map(|x| x.assume_init()).collect::<Vec<u8>>(),
                    )
                };
                assert_eq!(a, b, "{len} bytes");
            }
        }
    }

    #[test]
    fn mask_matches_the_bytewise_definition_for_every_length() {
        let key = [0x12, 0x34, 0x56, 0x78];
        for len in 0..70 {
            let original: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let mut fast = original.clone();
            let mut slow = original.clone();
            apply_mask(&mut fast, key);
            naive(&mut slow, key);
            assert_eq!(fast, slow, "length {len}");
            apply_mask(&mut fast, key);
            assert_eq!(fast, original, "round trip, length {len}");
        }
    }

    #[test]
    fn keys_vary() {
        let mut rng = MaskRng::new();
        let keys: Vec<[u8; 4]> = (0..64).map(|_| rng.next_key()).collect();
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        assert!(unique.len() > 60, "keys repeat too often: {keys:?}");
        let mut zero = MaskRng::with_seed(0);
        assert_ne!(zero.next_key(), zero.next_key());
    }
}

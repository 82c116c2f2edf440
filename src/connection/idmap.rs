//! `IdMap`: the session's maps keyed by subscription and receipt ids, with a cheap hash.
//!
//! Every received MESSAGE looks its subscription up by id. std's default SipHash costs
//! about 5% of the receive path for a short id, and its protection against chosen
//! collisions buys nothing here: the keys in the map are ids the client chose, and a
//! lookup with any other key (the broker's) only probes among those few entries. This is
//! the multiply-rotate hash rustc uses for its own tables (FxHash).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map from an id to `V`.
pub(crate) type IdMap<V> = HashMap<String, V, BuildHasherDefault<IdHasher>>;

/// FxHash: one rotate, xor and multiply per 8 bytes.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl IdHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            // The length tells "ab" from "ab\0".
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn finds_what_was_inserted_and_tells_near_keys_apart() {
        let mut m: IdMap<usize> = IdMap::default();
        let keys: Vec<String> = (0..2000)
            .map(|i| format!("sub-{i}"))
            .chain(["", "a", "a\0", "ab", "abcdefgh", "abcdefghi"].map(String::from))
            .collect();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(m.insert(k.clone(), i), None, "{k:?}");
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(m.get(k.as_str()), Some(&i));
        }
        assert_eq!(m.get("sub-2000"), None);
        let b = BuildHasherDefault::<IdHasher>::default();
        assert_ne!(b.hash_one("ab"), b.hash_one("ab\0"));
    }
}

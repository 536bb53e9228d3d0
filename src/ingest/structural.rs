//! Where CSV text's structural bytes are — commas, line feeds, quotes and
//! carriage returns — found 64 bytes at a time.
//!
//! Cutting a line at its commas in place took three searches a line (its
//! end, then any quote or carriage return in it, then each comma in turn,
//! one call a cell), each setting up its vector loop for a few dozen bytes:
//! about 100 of the 629 `perf` samples of reading Q's rolls in a 1 M
//! household run (issue #7). One pass that marks all four in a 64-bit
//! mask per block, and a walk over the set bits, does the work of the
//! three.

/// Positions of the bytes `,` `\n` `"` `\r` of a text, in order.
pub struct Structurals<'t> {
    bytes: &'t [u8],
    /// Where the block of `mask` starts.
    block: usize,
    /// The block's structural bytes not yet returned: bit `i` is byte
    /// `block + i`.
    mask: u64,
}

const BLOCK: usize = 64;

impl<'t> Structurals<'t> {
    pub fn new(bytes: &'t [u8]) -> Structurals<'t> {
        Structurals {
            bytes,
            block: 0,
            mask: block_mask(bytes),
        }
    }
}

impl Iterator for Structurals<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            self.block += BLOCK;
            if self.block >= self.bytes.len() {
                return None;
            }
            self.mask = block_mask(&self.bytes[self.block..]);
        }
        let at = self.block + self.mask.trailing_zeros() as usize;
        // The lowest set bit cleared.
        self.mask &= self.mask - 1;
        Some(at)
    }
}

fn is_structural(b: u8) -> bool {
    matches!(b, b',' | b'\n' | b'"' | b'\r')
}

/// The structural bytes among the first 64 of `bytes` (fewer at the end
/// of the text: the rest count as none).
#[inline]
fn block_mask(bytes: &[u8]) -> u64 {
    match bytes.first_chunk::<BLOCK>() {
        Some(block) => full_block_mask(block),
        None => {
            let mut block = [0u8; BLOCK];
            block[..bytes.len()].copy_from_slice(bytes);
            full_block_mask(&block)
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn full_block_mask(block: &[u8; BLOCK]) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of every x86-64 processor; the four unaligned
    // 16-byte loads read inside the 64-byte array.
    unsafe {
        let [comma, lf, quote, cr] = [b',', b'\n', b'"', b'\r'].map(|b| _mm_set1_epi8(b as i8));
        let mut mask = 0u64;
        for i in 0..BLOCK / 16 {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * i).cast::<__m128i>());
            let hits = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, lf)),
                _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, cr)),
            );
            mask |= u64::from(_mm_movemask_epi8(hits) as u16) << (16 * i);
        }
        mask
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn full_block_mask(block: &[u8; BLOCK]) -> u64 {
    scalar_block_mask(block)
}

#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn scalar_block_mask(block: &[u8; BLOCK]) -> u64 {
    block
        .iter()
        .enumerate()
        .fold(0, |mask, (i, &b)| mask | (u64::from(is_structural(b)) << i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_looking(bytes: &[u8]) -> Vec<usize> {
        (0..bytes.len())
            .filter(|&i| is_structural(bytes[i]))
            .collect()
    }

    #[test]
    fn every_structural_byte_in_order_across_blocks() {
        let text = "a,b\r\n\"c\",d\n".repeat(20) + "王,五";
        let bytes = text.as_bytes();
        assert!(bytes.len() > 3 * BLOCK);
        assert_eq!(
            Structurals::new(bytes).collect::<Vec<_>>(),
            by_looking(bytes)
        );
        assert_eq!(Structurals::new(b"").count(), 0);
        assert_eq!(Structurals::new(&[b'x'; 128]).count(), 0);
        assert_eq!(Structurals::new(b"\n").collect::<Vec<_>>(), vec![0]);
    }

    proptest::proptest! {
        #[test]
        fn the_positions_are_those_of_the_structural_bytes(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(vec![b',', b'\n', b'"', b'\r', 0, 0x80, 0xAC, 0x8C]),
                    proptest::num::u8::ANY,
                ],
                0..300,
            )
        ) {
            proptest::prop_assert_eq!(Structurals::new(&bytes).collect::<Vec<_>>(), by_looking(&bytes));
            if let Some(block) = bytes.first_chunk::<BLOCK>() {
                proptest::prop_assert_eq!(full_block_mask(block), scalar_block_mask(block));
            }
        }
    }
}

//! Byte buffers given back after use and handed out again, so that work
//! done block by block (the state files, the CSV reports, the workbook's
//! sheets) uses the same memory for every block.
//!
//! A buffer made for each block and freed after it was memory returned to
//! the system and faulted in again by the next: at 1 M households, a
//! run from saved state took about 760,000 page faults, most of them
//! memory freed and taken again like this (issue #7). The pool holds as
//! many buffers as were in use at once, and is freed with its owner.

use std::collections::TryReserveError;
use std::sync::{Mutex, PoisonError};

#[derive(Default)]
pub struct BufferPool(Mutex<Vec<Vec<u8>>>);

impl BufferPool {
    fn pop(&self) -> Vec<u8> {
        let mut spare = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        spare.pop().unwrap_or_default()
    }

    /// An empty buffer, with the room of one given back if there is one.
    pub fn take(&self) -> Vec<u8> {
        let mut buf = self.pop();
        buf.clear();
        buf
    }

    /// A buffer of `len` bytes holding whatever the buffer given back
    /// held: only the bytes past what it held are zeroed. For a buffer
    /// that is written over before it is read.
    pub fn take_sized(&self, len: usize) -> Result<Vec<u8>, TryReserveError> {
        let mut buf = self.pop();
        if buf.len() < len {
            buf.try_reserve(len - buf.len())?;
            buf.resize(len, 0);
        }
        buf.truncate(len);
        Ok(buf)
    }

    /// Give `buf` back for the next `take`.
    pub fn give(&self, buf: Vec<u8>) {
        let mut spare = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        spare.push(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_handed_out_again_with_its_room() {
        let pool = BufferPool::default();
        let mut a = pool.take();
        assert!(a.is_empty());
        a.extend_from_slice(&[7; 100]);
        let room = a.as_ptr();
        pool.give(a);
        let b = pool.take();
        assert!(b.is_empty(), "handed out empty");
        assert_eq!(b.as_ptr(), room, "the same memory");
        assert!(b.capacity() >= 100);
        pool.give(b);

        // Sized: as long as asked, longer or shorter than before.
        let c = pool.take_sized(40).unwrap();
        assert_eq!(c.len(), 40);
        pool.give(c);
        let d = pool.take_sized(300).unwrap();
        assert_eq!(d.len(), 300);
        assert!(d[40..].iter().all(|&b| b == 0), "new bytes are zeroed");
        // Two taken at once are two buffers.
        let e = pool.take();
        assert_ne!(e.as_ptr(), d.as_ptr());
    }
}

//! Rows parsed by parallel chunks, written straight into the one vector
//! that holds the roll.
//!
//! Each chunk gets its own stretch of the vector's capacity, as long as
//! the most records it can hold; when all are done, the stretches are
//! closed up in file order. Before this, every chunk grew a vector of its
//! own and the chunks were then copied into one: a roll was held twice
//! for a moment, and that moment was the run's peak memory (issue #7).
//! Capacity that no row uses is never touched, so it costs address
//! space, not resident memory.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// Where one chunk puts its rows.
pub struct Sink<'a, T> {
    slots: &'a mut [MaybeUninit<T>],
    len: usize,
    /// Rows past the chunk's bound. The bounds are upper bounds, so this
    /// stays empty; it is here so that a wrong bound costs speed, never
    /// a row.
    overflow: Vec<T>,
}

impl<T> Sink<'_, T> {
    pub fn push(&mut self, row: T) {
        match self.slots.get_mut(self.len) {
            Some(slot) => {
                slot.write(row);
                self.len += 1;
            }
            None => self.overflow.push(row),
        }
    }
}

/// Run `work` on every chunk in parallel, chunk `i` holding at most
/// `bounds[i]` rows, and return all rows in chunk order with each chunk's
/// own result.
pub fn fill_in_order<T, R>(
    bounds: &[usize],
    work: impl Fn(usize, &mut Sink<T>) -> R + Sync,
) -> (Vec<T>, Vec<R>)
where
    T: Send,
    R: Send,
{
    let mut rows = Vec::new();
    let results = append_in_order(&mut rows, bounds, work);
    (rows, results)
}

/// As [`fill_in_order`], the rows appended to `rows`: a file read a part
/// at a time (Parquet row groups) fills one vector, reserved once for the
/// whole file so that nothing is copied as it grows.
pub fn append_in_order<T, R>(
    rows: &mut Vec<T>,
    bounds: &[usize],
    work: impl Fn(usize, &mut Sink<T>) -> R + Sync,
) -> Vec<R>
where
    T: Send,
    R: Send,
{
    let total: usize = bounds.iter().sum();
    rows.reserve(total);
    let base = rows.len();
    let mut stretches = Vec::with_capacity(bounds.len());
    let mut rest = &mut rows.spare_capacity_mut()[..total];
    for &bound in bounds {
        let (stretch, after) = rest.split_at_mut(bound);
        stretches.push(stretch);
        rest = after;
    }
    // Each chunk's result, how many rows it wrote and its overflow. If a
    // chunk panics, the rows written so far are leaked, never read.
    let done: Vec<(R, usize, Vec<T>)> = stretches
        .into_par_iter()
        .enumerate()
        .map(|(i, slots)| {
            let mut sink = Sink {
                slots,
                len: 0,
                overflow: Vec::new(),
            };
            let result = work(i, &mut sink);
            (result, sink.len, sink.overflow)
        })
        .collect();

    // SAFETY (for the pointer arithmetic below): every offset used is
    // below `base + total`, within the capacity reserved above.
    let start = unsafe { rows.as_mut_ptr().add(base) };
    let mut results = Vec::with_capacity(done.len());
    if done.iter().all(|(_, _, overflow)| overflow.is_empty()) {
        // Close up the gaps in order: each chunk's rows move down to just
        // after the previous chunk's. Without rejects or blank lines the
        // rows are already in place and nothing moves.
        let mut written = 0;
        let mut stretch_start = 0;
        for ((result, len, _), &bound) in done.into_iter().zip(bounds) {
            if stretch_start != written {
                // SAFETY: the `len` rows at `stretch_start` were written by
                // this chunk's sink; `written <= stretch_start`, both
                // within capacity; `ptr::copy` allows the overlap. The rows
                // are moved, not duplicated: the source slots are treated
                // as uninitialized from here on.
                unsafe { std::ptr::copy(start.add(stretch_start), start.add(written), len) };
            }
            written += len;
            stretch_start += bound;
            results.push(result);
        }
        // SAFETY: the slots up to `base + written` now hold initialized rows.
        unsafe { rows.set_len(base + written) };
        return results;
    }

    // A bound was wrong: take the rows out in order, each chunk's rows then
    // its overflow, and append them.
    let mut ordered = Vec::with_capacity(total + done.iter().map(|d| d.2.len()).sum::<usize>());
    let mut stretch_start = 0;
    for ((result, len, overflow), &bound) in done.into_iter().zip(bounds) {
        for k in 0..len {
            // SAFETY: slot `stretch_start + k` was written by this chunk's
            // sink and is read exactly once; `rows` keeps its length, so it
            // never drops it.
            ordered.push(unsafe { start.add(stretch_start + k).read() });
        }
        ordered.extend(overflow);
        stretch_start += bound;
        results.push(result);
    }
    rows.append(&mut ordered);
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chunk `i` of these writes `wanted[i]` rows "i-k"; some write fewer
    /// than their bound (rejects), one more (a wrong bound).
    fn run(bounds: &[usize], wanted: &[usize]) -> (Vec<String>, Vec<usize>) {
        fill_in_order(bounds, |i, sink| {
            for k in 0..wanted[i] {
                sink.push(format!("{i}-{k}"));
            }
            i
        })
    }

    fn expected(wanted: &[usize]) -> Vec<String> {
        wanted
            .iter()
            .enumerate()
            .flat_map(|(i, &n)| (0..n).map(move |k| format!("{i}-{k}")))
            .collect()
    }

    #[test]
    fn rows_come_back_in_chunk_order_with_gaps_closed() {
        let bounds = [3, 0, 4, 2, 5];
        let wanted = [3, 0, 1, 2, 0];
        let (rows, results) = run(&bounds, &wanted);
        assert_eq!(rows, expected(&wanted));
        assert_eq!(results, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_bound_too_small_loses_no_row() {
        let bounds = [2, 1, 3];
        let wanted = [2, 4, 1];
        let (rows, results) = run(&bounds, &wanted);
        assert_eq!(rows, expected(&wanted));
        assert_eq!(results, vec![0, 1, 2]);
    }

    #[test]
    fn parts_appended_one_after_another_keep_file_order() {
        let mut rows = Vec::new();
        let first = append_in_order(&mut rows, &[2, 3], |i, sink| {
            sink.push(format!("a{i}"));
            i
        });
        let second = append_in_order(&mut rows, &[1, 1], |i, sink| {
            // The second chunk writes past its bound.
            for k in 0..=i {
                sink.push(format!("b{i}.{k}"));
            }
            i
        });
        assert_eq!(rows, ["a0", "a1", "b0.0", "b1.0", "b1.1"]);
        assert_eq!((first, second), (vec![0, 1], vec![0, 1]));
    }

    #[test]
    fn no_chunks_no_rows() {
        let (rows, results) = run(&[], &[]);
        assert!(rows.is_empty() && results.is_empty());
    }
}

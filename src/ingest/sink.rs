//! Rows parsed by parallel chunks, written straight into the one vector
//! that holds the roll, and each row's side value (a roll row's household
//! number) into a second vector beside it, at the same index.
//!
//! Each chunk gets its own stretch of the vectors' capacity, as long as
//! the most records it can hold; when all are done, the stretches are
//! closed up in file order. Before this, every chunk grew a vector of its
//! own and the chunks were then copied into one: a roll was held twice
//! for a moment, and that moment was the run's peak memory (issue #7).
//! Capacity that no row uses is never touched, so it costs address
//! space, not resident memory. Inputs without a side value use `()`,
//! which takes no memory.
//!
//! The saved state's blocks are decoded into place the same way
//! ([`crate::state_file::read`]), each block's exact row count its bound.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// Where one chunk puts its rows and their side values.
pub struct Sink<'a, T, S = ()> {
    slots: &'a mut [MaybeUninit<T>],
    sides: &'a mut [MaybeUninit<S>],
    len: usize,
    /// Rows past the chunk's bound. The bounds are upper bounds, so this
    /// stays empty; it is here so that a wrong bound costs speed, never
    /// a row.
    overflow: Vec<(T, S)>,
}

impl<T, S> Sink<'_, T, S> {
    pub fn push(&mut self, row: T, side: S) {
        match (self.slots.get_mut(self.len), self.sides.get_mut(self.len)) {
            (Some(slot), Some(side_slot)) => {
                slot.write(row);
                side_slot.write(side);
                self.len += 1;
            }
            _ => self.overflow.push((row, side)),
        }
    }

    /// The rows pushed so far.
    pub fn pushed(&self) -> usize {
        self.len + self.overflow.len()
    }
}

/// Rows and their side values, index for index.
pub type Filled<T, S> = (Vec<T>, Vec<S>);

/// Room for `rows` more rows and side values, reserved exactly; if the
/// system refuses it, the vectors grow as they are filled.
pub fn try_reserve(filled: &mut Filled<impl Sized, impl Sized>, rows: usize) {
    let _ = filled.0.try_reserve_exact(rows);
    let _ = filled.1.try_reserve_exact(rows);
}

/// What one chunk gave: its result, how many rows it wrote in its
/// stretch, and the rows past its bound.
type ChunkDone<R, T, S> = (R, usize, Vec<(T, S)>);

/// Run `work` on every chunk in parallel, chunk `i` holding at most
/// `bounds[i]` rows, and return all rows (and their side values) in chunk
/// order with each chunk's own result.
pub fn fill_in_order<T, S, R>(
    bounds: &[usize],
    work: impl Fn(usize, &mut Sink<T, S>) -> R + Sync,
) -> (Filled<T, S>, Vec<R>)
where
    T: Send,
    S: Send,
    R: Send,
{
    let mut filled = (Vec::new(), Vec::new());
    let results = append_in_order(&mut filled, bounds, work);
    (filled, results)
}

/// A vector's spare capacity cut into one stretch per bound.
fn stretches<'v, T>(v: &'v mut Vec<T>, bounds: &[usize]) -> Vec<&'v mut [MaybeUninit<T>]> {
    let total: usize = bounds.iter().sum();
    v.reserve(total);
    let mut rest = &mut v.spare_capacity_mut()[..total];
    let mut out = Vec::with_capacity(bounds.len());
    for &bound in bounds {
        let (stretch, after) = std::mem::take(&mut rest).split_at_mut(bound);
        out.push(stretch);
        rest = after;
    }
    out
}

/// Close up the stretches of `v` above its length in chunk order: chunk
/// `i` wrote `lens[i]` values at the start of its stretch of `bounds[i]`.
///
/// # Safety
/// The stretches are those [`stretches`] cut from `v` for `bounds`, and
/// chunk `i` initialized exactly the first `lens[i]` slots of its own.
unsafe fn close_up<T>(v: &mut Vec<T>, bounds: &[usize], lens: &[usize]) {
    let base = v.len();
    // SAFETY (for the pointer arithmetic below): every offset used is
    // below `base + sum(bounds)`, within the capacity reserved.
    let start = unsafe { v.as_mut_ptr().add(base) };
    let mut written = 0;
    let mut stretch_start = 0;
    for (&len, &bound) in lens.iter().zip(bounds) {
        if stretch_start != written {
            // SAFETY: the `len` values at `stretch_start` were written by
            // this chunk's sink; `written <= stretch_start`, both within
            // capacity; `ptr::copy` allows the overlap. The values are
            // moved, not duplicated: the source slots are treated as
            // uninitialized from here on.
            unsafe { std::ptr::copy(start.add(stretch_start), start.add(written), len) };
        }
        written += len;
        stretch_start += bound;
    }
    // SAFETY: the slots up to `base + written` now hold initialized values.
    unsafe { v.set_len(base + written) };
}

/// As [`fill_in_order`], the rows appended to `filled`: a file read a
/// part at a time (Parquet row groups, CSV windows) fills one pair of
/// vectors, reserved once for the whole file so that nothing is copied
/// as it grows.
pub fn append_in_order<T, S, R>(
    filled: &mut Filled<T, S>,
    bounds: &[usize],
    work: impl Fn(usize, &mut Sink<T, S>) -> R + Sync,
) -> Vec<R>
where
    T: Send,
    S: Send,
    R: Send,
{
    let (rows, sides) = filled;
    debug_assert_eq!(rows.len(), sides.len());
    // Each chunk's result, how many rows it wrote and its overflow. If a
    // chunk panics, the rows written so far are leaked, never read.
    let done: Vec<ChunkDone<R, T, S>> = stretches(rows, bounds)
        .into_par_iter()
        .zip(stretches(sides, bounds))
        .enumerate()
        .map(|(i, (slots, side_slots))| {
            let mut sink = Sink {
                slots,
                sides: side_slots,
                len: 0,
                overflow: Vec::new(),
            };
            let result = work(i, &mut sink);
            (result, sink.len, sink.overflow)
        })
        .collect();

    let lens: Vec<usize> = done.iter().map(|d| d.1).collect();
    if done.iter().all(|(_, _, overflow)| overflow.is_empty()) {
        // Close up the gaps in order: each chunk's rows move down to just
        // after the previous chunk's. Without rejects or blank lines the
        // rows are already in place and nothing moves.
        // SAFETY: both vectors' stretches were cut for `bounds` above and
        // each chunk's sink wrote the first `lens[i]` slots of its own.
        unsafe {
            close_up(rows, bounds, &lens);
            close_up(sides, bounds, &lens);
        }
        return done.into_iter().map(|d| d.0).collect();
    }

    // A bound was wrong: take the rows out in order, each chunk's rows then
    // its overflow, and append them.
    let extra: usize = done.iter().map(|d| d.2.len()).sum();
    let mut ordered_rows = Vec::with_capacity(lens.iter().sum::<usize>() + extra);
    let mut ordered_sides = Vec::with_capacity(ordered_rows.capacity());
    let (row_start, side_start) = (rows.len(), sides.len());
    let mut stretch_start = 0;
    let mut results = Vec::with_capacity(done.len());
    for ((result, len, overflow), &bound) in done.into_iter().zip(bounds) {
        for k in 0..len {
            // SAFETY: slot `stretch_start + k` above each vector's length
            // was written by this chunk's sink and is read exactly once;
            // the vectors keep their lengths, so they never drop it.
            unsafe {
                ordered_rows.push(rows.as_ptr().add(row_start + stretch_start + k).read());
                ordered_sides.push(sides.as_ptr().add(side_start + stretch_start + k).read());
            }
        }
        for (row, side) in overflow {
            ordered_rows.push(row);
            ordered_sides.push(side);
        }
        stretch_start += bound;
        results.push(result);
    }
    rows.append(&mut ordered_rows);
    sides.append(&mut ordered_sides);
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chunk `i` of these writes `wanted[i]` rows "i-k"; some write fewer
    /// than their bound (rejects), one more (a wrong bound).
    /// Each row's side value is its own text's length, so a row and its
    /// side must stay at one index.
    fn run(bounds: &[usize], wanted: &[usize]) -> (Vec<String>, Vec<usize>) {
        let ((rows, sides), results) = fill_in_order(bounds, |i, sink| {
            for k in 0..wanted[i] {
                let row = format!("{i}-{k}{}", "+".repeat(k));
                let side = row.len();
                sink.push(row, side);
            }
            i
        });
        assert_eq!(rows.iter().map(String::len).collect::<Vec<_>>(), sides);
        (rows, results)
    }

    fn expected(wanted: &[usize]) -> Vec<String> {
        wanted
            .iter()
            .enumerate()
            .flat_map(|(i, &n)| (0..n).map(move |k| format!("{i}-{k}{}", "+".repeat(k))))
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
        let mut filled = (Vec::new(), Vec::new());
        let first = append_in_order(&mut filled, &[2, 3], |i, sink| {
            sink.push(format!("a{i}"), i);
            i
        });
        let second = append_in_order(&mut filled, &[1, 1], |i, sink| {
            // The second chunk writes past its bound.
            for k in 0..=i {
                sink.push(format!("b{i}.{k}"), 10 * i + k);
            }
            i
        });
        assert_eq!(filled.0, ["a0", "a1", "b0.0", "b1.0", "b1.1"]);
        assert_eq!(filled.1, [0, 1, 0, 10, 11]);
        assert_eq!((first, second), (vec![0, 1], vec![0, 1]));
    }

    #[test]
    fn rows_without_side_values_close_up_alike() {
        let ((rows, sides), _) = fill_in_order(&[2, 3, 2], |i, sink| {
            for k in 0..i {
                sink.push(10 * i + k, ());
            }
        });
        assert_eq!(rows, [10, 20, 21]);
        assert_eq!(sides.len(), 3);
    }

    #[test]
    fn no_chunks_no_rows() {
        let (rows, results) = run(&[], &[]);
        assert!(rows.is_empty() && results.is_empty());
    }
}

//! State for the next quarter: after a successful run, the normalized
//! persons of Q are saved under `state_dir`, so that next quarter's run
//! needs only next quarter's files.
//!
//! Layout (format version 3), all files 0600:
//! - `Q-dibao.rmstate`, `Q-poor.rmstate`: one row per person row of each
//!   roll, in file order, with the values the flags read, in rollmatch's
//!   own block format ([`crate::state_file`], columns in [`format3`]);
//! - `Q.state.json`: `{"format_version": 3, "quarter": "Q", "files": …,
//!   "rows": …, "sha256": …}`, written last, so a run killed while saving
//!   leaves no state behind that looks complete. A file that does not
//!   decode, or whose SHA-256 is not the marker's, is refused and none of
//!   its rows is used.
//!
//! ID validity is not stored: it is recomputed from the number as given
//! against Q's own end, exactly as the run for Q did.

mod format3;
mod parquet;

use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::calendar::Quarter;
use crate::dynamics::Previous;
use crate::error::{Error, Result};
use crate::files::{Durable, create_private_dir, sync_dir, write_private};
use crate::model::*;
use crate::state_file;

pub const FORMAT_VERSION: u64 = 3;

/// Versions this rollmatch reads. Versions 1 and 2 were Parquet (see
/// [`parquet`]); version 3 is rollmatch's own format, saved and read on
/// every core (issue #7). Older states are still read.
const READS_VERSIONS: [u64; 3] = [1, 2, 3];

fn marker(dir: &Path, q: Quarter) -> PathBuf {
    dir.join(format!("{q}.state.json"))
}

/// `path` with `.tmp` added: where a state file is written before
/// [`PreparedState::commit`] renames it into place.
fn tmp_of(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    PathBuf::from(tmp)
}

/// Q's state written but not yet in place: made while the reports are
/// written (it needs only the rolls), committed after they are published.
/// Dropped uncommitted, it removes its files.
pub struct PreparedState {
    dir: PathBuf,
    quarter: Quarter,
    files: [String; 2],
    rows: [usize; 2],
    sha256: [String; 2],
    committed: bool,
}

impl PreparedState {
    /// Rename the files into place and write the marker that makes them
    /// Q's state. Called only after the report set is published.
    pub fn commit(mut self) -> Result<()> {
        let mark = marker(&self.dir, self.quarter);
        let _ = std::fs::remove_file(&mark);
        for f in &self.files {
            let path = self.dir.join(f);
            std::fs::rename(tmp_of(&path), &path).map_err(|e| Error::output(&path, e))?;
        }
        self.committed = true;
        crate::faults::point("state_files");
        let meta = json!({
            "format_version": FORMAT_VERSION,
            "quarter": self.quarter.to_string(),
            "files": { "dibao": self.files[0], "poor": self.files[1] },
            "rows": { "dibao": self.rows[0], "poor": self.rows[1] },
            "sha256": { "dibao": self.sha256[0], "poor": self.sha256[1] },
        });
        let text =
            serde_json::to_string_pretty(&meta).map_err(|e| Error::Internal(e.to_string()))?;
        write_private(&mark, text.as_bytes())?;
        sync_dir(&self.dir)
    }
}

impl Drop for PreparedState {
    fn drop(&mut self) {
        if !self.committed {
            for f in &self.files {
                let _ = std::fs::remove_file(tmp_of(&self.dir.join(f)));
            }
        }
    }
}

/// Write one roll's state file durably to `path`'s `.tmp`; its SHA-256.
fn write_file<R: Sync>(
    path: &Path,
    schema: &str,
    roll: &R,
    rows: usize,
    encode: fn(&R, std::ops::Range<usize>, &mut state_file::BlockWriter),
) -> Result<String> {
    let tmp = tmp_of(path);
    let mut out = Durable::create(&tmp)?;
    state_file::write(&mut out.writer, schema, rows, |range, w| {
        encode(roll, range, w)
    })
    .map_err(|e| Error::output(path, e))?;
    out.finish()
}

/// Write Q's rolls beside their final names; nothing is replaced until
/// [`PreparedState::commit`].
pub fn prepare(
    dir: &Path,
    q: Quarter,
    dibao: &DibaoRoll,
    poor: &PoorRoll,
) -> Result<PreparedState> {
    create_private_dir(dir)?;

    // Made first, so that a failure on the way removes what was written.
    let mut prepared = PreparedState {
        dir: dir.to_path_buf(),
        quarter: q,
        files: [format!("{q}-dibao.rmstate"), format!("{q}-poor.rmstate")],
        rows: [dibao.rows.len(), poor.rows.len()],
        sha256: Default::default(),
        committed: false,
    };
    prepared.sha256[0] = write_file(
        &dir.join(&prepared.files[0]),
        format3::DIBAO_SCHEMA,
        dibao,
        dibao.rows.len(),
        format3::encode_dibao,
    )?;
    prepared.sha256[1] = write_file(
        &dir.join(&prepared.files[1]),
        format3::POOR_SCHEMA,
        poor,
        poor.rows.len(),
        format3::encode_poor,
    )?;
    Ok(prepared)
}

/// A reader that hashes what passes through it and keeps the first
/// error of the file itself (the decoder sees every fault as damage).
struct HashingReader<R> {
    inner: R,
    hash: Sha256,
    failed: Option<std::io::Error>,
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.hash.update(&buf[..n]);
                Ok(n)
            }
            Err(e) => {
                let kind = e.kind();
                if kind != std::io::ErrorKind::Interrupted && self.failed.is_none() {
                    self.failed = Some(e);
                }
                Err(kind.into())
            }
        }
    }
}

/// The rows of one format-3 state file. It is decoded as it is read, and
/// its rows are returned only if every byte decoded and the whole file's
/// SHA-256 is the marker's: a damaged or changed file is refused, never
/// half used.
fn read_file<T: Send, S: Send>(
    path: &Path,
    sha256: Option<&str>,
    rows_hint: usize,
    schema: &str,
    decode: impl Fn(
        &mut state_file::BlockReader,
        &mut crate::ingest::sink::Sink<T, S>,
    ) -> std::result::Result<(), state_file::Damaged>
    + Sync,
) -> Result<(Vec<T>, Vec<S>)> {
    let cannot_read = |e: std::io::Error| {
        Error::Data(format!(
            "{}: state file cannot be read ({e})",
            path.display()
        ))
    };
    let file = std::fs::File::open(path).map_err(cannot_read)?;
    let mut input = HashingReader {
        inner: std::io::BufReader::with_capacity(1 << 20, file),
        hash: Sha256::new(),
        failed: None,
    };
    let rows = state_file::read(&mut input, rows_hint, schema, decode);
    if let Some(e) = input.failed {
        return Err(cannot_read(e));
    }
    match rows {
        Ok(rows) if sha256 == Some(hex::encode(input.hash.finalize()).as_str()) => Ok(rows),
        _ => Err(Error::Data(format!(
            "{}: state file is damaged or changed since it was saved (it does not decode, or does not match the SHA-256 in its marker). Move the state directory aside and give the previous quarter's files instead",
            path.display()
        ))),
    }
}

/// The saved rolls of quarter `q`, if a run for `q` saved them, as Q-1:
/// each row kept as the movement checks read it.
pub fn load(dir: &Path, q: Quarter) -> Result<Option<Previous>> {
    Ok(load_as(dir, q)?.map(|(dibao, poor)| Previous {
        dibao,
        poor,
        source: "state",
    }))
}

/// The saved rolls of quarter `q`, each row kept as `D` or `P` (whole,
/// or what Q-1 needs): each block of rows is decoded whole and kept so
/// before the next, so the whole rows are never all held.
pub fn load_as<D, P>(dir: &Path, q: Quarter) -> Result<Option<(Roll<D>, Roll<P>)>>
where
    D: Kept<DibaoRow> + Send,
    P: Kept<PoorRow> + Send,
{
    let mark = marker(dir, q);
    let Ok(text) = std::fs::read_to_string(&mark) else {
        return Ok(None);
    };
    let meta: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
        Error::Data(format!(
            "{}: state marker is not valid JSON",
            mark.display()
        ))
    })?;
    let version = meta["format_version"].as_u64().unwrap_or(0);
    if !READS_VERSIONS.contains(&version) {
        return Err(Error::Data(format!(
            "{}: state was written in format version {version}; this rollmatch reads version {FORMAT_VERSION}. Move the state directory aside and give the previous quarter's files instead",
            mark.display()
        )));
    }
    let file = |k: &str| dir.join(meta["files"][k].as_str().unwrap_or(""));
    let (dibao_rows, poor_rows) = if version == 3 {
        let sha = |k: &str| meta["sha256"][k].as_str();
        // The marker's count sizes each roll's vector once, capped at the
        // most rows a roll may hold; a count that no memory holds is
        // refused as damage when it is reserved.
        let rows = |k: &str| {
            meta["rows"][k]
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0)
                .min(MAX_ROWS_PER_ROLL)
        };
        // Each is parallel inside, a window of blocks at a time, so one
        // after the other leaves no core idle.
        let dibao = read_file(
            &file("dibao"),
            sha("dibao"),
            rows("dibao"),
            format3::DIBAO_SCHEMA,
            |r, sink| format3::decode_dibao::<D>(r, q, sink),
        )?;
        let poor = read_file(
            &file("poor"),
            sha("poor"),
            rows("poor"),
            format3::POOR_SCHEMA,
            |r, sink| format3::decode_poor::<P>(r, q, sink),
        )?;
        (dibao, poor)
    } else {
        parquet::load(&file("dibao"), &file("poor"), q)?
    };
    let (dibao, poor) = rayon::join(
        || Roll::new(dibao_rows.0, dibao_rows.1),
        || Roll::new(poor_rows.0, poor_rows.1),
    );
    Ok(Some((dibao, poor)))
}

/// Decoded rows, each kept as `R` (the Parquet formats 1 and 2).
fn kept_as<T, R: Kept<T>>(rows: Vec<(T, ShortText)>) -> Vec<(R, R::Side)> {
    rows.into_iter()
        .map(|(row, household_id)| R::keep(row, household_id))
        .collect()
}

#[cfg(test)]
mod tests {
    use polars::prelude::*;

    use super::*;

    fn tmp_files(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .count()
    }

    #[test]
    fn prepared_state_is_q_state_only_once_committed() {
        let dir = tempfile::tempdir().unwrap();
        let q: Quarter = "2018Q3".parse().unwrap();
        let (dibao, poor) = (DibaoRoll::default(), PoorRoll::default());

        // A run that fails after preparing leaves no state and no files.
        let prepared = prepare(dir.path(), q, &dibao, &poor).unwrap();
        assert_eq!(tmp_files(dir.path()), 2);
        assert!(load(dir.path(), q).unwrap().is_none());
        drop(prepared);
        assert_eq!(tmp_files(dir.path()), 0);
        assert!(load(dir.path(), q).unwrap().is_none());

        prepare(dir.path(), q, &dibao, &poor)
            .unwrap()
            .commit()
            .unwrap();
        assert_eq!(tmp_files(dir.path()), 0);
        let saved = load(dir.path(), q).unwrap().expect("committed state loads");
        assert_eq!((saved.dibao.rows.len(), saved.poor.rows.len()), (0, 0));
    }

    /// The fixtures' Q2 rolls, some 低保 rows given an enrolment date (the
    /// fixture has none) so that both a date and none are saved.
    fn fixture_rolls(q: Quarter) -> (DibaoRoll, PoorRoll) {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/luoyang/2018Q2");
        let v = crate::ingest::Validation {
            quarter_end: q.last_day(),
            hash_files: false,
        };
        let mut dibao =
            crate::ingest::read_dibao::<DibaoRow>(&fixtures.join("dibao.csv"), v).unwrap();
        for (i, r) in dibao.rows.iter_mut().enumerate().step_by(3) {
            r.enrolled_on = OptionalDate::new(crate::calendar::Date::new(
                2010 + (i % 8) as i32,
                1 + (i % 12) as u32,
                28,
            ));
        }
        let dibao = DibaoRoll::new(dibao.rows, dibao.sides);
        let poor = crate::ingest::read_poor(&fixtures.join("poor.csv"), v).unwrap();
        let poor = PoorRoll::new(poor.rows, poor.sides);
        assert!(dibao.rows.iter().any(|r| r.enrolled_on.get().is_some()));
        assert!(dibao.rows.iter().any(|r| r.enrolled_on.get().is_none()));
        (dibao, poor)
    }

    /// The saved rolls of `q` in `dir`, every column.
    fn whole(dir: &Path, q: Quarter) -> (DibaoRoll, PoorRoll) {
        load_as(dir, q).unwrap().expect("a saved state")
    }

    /// The rows, each with its household number.
    fn shown(d: &DibaoRoll, p: &PoorRoll) -> String {
        let dibao: Vec<_> = (0..d.rows.len())
            .map(|r| (&d.rows[r], d.household_id(r)))
            .collect();
        let poor: Vec<_> = (0..p.rows.len())
            .map(|r| (&p.rows[r], p.household_id(r)))
            .collect();
        format!("{dibao:?}{poor:?}")
    }

    /// The fixtures' rolls of `q`, saved and committed as `q`'s state in a
    /// new directory.
    fn saved_fixture_state(q: Quarter) -> (tempfile::TempDir, DibaoRoll, PoorRoll) {
        let (dibao, poor) = fixture_rolls(q);
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path(), q, &dibao, &poor)
            .unwrap()
            .commit()
            .unwrap();
        (dir, dibao, poor)
    }

    #[test]
    fn state_round_trips_row_for_row() {
        let q: Quarter = "2018Q2".parse().unwrap();
        let (dir, dibao, poor) = saved_fixture_state(q);
        let saved = whole(dir.path(), q);
        assert_eq!(shown(&saved.0, &saved.1), shown(&dibao, &poor));
        // As Q-1, the rows keep what the movement checks read of them.
        let previous = load(dir.path(), q).unwrap().unwrap();
        assert_eq!(previous.dibao.rows.len(), dibao.rows.len());
        let person = |r: &dyn RollRow| (format!("{:?}", r.id()), *r.region(), r.is_head());
        for (r, (kept, row)) in previous.dibao.rows.iter().zip(&dibao.rows).enumerate() {
            assert_eq!(person(kept), person(row));
            assert_eq!(kept.monthly_benefit, row.monthly_benefit);
            assert_eq!(previous.dibao.household_id(r), dibao.household_id(r));
        }
        assert_eq!(previous.poor.rows.len(), poor.rows.len());
        for (r, (kept, row)) in previous.poor.rows.iter().zip(&poor.rows).enumerate() {
            assert_eq!(person(kept), person(row));
            assert_eq!(
                (kept.status, kept.annual_income),
                (row.status, row.annual_income)
            );
            assert_eq!(previous.poor.household_id(r), poor.household_id(r));
        }
        heads_are_named(&previous, &dibao, &poor);
        assert!(poor.rows.iter().any(|r| r.status != poor.rows[0].status));
    }

    #[test]
    fn a_state_file_changed_after_saving_is_refused_by_its_hash() {
        let q: Quarter = "2018Q2".parse().unwrap();
        let (dir, _, _) = saved_fixture_state(q);
        let path = dir.path().join("2018Q2-poor.rmstate");
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 9;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = load(dir.path(), q).err().expect("refused").to_string();
        assert!(err.contains("2018Q2-poor.rmstate"), "{err}");
        assert!(err.contains("SHA-256"), "{err}");
    }

    /// Rewrite a saved Parquet file with `f` applied to its frame.
    fn rewrite(path: &Path, f: impl Fn(&mut DataFrame)) {
        let mut df = ParquetReader::new(std::fs::File::open(path).unwrap())
            .finish()
            .unwrap();
        f(&mut df);
        ParquetWriter::new(std::fs::File::create(path).unwrap())
            .finish(&mut df)
            .unwrap();
    }

    /// Column `name` of `df` replaced by the text `f` makes of each value.
    fn as_text(df: &mut DataFrame, name: &str, f: impl Fn(i32) -> String) {
        let text: Vec<Option<String>> = df
            .column(name)
            .unwrap()
            .i32()
            .unwrap()
            .iter()
            .map(|v| v.map(&f))
            .collect();
        df.replace(name, Column::new(name.into(), text)).unwrap();
    }

    /// As Q-1 the names are kept for the heads only, by household: each
    /// the name on its household's value row of the whole roll.
    fn heads_are_named(previous: &Previous, dibao: &DibaoRoll, poor: &PoorRoll) {
        fn check<R>(kept: &Roll<R>, name_of: impl Fn(usize) -> String) {
            assert_eq!(kept.head_names.len(), kept.households.len());
            for (h, hh) in kept.households.iter().enumerate() {
                let row = kept.households.value_row(hh);
                assert_eq!(kept.head_names[h].to_string(), name_of(row));
            }
        }
        check(&previous.dibao, |r| dibao.rows[r].member.name.to_string());
        check(&previous.poor, |r| poor.rows[r].member.name.to_string());
        assert!(!previous.poor.head_names.is_empty());
        assert!(dibao.head_names.is_empty() && poor.head_names.is_empty());
    }

    #[test]
    fn states_of_formats_1_and_2_are_still_read() {
        let q: Quarter = "2018Q2".parse().unwrap();
        let (dibao, poor) = fixture_rolls(q);
        let read = shown(&dibao, &poor);
        let dir = tempfile::tempdir().unwrap();
        parquet::writer::save_format2(dir.path(), q, &dibao, &poor);
        let saved = whole(dir.path(), q);
        assert_eq!(shown(&saved.0, &saved.1), read);
        heads_are_named(&load(dir.path(), q).unwrap().unwrap(), &dibao, &poor);

        // The same state as format 1 wrote it: dates and enumerations as
        // text.
        let date = |d: i32| crate::calendar::Date::from_days_since_epoch(i64::from(d)).to_string();
        rewrite(&dir.path().join("2018Q2-dibao.parquet"), |df| {
            as_text(df, "enrolled_on", date)
        });
        fn name<T: Copy>(table: &[(T, &'static str, &'static str)]) -> impl Fn(i32) -> String {
            |i| table[i as usize].1.to_owned()
        }
        rewrite(&dir.path().join("2018Q2-poor.parquet"), |df| {
            as_text(df, "household_type", name(&HouseholdType::ALL));
            as_text(df, "status", name(&Status::ALL));
            as_text(df, "labor", name(&Labor::ALL));
            as_text(df, "health", name(&Health::ALL));
        });
        let mark = marker(dir.path(), q);
        let text = std::fs::read_to_string(&mark)
            .unwrap()
            .replace("\"format_version\": 2", "\"format_version\": 1");
        std::fs::write(&mark, text).unwrap();
        let saved = whole(dir.path(), q);
        assert_eq!(shown(&saved.0, &saved.1), read);
        heads_are_named(&load(dir.path(), q).unwrap().unwrap(), &dibao, &poor);
    }
}

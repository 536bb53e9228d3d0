//! rollmatch: the quarterly reconciliation of the rural 低保 roll with the
//! 建档立卡 registered-poor roll. `main.rs` only dispatches; the stages
//! meet in [`pipeline`].

pub mod bloom;
pub mod bucketed;
pub mod buffer_pool;
pub mod calendar;
pub mod catalog;
pub mod check;
pub mod checks;
pub mod cli;
pub mod columns;
pub mod county_ranks;
pub mod detail_text;
pub mod divisions;
pub mod dynamics;
pub mod error;
pub mod faults;
pub mod files;
pub mod flag_order;
pub mod flags;
pub mod history;
pub mod identity;
pub mod ingest;
pub mod job;
pub mod lock;
pub mod logging;
pub mod matching;
pub mod memory;
pub mod model;
pub mod money;
pub mod parquet_batches;
pub mod person_name;
pub mod pipeline;
pub mod progress;
pub mod report;
pub mod rowlists;
pub mod scoring;
pub mod sharded;
pub mod short_text;
pub mod state_file;
pub mod synth;
pub mod vocab;

//! Integration tests: one binary, one module per area (as in ripgrep).

mod util;

mod check_edge;
mod flag_cases;
mod identity_props;
mod operations;
mod reports;
mod run_fixtures;
mod truth;

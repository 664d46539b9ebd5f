//! The integration tests, one module per area, in one binary: the library and
//! the harness in `support` are compiled and linked once rather than once per
//! area, and the whole suite shares one process. Tests run in parallel; the
//! few that keep a core busy for seconds, and the two that such neighbours can
//! make fail, coordinate through `support::heavy` and
//! `support::timing_sensitive`.

mod support;

mod answers;
mod cli;
mod client;
mod config_check;
mod credentials;
mod dashboard;
mod docs;
mod exporter;
mod flood;
mod hostile_config;
mod logs;
mod openmetrics;
mod ops_kit;
mod rate_limit;
mod scale;
mod simulator;
mod soak;
mod structure;
mod web;

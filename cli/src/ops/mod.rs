//! Operating a deployed stack: dead letters, projections' rebuilds, republishing stored
//! events, traces, replays of sample events, the figures and the dashboard.

pub mod archive;
pub mod dashboard;
pub mod dlq;
pub mod figures;
pub mod rebuild;
pub mod replay;
pub mod republish;
pub mod time_backfill;
pub mod trace;

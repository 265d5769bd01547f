//! The `orderflow` command-line tool as a library: `main.rs` only parses arguments and
//! dispatches here, and the end-to-end tests reuse [`target`] and [`stack`].
#![forbid(unsafe_code)]

pub mod api_key;
pub mod archive;
pub mod bench;
pub mod build;
pub mod capacity;
pub mod catalog;
pub mod commands;
pub mod dashboard;
pub mod deploy;
pub mod deployer_policy;
pub mod destroy;
pub mod dlq;
pub mod emulator;
pub mod error;
pub mod figures;
pub mod graph;
pub mod iam_lint;
pub mod lambda_env;
pub mod least_privilege;
pub mod local_http;
pub mod project;
pub mod rebuild;
pub mod replay;
pub mod republish;
pub mod scaffold;
pub mod stack;
pub mod target;
pub mod test_lanes;
pub mod time_backfill;
pub mod trace;
pub mod webhook_receiver;

pub use error::{CliError, Result};

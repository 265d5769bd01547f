//! The `orderflow` command-line tool as a library: `main.rs` only parses arguments and
//! dispatches here, and the end-to-end tests reuse [`stacks::target`] and [`stacks::stack`].
//!
//! [`commands`] parses and prints; the rest is grouped by concern: [`local`] (this
//! machine's emulator and servers), [`stacks`] (targets, builds, deploys, permissions),
//! [`ops`] (operating a deployed stack), [`generate`] (docs and code written from the
//! template), [`bench`] (the benchmarks).
#![forbid(unsafe_code)]

pub mod bench;
pub mod commands;
pub mod context;
pub mod error;
pub mod generate;
pub mod local;
pub mod ops;
pub mod project;
pub mod stacks;
pub mod test_lanes;

pub use error::{CliError, Result};

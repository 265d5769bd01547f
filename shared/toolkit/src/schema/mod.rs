//! A schema registry: JSON Schemas generated from Rust types, committed per version under
//! `<dir>/<name>/v<N>.json`, and checked for compatibility between versions.

pub mod compat;
pub mod contract;
pub mod registry;

pub use compat::{Mode, Rule, Violation};
pub use contract::{Contract, ContractKind};

//! The schema registry: JSON Schemas generated from the Rust types, committed per
//! version under `events/schemas/<name>/v<N>.json`, checked for compatibility, and used
//! to validate events and commands at every edge.

pub mod compat;
pub mod contracts;
pub mod embedded;
pub mod registry;

pub use compat::{Mode, Rule, Violation};
pub use contracts::{Contract, ContractKind, contracts};

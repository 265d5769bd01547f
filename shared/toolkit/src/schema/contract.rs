//! A contract: a named, versioned JSON Schema of an event payload or a command.

use serde_json::Value;

/// What a contract describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractKind {
    /// An event in the store and on the bus: its payload.
    Event,
    /// A request body of the HTTP API.
    Command,
}

/// A named, versioned JSON Schema: the version this build writes, and how to generate its
/// schema from the Rust type.
#[derive(Debug, Clone, Copy)]
pub struct Contract {
    /// The type's name, e.g. `OrderPlaced`: its directory in the registry and its schema's title.
    pub name: &'static str,
    /// An event payload or a command.
    pub kind: ContractKind,
    /// The version this build writes.
    pub version: u32,
    generate: fn() -> Value,
}

impl Contract {
    /// A contract whose schema `generate` produces (for example from a `schemars` type).
    pub const fn new(name: &'static str, kind: ContractKind, version: u32, generate: fn() -> Value) -> Self {
        Self { name, kind, version, generate }
    }

    /// The JSON Schema (draft-07) of the current version, titled with the contract name.
    pub fn schema(&self) -> Value {
        let mut schema = (self.generate)();
        if let Some(object) = schema.as_object_mut() {
            object.insert("title".into(), Value::String(self.name.to_string()));
        }
        schema
    }
}

//! Every contract of the system, at the version the code writes today, with its JSON
//! Schema generated from the Rust type: the types are the source of truth.

use crate::domain::order::PlaceOrderRequest;
use crate::domain::{OrderEvent, OrderPlaced, OrderRejected, OrderValidated};
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractKind {
    /// An event in the store and on the bus: its payload.
    Event,
    /// A request body of the HTTP API.
    Command,
}

#[derive(Debug, Clone, Copy)]
pub struct Contract {
    pub name: &'static str,
    pub kind: ContractKind,
    /// The version this build writes.
    pub version: u32,
    generate: fn() -> Value,
}

impl Contract {
    /// The JSON Schema (draft-07) of the current version, titled with the contract name.
    pub fn schema(&self) -> Value {
        let mut schema = (self.generate)();
        if let Some(object) = schema.as_object_mut() {
            object.insert("title".into(), Value::String(self.name.to_string()));
        }
        schema
    }
}

fn schema_of<T: JsonSchema>() -> Value {
    let schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<T>();
    schema.to_value()
}

pub fn contracts() -> Vec<Contract> {
    let event = |name, generate| Contract {
        name,
        kind: ContractKind::Event,
        version: OrderEvent::current_version(name).unwrap_or(1),
        generate,
    };
    vec![
        event("OrderPlaced", schema_of::<OrderPlaced>),
        event("OrderValidated", schema_of::<OrderValidated>),
        event("OrderRejected", schema_of::<OrderRejected>),
        Contract {
            name: "PlaceOrder",
            kind: ContractKind::Command,
            version: 1,
            generate: schema_of::<PlaceOrderRequest>,
        },
    ]
}

pub fn contract(name: &str) -> Option<Contract> {
    contracts().into_iter().find(|c| c.name == name)
}

//! Every contract of the system, at the version the code writes today, with its JSON
//! Schema generated from the Rust type: the types are the source of truth.

use crate::domain::inventory::{ShelfSnapshot, StockAdded, StockAllocated, StockCommitted, StockDeallocated};
use crate::domain::order::PlaceOrderRequest;
use crate::domain::saga::{
    FraudCleared, FraudSuspected, OrderTimedOut, OutOfStock, PaymentAuthorized, PaymentCallback, PaymentDeclined,
    PaymentVoided, ShipmentScheduled, StockReleased, StockReserved,
};
use crate::domain::{EventCodec, InventoryEvent, OrderEvent, OrderPlaced, OrderRejected, OrderValidated};
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
    let schema = SchemaSettings::draft07().into_generator().into_root_schema_for::<T>();
    schema.to_value()
}

/// An event contract of the codec `E`, at the version `E` writes.
fn event<E: EventCodec, T: JsonSchema>(name: &'static str) -> Contract {
    Contract {
        name,
        kind: ContractKind::Event,
        version: E::current_version(name).unwrap_or(1),
        generate: schema_of::<T>,
    }
}

pub fn contracts() -> Vec<Contract> {
    vec![
        event::<OrderEvent, OrderPlaced>("OrderPlaced"),
        event::<OrderEvent, OrderValidated>("OrderValidated"),
        event::<OrderEvent, OrderRejected>("OrderRejected"),
        event::<OrderEvent, FraudCleared>("FraudCleared"),
        event::<OrderEvent, FraudSuspected>("FraudSuspected"),
        event::<OrderEvent, StockReserved>("StockReserved"),
        event::<OrderEvent, OutOfStock>("OutOfStock"),
        event::<OrderEvent, PaymentAuthorized>("PaymentAuthorized"),
        event::<OrderEvent, PaymentDeclined>("PaymentDeclined"),
        event::<OrderEvent, StockReleased>("StockReleased"),
        event::<OrderEvent, ShipmentScheduled>("ShipmentScheduled"),
        event::<OrderEvent, OrderTimedOut>("OrderTimedOut"),
        event::<OrderEvent, PaymentVoided>("PaymentVoided"),
        event::<InventoryEvent, StockAdded>("StockAdded"),
        event::<InventoryEvent, StockAllocated>("StockAllocated"),
        event::<InventoryEvent, StockDeallocated>("StockDeallocated"),
        event::<InventoryEvent, StockCommitted>("StockCommitted"),
        event::<InventoryEvent, ShelfSnapshot>("ShelfSnapshot"),
        Contract {
            name: "PlaceOrder",
            kind: ContractKind::Command,
            version: 3,
            generate: schema_of::<PlaceOrderRequest>,
        },
        Contract {
            name: "PaymentCallback",
            kind: ContractKind::Command,
            version: 1,
            generate: schema_of::<PaymentCallback>,
        },
    ]
}

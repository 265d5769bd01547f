//! Every contract of the system, at the version the code writes today, with its JSON
//! Schema generated from the Rust type: the types are the source of truth.

use crate::inventory::{ShelfSnapshot, StockAdded, StockAllocated, StockCommitted, StockDeallocated};
use crate::order::PlaceOrderRequest;
use crate::saga::{
    FraudCleared, FraudSuspected, OrderTimedOut, OutOfStock, PaymentAuthorized, PaymentCallback, PaymentDeclined,
    PaymentVoided, ShipmentScheduled, StockReleased, StockReserved,
};
use crate::{EventCodec, InventoryEvent, OrderEvent, OrderPlaced, OrderRejected, OrderValidated};
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::Value;
use toolkit::schema::{Contract, ContractKind};

fn schema_of<T: JsonSchema>() -> Value {
    let schema = SchemaSettings::draft07().into_generator().into_root_schema_for::<T>();
    schema.to_value()
}

/// An event contract of the codec `E`, at the version `E` writes.
fn event<E: EventCodec, T: JsonSchema>(name: &'static str) -> Contract {
    Contract::new(name, ContractKind::Event, E::current_version(name).unwrap_or(1), schema_of::<T>)
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
        Contract::new("PlaceOrder", ContractKind::Command, 4, schema_of::<PlaceOrderRequest>),
        Contract::new("PaymentCallback", ContractKind::Command, 1, schema_of::<PaymentCallback>),
    ]
}

//! Pure domain logic: commands are checked, decisions are made and events are folded
//! into state here, with no I/O and no AWS crate.

pub mod analytics;
pub mod codec;
pub mod country;
pub mod inventory;
pub mod money;
pub mod notifications;
pub mod order;
pub mod saga;

pub use codec::{DecodeError, EventCodec};
pub use inventory::{InventoryEvent, Shelf};
pub use money::{Currency, Money};
pub use order::{
    InvalidCommand, Order, OrderError, OrderEvent, OrderId, OrderLine, OrderPlaced, OrderRejected, OrderStatus,
    OrderValidated, PlaceOrder, ValidationPolicy, check_identifier,
};
pub use saga::{FraudPolicy, ReservedLine};

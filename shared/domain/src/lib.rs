//! The order domain: commands are checked, decisions are made and events are folded into
//! state here, with no I/O. The compiler holds that line: this crate depends on no AWS,
//! HTTP, Lambda or async runtime crate (only the toolkit's core, without its features).
#![warn(clippy::cast_possible_truncation, clippy::cast_possible_wrap, clippy::cast_sign_loss)]

pub mod analytics;
pub mod codec;
pub mod contracts;
pub mod country;
pub mod inventory;
pub mod money;
pub mod notifications;
pub mod order;
pub mod payment;
pub mod saga;
pub mod schemas;

pub use codec::{DecodeError, EventCodec};
pub use inventory::{InventoryEvent, Shelf};
pub use money::{Currency, Money};
pub use order::{
    InvalidCommand, Order, OrderError, OrderEvent, OrderId, OrderLine, OrderPlaced, OrderRejected, OrderStatus,
    OrderValidated, PlaceOrder, ValidationPolicy, check_identifier,
};
pub use saga::{FraudPolicy, ReservedLine};

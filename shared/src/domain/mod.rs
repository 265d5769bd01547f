//! Pure domain logic: commands are checked, decisions are made and events are folded
//! into state here, with no I/O and no AWS crate.

pub mod money;
pub mod order;

pub use money::{Currency, Money};
pub use order::{
    DecodeError, InvalidCommand, Order, OrderError, OrderEvent, OrderId, OrderLine, OrderPlaced,
    OrderRejected, OrderStatus, OrderValidated, PlaceOrder, ValidationPolicy,
};

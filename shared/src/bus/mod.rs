//! The event bus port: publishes stored events so other services can react to them.

mod eventbridge;
mod memory;

pub use eventbridge::EventBridgeBus;
pub use memory::InMemoryBus;

use crate::envelope::EventEnvelope;
use std::future::Future;
use thiserror::Error;

/// EventBridge takes at most 10 entries per PutEvents call.
pub const MAX_EVENTS_PER_PUBLISH: usize = 10;

/// The `source` of every event this system publishes.
pub const EVENT_SOURCE: &str = "orderflow.orders";

#[derive(Debug, Error)]
#[error("event bus unavailable: {0}")]
pub struct BusError(pub String);

/// One entry the bus refused, by its index in the published slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedEntry {
    pub index: usize,
    pub reason: String,
}

pub trait EventBus: Send + Sync {
    /// Publishes up to [`MAX_EVENTS_PER_PUBLISH`] events; returns the entries that were refused.
    fn publish(&self, events: &[EventEnvelope]) -> impl Future<Output = Result<Vec<RejectedEntry>, BusError>> + Send;
}

//! The event bus port: publishes stored events so other services can react to them.

#[cfg(feature = "eventbridge")]
mod eventbridge;
mod memory;

#[cfg(feature = "eventbridge")]
pub use eventbridge::EventBridgeBus;
pub use memory::{InMemoryBus, check_put_events};

use crate::envelope::EventEnvelope;
use crate::error::Outage;
use std::future::Future;
use thiserror::Error;

/// EventBridge takes at most 10 entries per PutEvents call.
pub const MAX_EVENTS_PER_PUBLISH: usize = crate::limits::PUT_EVENTS_ENTRIES;

/// The `source` of every event this system publishes.
pub const EVENT_SOURCE: &str = "orderflow.orders";

/// A whole publish call failed: the bus was unreachable or busy (`permanent: false`, try
/// again), or it refused the request itself, as EventBridge does with a ValidationException
/// for a request over 256 KB (`permanent: true`: the same request will never pass).
#[derive(Debug, Error)]
#[error("event bus {}: {reason}", if *.permanent { "refused the request" } else { "unavailable" })]
pub struct BusError {
    /// What the bus answered, or why it could not be reached.
    #[source]
    pub reason: Outage,
    /// True when the same request will never pass: do not retry it.
    pub permanent: bool,
}

impl BusError {
    /// The bus did not answer, or was busy: the same call may pass later.
    pub fn transient(reason: impl Into<Outage>) -> Self {
        Self { reason: reason.into(), permanent: false }
    }

    /// The bus refused the call itself: the same call will never pass.
    pub fn permanent(reason: impl Into<Outage>) -> Self {
        Self { reason: reason.into(), permanent: true }
    }
}

/// One entry the bus refused, by its index in the published slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedEntry {
    /// The entry's position in the slice given to [`EventBus::publish`].
    pub index: usize,
    /// The bus's error code and message, `<code>: <message>`.
    pub reason: String,
    /// Whether trying the same entry again can succeed (throttling, an internal failure).
    pub retryable: bool,
}

/// EventBridge's error codes that mean "try again"; every other code refuses the entry
/// or request for good.
pub fn is_retryable_code(code: &str) -> bool {
    matches!(code, "ThrottlingException" | "InternalFailure" | "InternalException" | "ServiceUnavailable")
}

/// The event bus port: publishes stored events for other services. The EventBridge adapter
/// (feature `eventbridge`) and [`InMemoryBus`] implement it.
pub trait EventBus: Send + Sync {
    /// Publishes up to [`MAX_EVENTS_PER_PUBLISH`] events; returns the entries that were refused.
    fn publish(&self, events: &[EventEnvelope]) -> impl Future<Output = Result<Vec<RejectedEntry>, BusError>> + Send;
}

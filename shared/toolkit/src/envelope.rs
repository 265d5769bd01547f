//! The envelope every event is stored and published in.
//!
//! Stored as readable DynamoDB attributes (not a blob), published as the EventBridge
//! `detail`, so every consumer sees the same shape.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps `value` as it is: no check of its shape.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// One aggregate's stream in the event store, e.g. `order-<uuid>`.
    StreamId
);
string_id!(
    /// Shared by every event one request caused, across every hop.
    CorrelationId
);
string_id!(
    /// What directly caused an event: the id of the event or request before it.
    CausationId
);

impl CorrelationId {
    /// A fresh random id (from [`crate::clock::new_uuid`]), for a request that brought none.
    pub fn generate() -> Self {
        Self(crate::clock::new_uuid().to_string())
    }
}

/// Unique id of one event; consumers deduplicate on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub Uuid);

impl EventId {
    /// A fresh random id (from [`crate::clock::new_uuid`], so a simulation replays it).
    pub fn generate() -> Self {
        Self(crate::clock::new_uuid())
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<EventId> for CausationId {
    fn from(id: EventId) -> Self {
        CausationId(id.0.to_string())
    }
}

/// Who and what caused an event: carried from each event to the events it causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Causality {
    /// Shared by every event the original request caused.
    pub correlation_id: CorrelationId,
    /// The event or request that directly caused the new events.
    pub causation_id: CausationId,
    /// The X-Ray trace header (`Root=…;Parent=…;Sampled=…`) the event continues, so one
    /// trace spans the whole saga on AWS.
    pub trace_id: Option<String>,
}

impl Causality {
    /// The causality of events that `cause` directly led to.
    pub fn caused_by(cause: &EventEnvelope) -> Self {
        Self {
            correlation_id: cause.correlation_id.clone(),
            causation_id: cause.event_id.into(),
            trace_id: cause.trace_id.clone(),
        }
    }

    /// Caused by a request (an API call, a timer): its trace, if any, starts here.
    pub fn of_request(correlation_id: CorrelationId, causation_id: CausationId, trace_id: Option<String>) -> Self {
        Self { correlation_id, causation_id, trace_id }
    }
}

/// An event as stored and published: the payload plus everything needed to route,
/// order, deduplicate and trace it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventEnvelope {
    /// Unique per event; consumers deduplicate on it.
    pub event_id: EventId,
    /// The stream the event belongs to.
    pub stream_id: StreamId,
    /// Position in the stream, from 1, without gaps.
    pub version: u64,
    /// The payload's type, e.g. `OrderPlaced`; published as EventBridge's `detail-type`.
    pub event_type: String,
    /// The version of the payload's schema (see [`crate::schema`]), from 1.
    pub schema_version: u32,
    /// When the event happened, as decided by its writer (not when it was stored).
    pub occurred_at: DateTime<Utc>,
    /// Shared by every event one request caused, across every hop.
    pub correlation_id: CorrelationId,
    /// The event or request that directly caused this one.
    pub causation_id: CausationId,
    /// The X-Ray trace header of the request that started the order (absent when tracing is off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The event's data, in the shape `event_type` has at `schema_version`.
    pub payload: serde_json::Value,
}

/// An event about to be appended: the store assigns stream and version.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Unique per event; chosen by the writer, usually with [`EventId::generate`].
    pub event_id: EventId,
    /// The payload's type, e.g. `OrderPlaced`.
    pub event_type: String,
    /// The version of the payload's schema, from 1.
    pub schema_version: u32,
    /// When the event happened.
    pub occurred_at: DateTime<Utc>,
    /// Correlation, causation and trace, copied into the envelope.
    pub causality: Causality,
    /// The event's data, in the shape `event_type` has at `schema_version`.
    pub payload: serde_json::Value,
}

impl NewEvent {
    /// The envelope this event becomes as `version` of `stream_id` (what a store does on append).
    pub fn into_envelope(self, stream_id: StreamId, version: u64) -> EventEnvelope {
        EventEnvelope {
            event_id: self.event_id,
            stream_id,
            version,
            event_type: self.event_type,
            schema_version: self.schema_version,
            occurred_at: self.occurred_at,
            correlation_id: self.causality.correlation_id,
            causation_id: self.causality.causation_id,
            trace_id: self.causality.trace_id,
            payload: self.payload,
        }
    }
}

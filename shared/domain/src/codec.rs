//! Events to and from the store's envelope: versioned, validated against the committed
//! schema of their own version, upcast to the version this build reads.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde::de::value::MapDeserializer;
use thiserror::Error;
use toolkit::envelope::{Causality, EventEnvelope, EventId, NewEvent};

/// Why a stored or published event could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("event type {0} is not known here")]
    UnknownType(String),
    #[error("{event_type} schema version {found} is not supported (this build reads versions 1 to {supported})")]
    UnsupportedVersion { event_type: String, found: u32, supported: u32 },
    #[error("{event_type} payload does not match its schema: {reason}")]
    BadPayload { event_type: String, reason: String },
}

/// An enum of events, adjacently tagged (`eventType` + `payload`), one variant per type.
pub trait EventCodec: Serialize + DeserializeOwned + Sized {
    /// Every event type with the schema version this build writes.
    const VERSIONS: &'static [(&'static str, u32)];

    fn event_type(&self) -> &'static str;

    fn current_version(event_type: &str) -> Option<u32> {
        Self::VERSIONS.iter().find(|(t, _)| *t == event_type).map(|(_, v)| *v)
    }

    /// Wraps the event for the store, with a fresh event id.
    fn into_new_event(self, causality: Causality, occurred_at: chrono::DateTime<chrono::Utc>) -> NewEvent {
        let event_type = self.event_type();
        let payload = match serde_json::to_value(&self) {
            Ok(serde_json::Value::Object(mut tagged)) => tagged.remove("payload").unwrap_or_default(),
            _ => serde_json::Value::Null,
        };
        NewEvent {
            event_id: EventId::generate(),
            event_type: event_type.to_string(),
            schema_version: Self::current_version(event_type).unwrap_or(1),
            occurred_at,
            causality,
            payload,
        }
    }

    /// Reads a stored or published event: its payload is validated against the committed
    /// schema of its own version, then upcast to the version this build reads.
    fn from_envelope(envelope: &EventEnvelope) -> Result<Self, DecodeError> {
        let event_type = envelope.event_type.clone();
        let current = Self::current_version(&event_type).ok_or_else(|| DecodeError::UnknownType(event_type.clone()))?;
        let found = envelope.schema_version;
        let unsupported =
            || DecodeError::UnsupportedVersion { event_type: event_type.clone(), found, supported: current };
        if found == 0 || found > current {
            return Err(unsupported());
        }
        use crate::schemas;
        schemas::validate(&event_type, found, &envelope.payload).map_err(|mismatch| match mismatch {
            schemas::SchemaMismatch::UnknownVersion { .. } => unsupported(),
            schemas::SchemaMismatch::Invalid(errors) => {
                DecodeError::BadPayload { event_type: event_type.clone(), reason: errors.join("; ") }
            }
        })?;
        // Read in place (no copy of the payload) unless an upcaster has to reshape it.
        let upcast;
        let payload = match found == current {
            true => &envelope.payload,
            false => {
                upcast = schemas::upcast(&event_type, found, current, envelope.payload.clone());
                &upcast
            }
        };
        let tag = serde_json::Value::String(event_type);
        let tagged = [("eventType", &tag), ("payload", payload)];
        Self::deserialize(MapDeserializer::<_, serde_json::Error>::new(tagged.into_iter())).map_err(|e| {
            DecodeError::BadPayload { event_type: tag.as_str().unwrap_or_default().to_string(), reason: e.to_string() }
        })
    }
}

//! JSON logs, one object per line, carrying the correlation id of the event at hand.
//!
//! Handlers run each event inside [`event_span`]; the subscriber flattens the span's
//! fields into every line logged within it.

use crate::envelope::EventEnvelope;
use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber. `RUST_LOG` (or Lambda's `AWS_LAMBDA_LOG_LEVEL`) sets the level.
pub fn init_logging() {
    let filter = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL"))
        .map(|level| level.to_lowercase())
        .unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_env_filter(EnvFilter::new(filter))
        .init();
}

/// The span an event is handled in: every log line inside carries these ids.
pub fn event_span(event: &EventEnvelope) -> tracing::Span {
    tracing::info_span!(
        "event",
        correlation_id = %event.correlation_id,
        causation_id = %event.causation_id,
        event_id = %event.event_id,
        event_type = %event.event_type,
        stream_id = %event.stream_id,
        version = event.version,
    )
}

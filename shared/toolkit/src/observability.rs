//! JSON logs, one object per line, carrying the correlation id of the event at hand.
//!
//! Handlers run each event inside [`event_span`]; the subscriber flattens the span's
//! fields into every line logged within it.

use crate::envelope::EventEnvelope;
use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber. `RUST_LOG` (or Lambda's `AWS_LAMBDA_LOG_LEVEL`) sets the level.
pub fn init_logging() {
    let level = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL"))
        .map(|level| level.to_lowercase())
        .unwrap_or_else(|_| "info".into());
    let filter = log_filter(&level);
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

/// Crates that log whole requests at `trace` (the runtime logs each raw event, API keys
/// included; the SDK and HTTP stacks log headers, signatures and bodies).
const VERBATIM_AT_TRACE: [&str; 8] = [
    "lambda_runtime",
    "lambda_http",
    "lambda_runtime_api_client",
    "aws_smithy_runtime",
    "aws_smithy_http_client",
    "hyper",
    "hyper_util",
    "reqwest",
];

/// The filter for `level`: at `trace`, the crates that would log credentials verbatim stay
/// at `debug`, whatever the level asked for.
pub fn log_filter(level: &str) -> String {
    let mut directives = vec![level.to_string()];
    if level.split(',').any(|d| d.trim() == "trace" || d.trim().ends_with("=trace")) {
        directives.extend(VERBATIM_AT_TRACE.iter().map(|krate| format!("{krate}=debug")));
    }
    directives.join(",")
}

/// The span an event is handled in: every log line inside carries these ids.
pub fn event_span(event: &EventEnvelope) -> tracing::Span {
    tracing::info_span!(
        "event",
        trace_id = event.trace_id.as_deref().unwrap_or_default(),
        correlation_id = %event.correlation_id,
        causation_id = %event.causation_id,
        event_id = %event.event_id,
        event_type = %event.event_type,
        stream_id = %event.stream_id,
        version = event.version,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn at_trace_the_crates_that_log_raw_requests_stay_at_debug() {
        let filter = super::log_filter("trace");
        let parsed = tracing_subscriber::EnvFilter::new(&filter);
        assert!(filter.contains("lambda_runtime=debug") && filter.contains("aws_smithy_runtime=debug"), "{parsed}");
        assert_eq!(super::log_filter("info"), "info");
    }
}

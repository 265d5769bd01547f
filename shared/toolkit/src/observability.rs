//! Logs that follow Lambda's conventions: JSON by default, one object per line, or text when
//! the function's log format says so.
//!
//! - The level: `RUST_LOG` (any `EnvFilter` directive), else Lambda's `AWS_LAMBDA_LOG_LEVEL`
//!   (`TRACE` ... `FATAL`, set by the function's logging configuration), else `info`.
//! - The format: Lambda's `AWS_LAMBDA_LOG_FORMAT` (`JSON` or `Text`); JSON when unset.
//! - Every line logged during an invocation carries the runtime's span (`requestId`,
//!   `xrayTraceId`) and, while an event is handled inside [`event_span`], the event's ids
//!   (`correlation_id`, `event_id`, ...), in the JSON line's `spans` list.

use crate::envelope::EventEnvelope;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (Lambda's `JSON` log format); the default.
    Json,
    /// Plain text lines (Lambda's `Text` log format).
    Text,
}

impl LogFormat {
    /// `AWS_LAMBDA_LOG_FORMAT`'s value (`JSON` or `Text`, any case); JSON otherwise.
    pub fn parse(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            Some(text) if text.eq_ignore_ascii_case("text") => LogFormat::Text,
            _ => LogFormat::Json,
        }
    }
}

/// The level directive from `RUST_LOG`, else from Lambda's `AWS_LAMBDA_LOG_LEVEL` (whose
/// `FATAL` has no tracing level: `error`), else `info`.
pub fn log_level(rust_log: Option<&str>, lambda_level: Option<&str>) -> String {
    match (rust_log.filter(|v| !v.trim().is_empty()), lambda_level.filter(|v| !v.trim().is_empty())) {
        (Some(directives), _) => directives.to_lowercase(),
        (None, Some(level)) if level.trim().eq_ignore_ascii_case("fatal") => "error".into(),
        (None, Some(level)) => level.trim().to_lowercase(),
        (None, None) => "info".into(),
    }
}

/// Installs the subscriber with the level and format the environment asks for (see the
/// module's documentation).
pub fn init_logging() {
    let var = crate::config::optional;
    let level = log_level(var("RUST_LOG").as_deref(), var("AWS_LAMBDA_LOG_LEVEL").as_deref());
    let filter = EnvFilter::new(log_filter(&level));
    let builder = tracing_subscriber::fmt().with_target(false).without_time().with_ansi(false).with_env_filter(filter);
    match LogFormat::parse(var("AWS_LAMBDA_LOG_FORMAT").as_deref()) {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).with_span_list(true).init(),
        LogFormat::Text => builder.init(),
    }
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
    use super::*;

    #[test]
    fn lambdas_log_settings_are_honoured_and_rust_log_wins() {
        assert_eq!(log_level(None, Some("DEBUG")), "debug");
        assert_eq!(log_level(None, Some("FATAL")), "error");
        assert_eq!(log_level(Some("warn,orderflow=debug"), Some("DEBUG")), "warn,orderflow=debug");
        assert_eq!(log_level(None, None), "info");
        assert_eq!(LogFormat::parse(Some("Text")), LogFormat::Text);
        assert_eq!(LogFormat::parse(Some("JSON")), LogFormat::Json);
        assert_eq!(LogFormat::parse(None), LogFormat::Json);
    }

    #[test]
    fn at_trace_the_crates_that_log_raw_requests_stay_at_debug() {
        let filter = super::log_filter("trace");
        let parsed = tracing_subscriber::EnvFilter::new(&filter);
        assert!(filter.contains("lambda_runtime=debug") && filter.contains("aws_smithy_runtime=debug"), "{parsed}");
        assert_eq!(super::log_filter("info"), "info");
    }
}

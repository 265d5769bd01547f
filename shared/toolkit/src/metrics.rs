//! CloudWatch Embedded Metric Format: one JSON line per invocation on stdout, which
//! CloudWatch Logs turns into metrics (namespace `orderflow`, dimension `Function`)
//! without an API call. A small module rather than a crate: the format is a dozen lines
//! of JSON and the crates that exist bring a `metrics` facade we would not otherwise use.

use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicBool, Ordering};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "orderflow";

static COLD: AtomicBool = AtomicBool::new(true);
static ENABLED: AtomicBool = AtomicBool::new(true);

/// Stops this process from writing metric lines (for tools that run handlers in process,
/// such as the benchmarks).
pub fn disable() {
    ENABLED.store(false, Ordering::Relaxed);
}

/// True for the first invocation of this process only.
pub fn take_cold_start() -> bool {
    COLD.swap(false, Ordering::Relaxed)
}

/// One metric: name, unit (`Count`, `Milliseconds`), value.
pub type Metric = (&'static str, &'static str, f64);

/// The EMF line for `metrics` of `function` at `timestamp_ms`.
pub fn emf_line(function: &str, timestamp_ms: i64, metrics: &[Metric]) -> String {
    let definitions: Vec<Value> = metrics.iter().map(|(name, unit, _)| json!({ "Name": name, "Unit": unit })).collect();
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            // Per function, and across all of them (what the template's alarms watch).
            "CloudWatchMetrics": [{ "Namespace": NAMESPACE, "Dimensions": [["Function"], []], "Metrics": definitions }]
        }),
    );
    line.insert("Function".into(), json!(function));
    for (name, _, value) in metrics {
        line.insert((*name).into(), json!(value));
    }
    Value::Object(line).to_string()
}

/// Prints the EMF line (stdout: where Lambda's log capture and the emulator take it).
pub fn emit(function: &str, metrics: &[Metric]) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    println!("{}", emf_line(function, crate::clock::now().timestamp_millis(), metrics));
}

/// What a batch invocation did, as metrics.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BatchFigures {
    /// Records handled successfully.
    pub processed: u32,
    /// Retryable failures: the record goes back to its queue or stream.
    pub retried: u32,
    /// Poison or given up: parked in the DLQ.
    pub parked: u32,
    /// How long the batch took, in milliseconds.
    pub duration_ms: f64,
    /// The age of the oldest record when the batch started (from its queue or stream time).
    pub oldest_age_ms: Option<f64>,
}

impl BatchFigures {
    /// Failed records as a percentage of the batch (0 for an empty batch).
    pub fn failure_rate(&self) -> f64 {
        let total = self.processed + self.retried + self.parked;
        if total == 0 { 0.0 } else { f64::from(self.retried + self.parked) * 100.0 / f64::from(total) }
    }

    /// Writes the batch's metrics as one EMF line, with `function` as the `Function` dimension.
    /// `ColdStart` is 1 on the first batch of the process.
    pub fn emit(&self, function: &str) {
        let mut metrics: Vec<Metric> = vec![
            ("Processed", "Count", f64::from(self.processed)),
            ("Retried", "Count", f64::from(self.retried)),
            ("Parked", "Count", f64::from(self.parked)),
            ("Failed", "Count", f64::from(self.retried + self.parked)),
            ("FailureRate", "Percent", self.failure_rate()),
            ("Duration", "Milliseconds", self.duration_ms),
            ("ColdStart", "Count", if take_cold_start() { 1.0 } else { 0.0 }),
        ];
        if let Some(age) = self.oldest_age_ms {
            metrics.push(("EventAge", "Milliseconds", age));
        }
        emit(function, &metrics);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_line_declares_every_metric_it_carries() {
        let line =
            emf_line("payment", 1_800_000_000_000, &[("Processed", "Count", 3.0), ("Duration", "Milliseconds", 1.5)]);
        let value: Value = serde_json::from_str(&line).unwrap();
        let directive = &value["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "orderflow");
        assert_eq!(directive["Dimensions"], json!([["Function"], []]));
        assert_eq!(value["_aws"]["Timestamp"], 1_800_000_000_000i64);
        assert_eq!(value["Function"], "payment");
        for definition in directive["Metrics"].as_array().unwrap() {
            assert!(value.get(definition["Name"].as_str().unwrap()).is_some_and(Value::is_number));
        }
        assert_eq!(value["Processed"], 3.0);
    }
}

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

/// The batches being handled, by consumer, with their record counts: a panic reports them
/// as failed, since their figures would otherwise never be written (a process exit, a
/// timeout or running out of memory leave only Lambda's own `Errors` metric).
static IN_FLIGHT: std::sync::Mutex<std::collections::BTreeMap<String, u32>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Notes that `consumer` started a batch of `records`, and installs (once per process) the
/// panic hook that reports it failed if the batch dies before [`BatchFigures::emit`].
pub fn batch_started(consumer: &str, records: usize) {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // A record's own panic is caught and fails that record: its batch lives on.
            if RECORDS_GUARDED.load(Ordering::Relaxed) == 0 {
                for line in failure_lines_of_batches_in_flight() {
                    println!("{line}");
                }
            }
            previous(info);
        }));
    });
    if let Ok(mut in_flight) = IN_FLIGHT.lock() {
        in_flight.insert(consumer.to_string(), u32::try_from(records).unwrap_or(u32::MAX));
    }
}

/// Records being handled where a panic is caught (the batch processors'): while there are
/// any, a panic does not report the batches in flight as failed.
static RECORDS_GUARDED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Marks a record handled under a panic guard, until dropped.
pub struct RecordGuard(());

impl RecordGuard {
    /// Marks one more record as guarded.
    pub fn enter() -> Self {
        RECORDS_GUARDED.fetch_add(1, Ordering::Relaxed);
        Self(())
    }
}

impl Drop for RecordGuard {
    fn drop(&mut self) {
        RECORDS_GUARDED.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The EMF lines of every batch in flight, each record failed (taken: reported once).
pub fn failure_lines_of_batches_in_flight() -> Vec<String> {
    // try_lock: a panic while the lock is held must not deadlock its own hook.
    let Ok(mut in_flight) = IN_FLIGHT.try_lock() else { return Vec::new() };
    let now = crate::clock::now().timestamp_millis();
    std::mem::take(&mut *in_flight)
        .into_iter()
        .filter(|_| ENABLED.load(Ordering::Relaxed))
        .map(|(consumer, records)| {
            let died = BatchFigures { retried: records.max(1), ..Default::default() };
            emf_line(&consumer, now, &died.metrics())
        })
        .collect()
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
        if let Ok(mut in_flight) = IN_FLIGHT.lock() {
            in_flight.remove(function);
        }
        emit(function, &self.metrics());
    }

    fn metrics(&self) -> Vec<Metric> {
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
        metrics
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

    #[test]
    fn a_batch_that_dies_before_its_figures_is_reported_failed_once() {
        batch_started("dies-in-flight", 4);
        batch_started("ends-well", 2);
        BatchFigures { processed: 2, ..Default::default() }.emit("ends-well");
        let lines = failure_lines_of_batches_in_flight();
        let died: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        let died: Vec<&Value> = died.iter().filter(|v| v["Function"] == "dies-in-flight").collect();
        assert_eq!(died.len(), 1, "{lines:?}");
        assert_eq!((died[0]["Failed"].as_f64(), died[0]["FailureRate"].as_f64()), (Some(4.0), Some(100.0)));
        assert!(!lines.iter().any(|l| l.contains("ends-well")), "a batch that emitted is not in flight");
        assert!(failure_lines_of_batches_in_flight().iter().all(|l| !l.contains("dies-in-flight")), "once");
    }
}

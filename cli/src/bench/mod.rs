//! `orderflow bench`: measured figures with their targets (docs/mission.md's speed targets),
//! printed as a table and written as JSON under `bench/` to compare runs over time.
//!
//! - P1 cold start and warm invocation of every function binary through a local Runtime
//!   API, and P4 binary size and peak resident memory ([`cold_start`]).
//! - P2 handler CPU per event against a bare JSON parse, by criterion ([`handler_cpu`]).
//! - P3 the saga against the emulator's raw SQS rate, P5 rebuild against a naive loop and
//!   P6 `up` time, on a private emulator with the release zips ([`emulator`]).
//! - Capacity, goodput at three times capacity with admission control, and latency per
//!   hop, on the same emulator ([`load`]).

pub mod cold_start;
pub mod emulator;
pub mod handler_cpu;
pub mod load;
pub mod runtime_api;

use crate::project::Project;
use crate::{CliError, Result};
use cold_start::ColdStart;
use emulator::EmulatorFigures;
use handler_cpu::HandlerCpu;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub date: String,
    pub machine: String,
    pub profile_note: String,
    pub functions: Vec<ColdStart>,
    /// The cold-start floor: a hello-world function with the same build (absent in older
    /// reports and when it was not built).
    #[serde(default)]
    pub floor: Option<ColdStart>,
    pub handler: HandlerCpu,
    /// P3, P5 and P6 (absent when run with `--no-emulator`, and in older reports).
    #[serde(default)]
    pub emulator: Option<EmulatorFigures>,
}

/// Targets, from docs/mission.md.
pub const COLD_START_TARGET_MS: f64 = 10.0;
/// P1 against the floor: a function may take at most this many times the hello-world's
/// cold start on the same machine (the absolute target depends on the CPU).
pub const COLD_START_FLOOR_RATIO_TARGET: f64 = 2.0;
pub const HANDLER_RATIO_TARGET: f64 = 2.0;
pub const SIZE_TARGET_BYTES: u64 = 4 * 1024 * 1024;
pub const RSS_TARGET_KB: u64 = 20 * 1024;
pub const SAGA_RATIO_TARGET: f64 = 0.5;
pub const REBUILD_RATIO_TARGET: f64 = 5.0;
pub const UP_TARGET_S: f64 = 5.0;

/// What to run: P1, P2 and P4 always; the emulator figures with `orders` set.
pub struct Plan {
    pub spawns: usize,
    pub orders: Option<usize>,
}

pub async fn run(project: &Project, plan: &Plan) -> Result<Report> {
    let template = std::fs::read_to_string(project.template()).map_err(|e| CliError::io(project.template(), e))?;
    let functions = crate::stacks::build::template_functions(&template);
    let measured = cold_start::measure(project, &functions, plan.spawns, 20).await?;
    if measured.is_empty() {
        return Err(CliError::Usage(
            "no function binaries to measure: build them first (`orderflow bench --build`)".into(),
        ));
    }
    let release = measured.iter().all(|f| !f.binary.contains("/debug/"));
    let functions_note = match release {
        true => "functions: release deploy zips",
        false => "functions: some are debug builds (run `orderflow bench --build` first)",
    };
    let floor = cold_start::measure_floor(project, plan.spawns, 20).await?;
    let handler = handler_cpu::measure(project)?;
    let emulator = match plan.orders {
        Some(orders) => Some(emulator::measure(project, &release_zips(project, &functions)?, orders).await?),
        None => None,
    };
    Ok(Report {
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        machine: machine(),
        profile_note: format!("{functions_note}; handler CPU: criterion, release profile"),
        functions: measured,
        floor,
        handler,
        emulator,
    })
}

/// The release deploy zips cargo-lambda left (`--build` makes them); the emulator runs these.
fn release_zips(project: &Project, functions: &[String]) -> Result<BTreeMap<String, PathBuf>> {
    functions
        .iter()
        .map(|function| {
            let zip = crate::stacks::build::Arch::host().release_zip(project, function);
            match zip.is_file() {
                true => Ok((function.clone(), zip)),
                false => Err(CliError::Usage(format!(
                    "{} is missing: build the release zips first (`orderflow bench --build`)",
                    zip.display()
                ))),
            }
        })
        .collect()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(std::num::NonZero::get).unwrap_or(1);
    format!("{cores} cores, {cpu}")
}

fn mark(ok: bool) -> &'static str {
    if ok { "met" } else { "missed" }
}

/// The report as the README's table rows.
pub fn table(report: &Report) -> String {
    let mut out = format!("{} on {} ({})\n\n", report.date, report.machine, report.profile_note);
    out.push_str(
        "| function | cold start median / p95 | warm median | binary | zip | peak RSS |\n|---|---|---|---|---|---|\n",
    );
    for f in &report.functions {
        out.push_str(&cold_start_line(&f.function, f));
    }
    if let Some(f) = &report.floor {
        out.push_str(&cold_start_line("(floor: hello-world)", f));
    }
    let worst_cold = report.functions.iter().map(|f| f.cold_median_ms).fold(0.0, f64::max);
    let biggest = report.functions.iter().map(|f| f.size_bytes).max().unwrap_or(0);
    let fattest = report.functions.iter().map(|f| f.peak_rss_kb).max().unwrap_or(0);
    let h = &report.handler;
    out.push_str("\n| target | measured | |\n|---|---|---|\n");
    out.push_str(&cold_start_row(report, worst_cold));
    out.push_str(&format!(
        "| P2 handler CPU ≤ {HANDLER_RATIO_TARGET}× bare JSON parse | {:.1} µs vs {:.1} µs per event = {:.1}× | {} |\n",
        h.handler_us_per_event,
        h.bare_parse_us_per_event,
        h.ratio,
        mark(h.ratio <= HANDLER_RATIO_TARGET),
    ));
    if let Some(e) = &report.emulator {
        let saga = &e.saga;
        out.push_str(&format!(
            "| P3 saga ≥ {:.0} % of the emulator's raw SQS rate | {} of {} orders final in {:.0} s ({:.1} orders/s, latency p50 {:.1} s, p99 {:.1} s); the consumers took {} SQS messages at {:.0}/s (and {} stream records) against a raw {:.0}/s: {:.0} %; CPU meanwhile: emulator {:.2} cores, functions {:.2} cores; per order {:.0} ms of the emulator's CPU and {:.0} ms of the functions' | {} |\n",
            SAGA_RATIO_TARGET * 100.0,
            saga.settled,
            saga.orders,
            saga.seconds,
            saga.orders_per_second,
            saga.latency_p50_ms / 1000.0,
            saga.latency_p99_ms / 1000.0,
            saga.sqs_messages,
            saga.sqs_messages_per_second,
            saga.stream_records,
            e.raw.per_second,
            saga.ratio_to_raw * 100.0,
            saga.emulator_cores,
            saga.functions_cores,
            saga.emulator_cpu_ms_per_order,
            saga.functions_cpu_ms_per_order,
            mark(saga.ratio_to_raw >= SAGA_RATIO_TARGET && saga.settled == saga.orders),
        ));
    }
    out.push_str(&format!(
        "| P4 binary ≤ 4 MB | largest {:.1} MB | {} |\n| P4 resident ≤ 20 MB | largest {:.1} MB | {} |\n",
        biggest as f64 / 1_048_576.0,
        mark(biggest <= SIZE_TARGET_BYTES),
        fattest as f64 / 1024.0,
        mark(fattest <= RSS_TARGET_KB),
    ));
    if let Some(e) = &report.emulator {
        let r = &e.rebuild;
        out.push_str(&format!(
            "| P5 rebuild ≥ {REBUILD_RATIO_TARGET}× a naive loop | {:.0} events/s ({} events) vs {:.0} events/s = {:.1}×; {} differences after | {} |\n\
             | P6 `up` with built binaries ≤ {UP_TARGET_S} s | {:.1} s (emulator {:.1} s, deploy {:.1} s, first answer {:.1} s) | {} |\n",
            r.events_per_second,
            r.events,
            r.naive_events_per_second,
            r.ratio,
            r.differences,
            mark(r.ratio >= REBUILD_RATIO_TARGET && r.differences == 0),
            e.up.total_s,
            e.up.emulator_start_s,
            e.up.deploy_s,
            e.up.first_answer_s,
            mark(e.up.total_s <= UP_TARGET_S),
        ));
        if let Some(load) = &e.load {
            out.push_str(&load_rows(load));
        }
    }
    out
}

/// Capacity, goodput and the hops: rows of the targets table, then a table of hops.
fn load_rows(load: &load::LoadFigures) -> String {
    let (c, g) = (&load.capacity, &load.goodput);
    let steps: Vec<String> = c
        .steps
        .iter()
        .map(|s| format!("{:.0}/s: p99 {:.1} s", s.offered_per_second, s.latency_p99_ms / 1000.0))
        .collect();
    let share = |n: usize, of: usize| n as f64 * 100.0 / of.max(1) as f64;
    let mut out = format!(
        "| capacity: highest steady rate with placed-to-final p99 ≤ {:.0} s | {:.0} orders/s ({}) | - |\n",
        c.latency_bound_ms / 1000.0,
        c.orders_per_second,
        steps.join(", ")
    );
    out.push_str(&format!(
        "| goodput at 3× capacity: every accepted order completes | {:.0} orders/s for 30 s: {} offered, {:.0} % accepted, {:.0} % refused with 503 (backlog limit {}), {} of {} accepted completed, {} timed out, {} not final; goodput {:.1} orders/s | {} |\n",
        g.offered_per_second,
        g.offered,
        share(g.accepted, g.offered),
        share(g.refused, g.offered),
        g.admission_limit,
        g.completed,
        g.accepted,
        g.timed_out,
        g.unsettled,
        g.goodput_per_second,
        mark(g.timed_out == 0 && g.unsettled == 0 && g.failed == 0 && g.completed == g.accepted),
    ));
    out.push_str("\n| hop (unloaded, from event times) | orders | p50 | p99 |\n|---|---|---|---|\n");
    for hop in &load.hops {
        out.push_str(&format!("| {} | {} | {:.0} ms | {:.0} ms |\n", hop.hop, hop.count, hop.p50_ms, hop.p99_ms));
    }
    out.push_str("\n| AWS, published (one hop) | p50 | p99 |\n|---|---|---|\n");
    for (hop, p50, p99) in load::AWS_HOPS_MS {
        out.push_str(&format!("| {hop} | {p50:.0} ms | {p99:.0} ms |\n"));
    }
    out
}

/// One binary's row of the cold-start table.
fn cold_start_line(name: &str, f: &ColdStart) -> String {
    format!(
        "| {name} | {:.1} / {:.1} ms | {:.2} ms | {:.1} MB | {} | {:.1} MB |\n",
        f.cold_median_ms,
        f.cold_p95_ms,
        f.warm_median_ms,
        f.size_bytes as f64 / 1_048_576.0,
        f.zip_bytes.map_or("-".into(), |z| format!("{:.1} MB", z as f64 / 1_048_576.0)),
        f.peak_rss_kb as f64 / 1024.0
    )
}

/// P1: against the floor measured in the same run when there is one (the figure that does
/// not depend on the machine), else against the absolute target.
fn cold_start_row(report: &Report, worst_cold: f64) -> String {
    let Some(floor) = report.floor.as_ref().filter(|f| f.cold_median_ms > 0.0) else {
        return format!(
            "| P1 cold start ≤ {COLD_START_TARGET_MS} ms | worst median {worst_cold:.1} ms | {} |\n",
            mark(worst_cold <= COLD_START_TARGET_MS)
        );
    };
    let ratio = worst_cold / floor.cold_median_ms;
    format!(
        "| P1 cold start ≤ {COLD_START_FLOOR_RATIO_TARGET}× the floor | worst median {worst_cold:.1} ms vs {:.1} ms = {ratio:.1}× ({}: ≤ {COLD_START_TARGET_MS} ms) | {} |\n",
        floor.cold_median_ms,
        if worst_cold <= COLD_START_TARGET_MS { "also met" } else { "missed" },
        mark(ratio <= COLD_START_FLOOR_RATIO_TARGET)
    )
}

/// Figures more than `tolerance` (e.g. 0.10) worse than in `previous`, named.
pub fn regressions(previous: &Report, current: &Report, tolerance: f64) -> Vec<String> {
    let mut found = Vec::new();
    // Times and sizes: higher is worse.
    let mut higher = |what: String, before: f64, now: f64| {
        if before > 0.0 && now > before * (1.0 + tolerance) {
            found.push(format!("{what}: {before:.2} -> {now:.2} (+{:.0} %)", (now / before - 1.0) * 100.0));
        }
    };
    for now in &current.functions {
        if let Some(before) = previous.functions.iter().find(|f| f.function == now.function) {
            higher(format!("{} cold start median ms", now.function), before.cold_median_ms, now.cold_median_ms);
            higher(format!("{} size bytes", now.function), before.size_bytes as f64, now.size_bytes as f64);
            higher(format!("{} peak RSS kB", now.function), before.peak_rss_kb as f64, now.peak_rss_kb as f64);
        }
    }
    higher("handler µs per event".into(), previous.handler.handler_us_per_event, current.handler.handler_us_per_event);
    if let (Some(before), Some(now)) = (&previous.emulator, &current.emulator) {
        higher("up seconds".into(), before.up.total_s, now.up.total_s);
        higher("saga latency p99 ms".into(), before.saga.latency_p99_ms, now.saga.latency_p99_ms);
        let cpu_per_order = |saga: &emulator::Saga| saga.emulator_cpu_ms_per_order + saga.functions_cpu_ms_per_order;
        higher("CPU ms per order".into(), cpu_per_order(&before.saga), cpu_per_order(&now.saga));
        // Rates: lower is worse.
        let mut lower = |what: &str, before: f64, now: f64| {
            if before > 0.0 && now < before * (1.0 - tolerance) {
                found.push(format!("{what}: {before:.2} -> {now:.2} (-{:.0} %)", (1.0 - now / before) * 100.0));
            }
        };
        lower("saga orders per second", before.saga.orders_per_second, now.saga.orders_per_second);
        lower("rebuild events per second", before.rebuild.events_per_second, now.rebuild.events_per_second);
        if let (Some(before), Some(now)) = (&before.load, &now.load) {
            lower("capacity orders per second", before.capacity.orders_per_second, now.capacity.orders_per_second);
            lower("goodput orders per second", before.goodput.goodput_per_second, now.goodput.goodput_per_second);
            let completed_share = |g: &load::Goodput| g.completed as f64 / g.accepted.max(1) as f64;
            lower(
                "share of accepted orders completed",
                completed_share(&before.goodput),
                completed_share(&now.goodput),
            );
        }
    }
    found
}

pub fn write(report: &Report, dir: &Path) -> Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| CliError::io(dir, e))?;
    let path = dir.join(format!("{}.json", report.date.replace(':', "-")));
    let text = serde_json::to_string_pretty(report).map_err(|e| CliError::Failed(e.to_string()))?;
    std::fs::write(&path, text + "\n").map_err(|e| CliError::io(&path, e))?;
    Ok(path)
}

pub fn read(path: &Path) -> Result<Report> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| CliError::Failed(format!("{}: not a bench report: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(cold: f64, size: u64, handler: f64) -> Report {
        Report {
            date: "d".into(),
            machine: "m".into(),
            profile_note: String::new(),
            functions: vec![ColdStart {
                function: "payment".into(),
                binary: "b".into(),
                size_bytes: size,
                zip_bytes: None,
                cold_median_ms: cold,
                cold_p95_ms: cold,
                warm_median_ms: 0.5,
                peak_rss_kb: 10_000,
            }],
            floor: None,
            handler: HandlerCpu { handler_us_per_event: handler, bare_parse_us_per_event: 10.0, ratio: handler / 10.0 },
            emulator: None,
        }
    }

    #[test]
    fn a_figure_more_than_the_tolerance_worse_is_a_regression_and_better_ones_are_not() {
        let before = report(10.0, 1_000, 20.0);
        assert!(regressions(&before, &report(10.9, 900, 15.0), 0.10).is_empty());
        let found = regressions(&before, &report(12.0, 1_000, 30.0), 0.10);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("payment cold start median ms: 10.00 -> 12.00 (+20 %)"), "{found:?}");
    }

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let mut values = vec![5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(cold_start::percentile(&mut values, 0.5), 3.0);
        assert_eq!(cold_start::percentile(&mut values, 0.95), 5.0);
        assert_eq!(cold_start::percentile(&mut [], 0.5), 0.0);
    }

    #[test]
    fn with_a_floor_p1_is_read_against_it() {
        let mut measured = report(9.0, 1, 10.0);
        assert!(table(&measured).contains("P1 cold start ≤ 10 ms | worst median 9.0 ms | met"));
        let floor = ColdStart { function: "hello".into(), cold_median_ms: 4.0, ..measured.functions[0].clone() };
        measured.floor = Some(floor);
        let table = table(&measured);
        assert!(table.contains("P1 cold start ≤ 2× the floor | worst median 9.0 ms vs 4.0 ms = 2.2×"), "{table}");
        assert!(table.contains("| missed |\n| P2"), "{table}");
    }
}

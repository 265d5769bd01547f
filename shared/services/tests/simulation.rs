//! A deterministic simulation of the whole system, after FoundationDB's simulation testing
//! and TigerBeetle's VOPR: every saga handler, the outbox relay, the projector, the sweeper
//! and the API run on in-memory adapters, wired as `infra/template.yaml` routes them. A
//! seeded scheduler owns time and delivery: it interleaves the invocations at every call
//! to a port, redelivers, reorders (within what SQS FIFO groups and stream shards allow),
//! crashes invocations between an effect and its record, loses answers after writes, fails
//! stores, the bus and the provider, and delivers duplicated, late and forged callbacks.
//! After every run it checks the invariants in `sim/check.rs`.
//!
//! `SIM_SEEDS=n` runs n seeds (default 3000); `SIM_SEED=s` replays one seed (with
//! `--nocapture`, its figures; a failing seed prints its schedule either way).

mod sim;

use sim::world::World;
use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Instant;

struct Outcome {
    seed: u64,
    steps: usize,
    schedule_hash: u64,
    failure: Option<String>,
    problems: Vec<String>,
}

fn run_seed(seed: u64) -> Outcome {
    let start = chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z").expect("a time").to_utc();
    let _clock = toolkit::clock::simulate(start, seed);
    let mut world = World::new(seed, start);
    world.populate();
    let chaos_steps = 150 + (seed % 7) as usize * 50;
    let settled = world.run(chaos_steps);
    let mut problems = sim::check::violations(&world);
    if let Err(stuck) = settled {
        problems.insert(0, stuck);
    }
    let net = sim::adapters::lock(&world.net);
    let mut hasher = DefaultHasher::new();
    for line in &net.schedule {
        // Ids are seeded too, so the schedule text identifies the interleaving.
        line.hash(&mut hasher);
    }
    let failure = (!problems.is_empty()).then(|| {
        let tail: Vec<&String> = net.schedule.iter().rev().take(120).collect::<Vec<_>>().into_iter().rev().collect();
        let path = std::env::temp_dir().join(format!("orderflow-sim-{seed}.log"));
        let _ = std::fs::write(&path, net.schedule.join("\n"));
        format!(
            "seed {seed} broke {} invariant(s):\n  - {}\nlast steps of its schedule (whole schedule: {}):\n{}\nreplay: SIM_SEED={seed} cargo test -p orderflow-services --test simulation -- --nocapture",
            problems.len(),
            problems.join("\n  - "),
            path.display(),
            tail.iter().map(|l| l.as_str()).collect::<Vec<_>>().join("\n"),
        )
    });
    Outcome { seed, steps: world.steps, schedule_hash: hasher.finish(), failure, problems }
}

fn seeds() -> Vec<u64> {
    if let Ok(seed) = std::env::var("SIM_SEED") {
        return vec![seed.trim().parse().expect("SIM_SEED is a number")];
    }
    let count: u64 = std::env::var("SIM_SEEDS").ok().and_then(|n| n.trim().parse().ok()).unwrap_or(3000);
    (1..=count).collect()
}

#[test]
fn every_schedule_keeps_every_invariant() {
    let seeds = seeds();
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get).min(4);
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let chunks: Vec<Vec<u64>> =
            (0..threads).map(|t| seeds.iter().copied().skip(t).step_by(threads).collect()).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(move || chunk.into_iter().map(run_seed).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("a simulation thread")).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let distinct: BTreeSet<u64> = outcomes.iter().map(|o| o.schedule_hash).collect();
    let steps: usize = outcomes.iter().map(|o| o.steps).sum();
    let failures: Vec<&Outcome> = outcomes.iter().filter(|o| o.failure.is_some()).collect();
    let figures = format!(
        "simulation: {} seeds, {} distinct schedules, {steps} steps in {elapsed:.1} s ({:.0} schedules/s, {:.0} steps/s on {threads} threads), {} failed",
        outcomes.len(),
        distinct.len(),
        distinct.len() as f64 / elapsed,
        steps as f64 / elapsed,
        failures.len()
    );
    println!("{figures}");
    // `orderflow test` prints the reports in this folder at the end (passing tests cannot print).
    if let Some(dir) = std::env::var_os("ORDERFLOW_REPORT_DIR") {
        let _ = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(std::path::Path::new(&dir).join("simulation.txt"), format!("{figures}\n")));
    }
    if let Some(first) = failures.first() {
        let each: Vec<String> =
            failures.iter().take(400).map(|o| format!("  seed {}: {}", o.seed, o.problems.join("; "))).collect();
        panic!(
            "{} of {} seeds failed:\n{}\n\nthe first in full:\n{}",
            failures.len(),
            outcomes.len(),
            each.join("\n"),
            first.failure.as_deref().unwrap_or_default()
        );
    }
}

#[test]
fn a_seed_replays_the_same_schedule() {
    let (first, again) = (run_seed(42), run_seed(42));
    assert_eq!(first.schedule_hash, again.schedule_hash);
    assert_eq!(first.steps, again.steps);
}

#[test]
fn the_routing_table_matches_the_template() {
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/template.yaml"))
        .expect("the template");
    let patterns: Vec<String> =
        template.lines().filter_map(|line| line.trim().strip_prefix("detail-type: ")).map(str::to_string).collect();
    for (queue, _, types) in sim::net::ROUTES.iter().filter(|(queue, _, _)| *queue != "analytics") {
        let pattern = format!("[{}]", types.join(", "));
        assert!(patterns.contains(&pattern), "no rule in the template routes {pattern} (the {queue} queue)");
    }
    // Analytics takes every order event: anything but the SKU streams' events.
    let anything_but = format!("[{{ anything-but: [{}] }}]", sim::net::ANALYTICS_EXCLUDES.join(", "));
    assert!(patterns.contains(&anything_but), "the analytics rule is {anything_but}");
    let (_, _, analytics) = sim::net::ROUTES.iter().find(|(q, _, _)| *q == "analytics").expect("analytics");
    let mut every_order_event: Vec<&str> =
        <domain::OrderEvent as domain::EventCodec>::VERSIONS.iter().map(|(t, _)| *t).collect();
    every_order_event.sort_unstable();
    let mut routed = analytics.to_vec();
    routed.sort_unstable();
    assert_eq!(routed, every_order_event, "analytics hears every order event");
    for filter in ["amountMinor: [{ numeric: [\">\", 0] }]", "notify: [email]", "notify: [sms]"] {
        assert!(template.contains(filter), "the content filter {filter} is in the template and in sim::net::accepts");
    }
    let fifo_routes = sim::net::ROUTES.iter().any(|(_, fifo, _)| *fifo);
    assert_eq!(template.contains("FifoQueue: true"), fifo_routes, "FIFO queues in the template and the simulation");
    let retries: Vec<&str> = template.lines().filter(|l| l.trim().starts_with("MaximumRetryAttempts:")).collect();
    assert!(
        sim::world::STREAM_MAX_RETRIES.is_none() && retries.iter().all(|l| l.trim() == "MaximumRetryAttempts: -1"),
        "the stream mappings retry without limit in the simulation and the template: {retries:?}"
    );
}

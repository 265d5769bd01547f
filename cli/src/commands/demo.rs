//! `orderflow demo`: everything a newcomer needs to see one order flow: install, start,
//! build (debug unless asked: the emulator runs host processes), deploy, place a valid and a
//! rejected order, print where each ended.

use super::Global;
use crate::Result;
use crate::ops::replay;
use crate::stacks::build::Profile;
use services::views::OrderView;

const ONCE: replay::Pace = replay::Pace { rate: None, count: 1, wait: true };

/// The scenarios the demo replays, one order each, ending in each final state but the timeout.
pub const SCENARIOS: [&str; 4] = ["happy-path", "payment-declined", "out-of-stock", "fraud-hold"];

pub async fn run(global: Global, profile: Option<Profile>) -> Result<()> {
    let (context, _stack) = super::up::up(global, profile).await?;
    let mut views = Vec::new();
    for scenario in SCENARIOS {
        println!();
        views
            .extend(replay::run(&context, &context.project.events_dir().join("scenarios").join(scenario), ONCE).await?);
    }
    println!();
    for view in &views {
        print_order(view);
    }
    println!("\nnext: `orderflow status`, `orderflow replay events/scenarios/mixed-burst`, `orderflow down`");
    Ok(())
}

pub fn print_order(view: &OrderView) {
    let path: Vec<&str> = view.timeline.iter().map(|e| e.event_type.trim_start_matches("Order")).collect();
    println!("order {}  {}  (customer {}, total {})", view.order_id, path.join(" -> "), view.customer_id, view.total);
    let start = view.timeline.first().map(|e| e.occurred_at);
    for entry in &view.timeline {
        let after = start.map(|s| (entry.occurred_at - s).num_milliseconds()).unwrap_or(0);
        println!(
            "  v{} {:<16} {}  (+{after} ms)",
            entry.version,
            entry.event_type,
            entry.occurred_at.format("%H:%M:%S%.3f")
        );
    }
    for reason in &view.rejection_reasons {
        println!("  rejected: {reason}");
    }
    if let Some(reason) = &view.status_reason {
        println!("  {:?}: {reason}", view.status);
    }
}

/// The arguments of `orderflow demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// What to deploy: `debug` (host binaries, built in seconds; what the emulator `up`
    /// runs on this machine needs) or `release` (cargo-lambda, optimized: AWS, and
    /// emulators that run functions in containers). Default: debug on the emulator `up`
    /// manages, release elsewhere.
    #[arg(long, value_enum)]
    pub build: Option<Profile>,
}

impl DemoArgs {
    /// Runs the command.
    pub async fn run(self, global: super::Global) -> crate::Result<()> {
        run(global, self.build).await
    }
}

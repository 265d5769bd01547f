//! `orderflow demo`: everything a newcomer needs to see one order flow: install, start,
//! build (release), deploy, place a valid and a rejected order, print where each ended.

use super::replay::{self, Replayed};
use super::{Context, Global};
use crate::build::Profile;
use crate::stack::StackInfo;
use crate::{CliError, Result};
use shared::views::OrderView;
use std::time::{Duration, Instant};

pub const SAMPLES: [&str; 2] = [
    "api/place-order-valid.json",
    "api/place-order-rejected.json",
];
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(global: Global) -> Result<()> {
    let (context, stack) = super::up::up(global, Profile::Release).await?;
    println!();
    let mut placed: Vec<Replayed> = Vec::new();
    for sample in SAMPLES {
        placed.extend(replay::run(&context, &context.project.events_dir().join(sample)).await?);
    }
    println!();
    for order_id in placed.iter().filter_map(Replayed::order_id) {
        let view = wait_for_terminal(&context, &stack, order_id).await?;
        print_order(&view);
    }
    println!("\nnext: `orderflow status`, `orderflow replay events/api`, `orderflow down`");
    Ok(())
}

/// Polls `GET /orders/{id}` until the order reaches a terminal status.
pub async fn wait_for_terminal(
    context: &Context,
    stack: &StackInfo,
    order_id: &str,
) -> Result<OrderView> {
    let url = format!(
        "{}/orders/{order_id}",
        stack.api_url(&context.clients.target)?
    );
    let http = reqwest::Client::new();
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let mut last = String::from("never answered");
    while Instant::now() < deadline {
        if let Ok(response) = http.get(&url).send().await {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            if let Ok(view) = serde_json::from_str::<OrderView>(&text)
                && view.status.is_terminal()
            {
                return Ok(view);
            }
            last = format!("{status} {text}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(CliError::Failed(format!(
        "order {order_id} did not reach a final state within {} s (last answer: {last}); see `orderflow status`",
        SETTLE_TIMEOUT.as_secs()
    )))
}

pub fn print_order(view: &OrderView) {
    let path: Vec<&str> = view
        .timeline
        .iter()
        .map(|e| e.event_type.trim_start_matches("Order"))
        .collect();
    println!(
        "order {}  {}  (customer {}, total {})",
        view.order_id,
        path.join(" -> "),
        view.customer_id,
        view.total
    );
    let start = view.timeline.first().map(|e| e.occurred_at);
    for entry in &view.timeline {
        let after = start
            .map(|s| (entry.occurred_at - s).num_milliseconds())
            .unwrap_or(0);
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
}

//! `orderflow status`: the stack, its queues and dead-letter queues, the latest events.

use crate::Result;
use crate::context::Context;
use crate::ops::figures::{self, EventHead};
use crate::stacks::stack::StackInfo;

const LATEST_EVENTS: usize = 10;
/// How far back `status` looks for the latest events (through the store's time index).
const LOOK_BACK: chrono::Duration = chrono::Duration::hours(24);
/// The latest events read to find the most recently changed orders.
const LAG_SAMPLE_EVENTS: usize = 500;
/// Minutes of throughput shown.
const THROUGHPUT_MINUTES: u32 = 5;

pub async fn run(context: &Context) -> Result<()> {
    context.require_reachable().await?;
    let stack = context.stack_info().await?;
    super::deploy::print_endpoints(context, &stack)?;
    println!("\nqueues (visible / in flight)");
    for (name, url) in stack.queues() {
        let (visible, in_flight) = figures::queue_depth(&context.clients, url).await?;
        let warn = if name.contains("DeadLetter") && visible > 0 { "  <- failed messages, see the DLQ" } else { "" };
        println!("  {name:<36} {visible:>6} / {in_flight:<6}{warn}");
    }
    let table = stack.output("EventStoreTableName")?;
    let since = chrono::Utc::now() - chrono::Duration::minutes(i64::from(THROUGHPUT_MINUTES));
    print_throughput(&figures::events_since(&context.clients, table, since).await?);
    let latest = figures::latest_events(&context.clients, table, LAG_SAMPLE_EVENTS, LOOK_BACK).await?;
    print_read_model_lag(context, &stack, &latest).await?;
    println!("\nlatest events");
    if latest.is_empty() {
        println!("  (none in the last {} hours)", LOOK_BACK.num_hours());
    }
    let events = latest.into_iter().take(LATEST_EVENTS);
    for event in events {
        println!(
            "  {}  {:<16} {} v{}  correlation {}",
            event.occurred_at.format("%H:%M:%S%.3f"),
            event.event_type,
            event.stream_id,
            event.version,
            event.correlation_id
        );
    }
    Ok(())
}

/// Events per minute per type over the last minutes (what the dashboard's throughput shows).
fn print_throughput(newest_first: &[EventHead]) {
    let (minutes, counts) = figures::per_minute(newest_first, chrono::Utc::now(), THROUGHPUT_MINUTES);
    println!("\nevents per minute (UTC)");
    if counts.is_empty() {
        println!("  (none in the last {THROUGHPUT_MINUTES} minutes)");
        return;
    }
    println!("  {:<20}{}", "", minutes.iter().map(|m| format!("{m:>7}")).collect::<String>());
    for (event_type, per_minute) in &counts {
        println!("  {event_type:<20}{}", per_minute.iter().map(|n| format!("{n:>7}")).collect::<String>());
    }
}

/// Orders checked for a read model behind the store, the most recently changed first.
const LAG_SAMPLE: usize = 50;
/// An order's last event must be this old before its stale view counts as lagging.
const LAG_GRACE: chrono::Duration = chrono::Duration::seconds(15);

/// Warns when read models have not applied their orders' last stored events: the stream
/// consumers are behind or stopped (after an emulator restart, they stay stopped).
async fn print_read_model_lag(context: &Context, stack: &StackInfo, newest_first: &[EventHead]) -> Result<()> {
    let views = services::views::DynamoOrderViews::new(context.clients.dynamodb(), stack.output("OrderViewTableName")?);
    let mut latest: Vec<&EventHead> = Vec::new();
    for event in newest_first.iter().filter(|e| e.stream_id.starts_with("order-")) {
        if latest.len() >= LAG_SAMPLE {
            break;
        }
        if !latest.iter().any(|seen| seen.stream_id == event.stream_id) {
            latest.push(event);
        }
    }
    let now = chrono::Utc::now();
    let mut lagging = Vec::new();
    for event in latest.iter().filter(|e| now - e.occurred_at > LAG_GRACE) {
        let Some(order_id) = event.stream_id.strip_prefix("order-").and_then(domain::OrderId::parse) else {
            continue;
        };
        let applied = services::views::OrderViews::get(&views, order_id).await.ok().flatten().map_or(0, |v| v.version);
        if applied < event.version {
            lagging.push(*event);
        }
    }
    if let Some(oldest) = lagging.iter().map(|e| e.occurred_at).min() {
        // Republishing more than needed is harmless: every consumer is idempotent.
        let minutes = 2 * (now - oldest).num_minutes() + 5;
        println!(
            "\nread model behind the store for {} of the {} most recently changed orders (oldest event {} s ago):\n  \
             the stream consumers are behind or stopped (an emulator restarted with saved state stops them);\n  \
             if it does not catch up: orderflow republish --minutes {minutes} --until-quiet",
            lagging.len(),
            latest.len(),
            (now - oldest).num_seconds()
        );
    }
    Ok(())
}

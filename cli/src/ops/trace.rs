//! The causal trace of one order: every event it caused, in every stream, as a tree of
//! causes (each event's `causationId` is the id of the event that led to it), with the
//! time of each event, the gap from its cause, the service that wrote it, and the dead
//! letters it left.

use crate::ops::dlq::{self, Letter};
use crate::stacks::stack::StackInfo;
use crate::stacks::target::Clients;
use crate::{CliError, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use domain::OrderId;
use serde::Serialize;
use toolkit::envelope::EventEnvelope;

/// One event of the trace and what it caused.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceNode {
    pub event_id: String,
    pub event_type: String,
    pub stream_id: String,
    pub version: u64,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    /// Milliseconds since the event that caused it (none for a root).
    pub gap_ms: Option<i64>,
    /// The service that wrote it.
    pub producer: &'static str,
    /// Dead letters of consumers that gave up on this event.
    pub dead_letters: Vec<Letter>,
    pub caused: Vec<TraceNode>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    pub order_id: String,
    pub correlation_id: String,
    pub events: usize,
    /// Roots: events caused by something outside the store (an API request, the schedule).
    pub roots: Vec<TraceNode>,
    /// Dead letters of this correlation id that name no event of the trace (e.g. a body
    /// that was not an event at all).
    pub unattached_dead_letters: Vec<Letter>,
}

/// The service that appends an event type (as the template wires them).
pub fn producer_of(event_type: &str) -> &'static str {
    match event_type {
        "OrderPlaced" | "StockAdded" => "api-ingress",
        "OrderValidated" | "OrderRejected" => "order-validator",
        "FraudCleared" | "FraudSuspected" => "fraud-detector",
        "StockAllocated" | "StockDeallocated" | "StockCommitted" | "ShelfSnapshot" | "StockReserved" | "OutOfStock"
        | "StockReleased" => "inventory",
        "PaymentAuthorized" | "PaymentDeclined" | "PaymentVoided" => "payment",
        "ShipmentScheduled" => "shipping",
        "OrderTimedOut" => "timeout-sweeper",
        _ => "?",
    }
}

pub async fn trace(clients: &Clients, stack: &StackInfo, order_id: &str) -> Result<Trace> {
    let id =
        OrderId::parse(order_id).ok_or_else(|| CliError::Usage(format!("`{order_id}` is not an order id (a UUID)")))?;
    let table = stack.output("EventStoreTableName")?;
    let stream = query(clients, table, &id.stream_id().to_string()).await?;
    let first = stream.first().ok_or_else(|| CliError::Failed(format!("order {id} is not in the event store")))?;
    let correlation_id = first.correlation_id.as_str().to_string();
    let mut events = by_correlation(clients, table, &correlation_id).await?;
    // Other orders may share a caller's correlation id: keep this order's streams only.
    events.retain(|e| e.stream_id == first.stream_id || e.payload["orderId"] == id.to_string().as_str());
    events.sort_by_key(|e| e.occurred_at);
    let mut letters = Vec::new();
    for queue in dlq::queues(stack) {
        // Reading a queue waits for a poll that finds nothing: skip the empty ones.
        let (visible, in_flight) = crate::ops::figures::queue_depth(clients, &queue.url).await?;
        if visible + in_flight == 0 {
            continue;
        }
        let found = dlq::show(clients, &queue).await?;
        letters.extend(found.into_iter().filter(|l| l.correlation_id.as_deref() == Some(correlation_id.as_str())));
    }
    Ok(build(id.to_string(), correlation_id, events, letters))
}

/// Arranges events into trees by cause, and hangs each dead letter on its event.
pub fn build(order_id: String, correlation_id: String, events: Vec<EventEnvelope>, letters: Vec<Letter>) -> Trace {
    let ids: Vec<String> = events.iter().map(|e| e.event_id.to_string()).collect();
    let is_root = |e: &EventEnvelope| !ids.contains(&e.causation_id.as_str().to_string());
    let mut attached = vec![false; letters.len()];
    let roots =
        events.iter().filter(|e| is_root(e)).map(|root| node(root, None, &events, &letters, &mut attached)).collect();
    let unattached_dead_letters = letters.iter().zip(&attached).filter(|(_, a)| !**a).map(|(l, _)| l.clone()).collect();
    Trace { order_id, correlation_id, events: events.len(), roots, unattached_dead_letters }
}

fn node(
    event: &EventEnvelope,
    cause: Option<&EventEnvelope>,
    events: &[EventEnvelope],
    letters: &[Letter],
    attached: &mut [bool],
) -> TraceNode {
    let event_id = event.event_id.to_string();
    let mut dead_letters = Vec::new();
    for (letter, done) in letters.iter().zip(attached.iter_mut()) {
        if letter.event_id.as_deref() == Some(event_id.as_str()) {
            dead_letters.push(letter.clone());
            *done = true;
        }
    }
    let caused = events
        .iter()
        .filter(|child| child.causation_id.as_str() == event_id)
        .map(|child| node(child, Some(event), events, letters, attached))
        .collect();
    TraceNode {
        event_id,
        event_type: event.event_type.clone(),
        stream_id: event.stream_id.as_str().to_string(),
        version: event.version,
        occurred_at: event.occurred_at,
        gap_ms: cause.map(|c| (event.occurred_at - c.occurred_at).num_milliseconds()),
        producer: producer_of(&event.event_type),
        dead_letters,
        caused,
    }
}

/// The tree as text, one event per line.
pub fn render(trace: &Trace) -> String {
    let mut out = format!("order {}  correlation {}  {} events\n", trace.order_id, trace.correlation_id, trace.events);
    for root in &trace.roots {
        render_node(root, "", "", &mut out);
    }
    for letter in &trace.unattached_dead_letters {
        out.push_str(&format!("✗ dead letter from {}: {}\n", letter.consumer.as_deref().unwrap_or("?"), letter.reason));
    }
    out
}

fn render_node(node: &TraceNode, lead: &str, rest: &str, out: &mut String) {
    let gap = node.gap_ms.map_or_else(|| "start".to_string(), |ms| format!("+{ms} ms"));
    let stream = if node.stream_id.starts_with("order-") { String::new() } else { format!(" [{}]", node.stream_id) };
    out.push_str(&format!(
        "{lead}{} v{}{stream}  {}  {gap}  by {}\n",
        node.event_type,
        node.version,
        node.occurred_at.format("%H:%M:%S%.3f"),
        node.producer
    ));
    for letter in &node.dead_letters {
        out.push_str(&format!(
            "{rest}  ✗ {} gave up: {}\n",
            letter.consumer.as_deref().unwrap_or("SQS"),
            letter.reason
        ));
    }
    for (i, child) in node.caused.iter().enumerate() {
        let last = i + 1 == node.caused.len();
        let (branch, next) = if last { ("└─ ", "   ") } else { ("├─ ", "│  ") };
        render_node(child, &format!("{rest}{branch}"), &format!("{rest}{next}"), out);
    }
}

async fn query(clients: &Clients, table: &str, stream_id: &str) -> Result<Vec<EventEnvelope>> {
    let items = crate::ops::rebuild::stream_items(&clients.dynamodb(), table, stream_id).await?;
    Ok(items.into_iter().filter_map(|item| toolkit::store::time_index::envelope_from_item(item).ok()).collect())
}

/// The event store's index of events by correlation id (`infra/template.yaml`).
pub const BY_CORRELATION_INDEX: &str = "byCorrelation";

/// Every stored event of one correlation id, in time order: one Query of the
/// correlation index, however large the store.
pub async fn by_correlation(clients: &Clients, table: &str, correlation_id: &str) -> Result<Vec<EventEnvelope>> {
    let items: Vec<_> = clients
        .dynamodb()
        .query()
        .table_name(table)
        .index_name(BY_CORRELATION_INDEX)
        .key_condition_expression("correlationId = :c")
        .expression_attribute_values(":c", AttributeValue::S(correlation_id.to_string()))
        .into_paginator()
        .items()
        .send()
        .collect::<std::result::Result<_, _>>()
        .await
        .map_err(|e| CliError::aws("Query (index byCorrelation; redeploy a stack made before it existed)", e))?;
    items
        .into_iter()
        .map(|item| {
            toolkit::store::time_index::envelope_from_item(item)
                .map_err(|e| CliError::Failed(format!("a stored event is not an envelope: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolkit::envelope::{CausationId, CorrelationId, EventId, StreamId};

    fn event(event_type: &str, stream: &str, version: u64, id: &str, cause: &str, ms: i64) -> EventEnvelope {
        EventEnvelope {
            event_id: EventId(id.parse().unwrap()),
            stream_id: StreamId::new(stream),
            version,
            event_type: event_type.into(),
            schema_version: 1,
            occurred_at: chrono::DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap(),
            correlation_id: CorrelationId::new("c-1"),
            causation_id: CausationId::new(cause),
            trace_id: None,
            payload: serde_json::json!({}),
        }
    }

    fn id(n: u8) -> String {
        format!("00000000-0000-4000-8000-0000000000{n:02}")
    }

    #[test]
    fn it_arranges_events_by_cause_with_the_gap_from_each_cause() {
        let events = vec![
            event("OrderPlaced", "order-1", 1, &id(1), "request-1", 0),
            event("OrderValidated", "order-1", 2, &id(2), &id(1), 300),
            event("FraudCleared", "order-1", 3, &id(3), &id(2), 450),
            event("StockAllocated", "sku-TEA", 7, &id(4), &id(3), 500),
            event("StockReserved", "order-1", 4, &id(5), &id(3), 520),
        ];
        let trace = build("1".into(), "c-1".into(), events, Vec::new());
        assert_eq!(trace.roots.len(), 1);
        let fraud = &trace.roots[0].caused[0].caused[0];
        assert_eq!(fraud.event_type, "FraudCleared");
        assert_eq!(fraud.gap_ms, Some(150));
        let children: Vec<_> = fraud.caused.iter().map(|n| (n.event_type.as_str(), n.gap_ms)).collect();
        assert_eq!(children, vec![("StockAllocated", Some(50)), ("StockReserved", Some(70))]);
        let text = render(&trace);
        assert!(text.contains("      ├─ StockAllocated v7 [sku-TEA]"), "{text}");
        assert!(text.contains("      └─ StockReserved v4  ") && text.contains("+70 ms  by inventory"), "{text}");
    }
}

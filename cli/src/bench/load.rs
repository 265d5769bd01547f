//! Load figures on the private emulator: capacity (the highest steady arrival rate whose
//! placed-to-final p99 stays under [`LATENCY_BOUND_MS`]), goodput under a burst at three
//! times that capacity with admission control on, and latency per hop (each causal step,
//! from the event times in the store) next to the published AWS figures.

use super::cold_start::percentile;
use super::emulator::{Api, wait_until_final};
use crate::stacks::stack::StackInfo;
use crate::stacks::target::Clients;
use crate::{CliError, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// The bound on placed-to-final p99 that defines capacity: about three times an unloaded
/// order's 1.0-1.5 s, well inside any order timeout.
pub const LATENCY_BOUND_MS: f64 = 5_000.0;
/// Arrival rates tried for capacity, in orders per second, lowest first (until one misses
/// the bound; the emulator on 2 cores has reached 20).
const RATES: [f64; 14] = [2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 16.0, 20.0, 24.0, 28.0, 32.0, 40.0, 48.0, 64.0];
/// How long each rate is offered.
const STEP: Duration = Duration::from_secs(20);
/// How long the burst at three times capacity is offered.
const BURST: Duration = Duration::from_secs(30);
/// SKUs orders are spread over (as the saga burst does).
const SKUS: usize = 20;

/// Published AWS latencies (p50, p99 ms) for the hops our saga takes, from
/// bitesizedserverless.com, "Serverless Messaging: Latency Compared".
pub const AWS_HOPS_MS: [(&str, f64, f64); 4] = [
    ("SQS to Lambda", 16.0, 105.0),
    ("SNS to Lambda", 73.0, 225.0),
    ("EventBridge to Lambda", 148.0, 387.0),
    ("DynamoDB Streams to Lambda", 213.0, 552.0),
];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadFigures {
    pub capacity: Capacity,
    pub goodput: Goodput,
    /// Per causal hop at the lowest rate tried (unloaded), most frequent first.
    pub hops: Vec<Hop>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capacity {
    /// The highest rate tried whose p99 stayed under the bound (0 when none did).
    pub orders_per_second: f64,
    pub latency_bound_ms: f64,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub offered_per_second: f64,
    pub orders: usize,
    pub settled: usize,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Goodput {
    pub offered_per_second: f64,
    pub offered: usize,
    pub accepted: usize,
    /// Refused at the door with 503 and Retry-After.
    pub refused: usize,
    /// Any other answer (none expected).
    pub failed: usize,
    /// Accepted orders that completed (Completed, or Cancelled/Rejected by a business rule).
    pub completed: usize,
    pub timed_out: usize,
    /// Accepted orders not final when the wait ended.
    pub unsettled: usize,
    /// Completed orders per second from the first order placed to the last final.
    pub goodput_per_second: f64,
    pub admission_limit: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hop {
    /// `API -> OrderPlaced`, or `<cause event> -> <effect event>`.
    pub hop: String,
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// One order sent: the answer's status, the order id when accepted, when it was sent.
struct Sent {
    status: u16,
    order_id: Option<String>,
    sent_at: DateTime<Utc>,
}

/// Steps up the arrival rate until an order's p99 passes the bound; the hops come from
/// the first (unloaded) step.
pub(super) async fn capacity(clients: &Clients, stack: &StackInfo, api: &Api) -> Result<(Capacity, Vec<Hop>)> {
    let (mut steps, mut hops, mut capacity) = (Vec::new(), Vec::new(), 0.0);
    for rate in RATES {
        let sent = offer(api, "capacity", rate, STEP).await?;
        let ids: Vec<String> = sent.iter().filter_map(|s| s.order_id.clone()).collect();
        let finals = wait_until_final(clients, stack, &ids).await?;
        let events = stored_events(clients, stack).await?;
        let mut latencies = placed_to_final(&events, &ids, &finals);
        let step = Step {
            offered_per_second: rate,
            orders: sent.len(),
            settled: finals.len(),
            latency_p50_ms: percentile(&mut latencies, 0.50),
            latency_p99_ms: percentile(&mut latencies, 0.99),
        };
        eprintln!(
            "capacity: {rate} orders/s offered for {} s: {} of {} final, p50 {:.0} ms, p99 {:.0} ms",
            STEP.as_secs(),
            step.settled,
            step.orders,
            step.latency_p50_ms,
            step.latency_p99_ms
        );
        if hops.is_empty() {
            hops = hops_of(&events, &sent);
        }
        let within = step.settled == step.orders && step.latency_p99_ms <= LATENCY_BOUND_MS;
        steps.push(step);
        if !within {
            break;
        }
        capacity = rate;
    }
    Ok((Capacity { orders_per_second: capacity, latency_bound_ms: LATENCY_BOUND_MS, steps }, hops))
}

/// Offers `rate` orders per second for [`BURST`] to a stack whose admission limit is
/// `limit`, and reads what became of them.
pub(super) async fn goodput(clients: &Clients, stack: &StackInfo, api: &Api, rate: f64, limit: u64) -> Result<Goodput> {
    let started = Instant::now();
    let sent = offer(api, "goodput", rate, BURST).await?;
    let ids: Vec<String> = sent.iter().filter_map(|s| s.order_id.clone()).collect();
    let finals = wait_until_final(clients, stack, &ids).await?;
    let count = |statuses: &[&str]| finals.values().filter(|s| statuses.contains(&s.as_str())).count();
    let completed = count(&["Completed", "Cancelled", "Rejected", "OnHold"]);
    let refused = sent.iter().filter(|s| s.status == 503).count();
    let goodput = Goodput {
        offered_per_second: rate,
        offered: sent.len(),
        accepted: ids.len(),
        refused,
        failed: sent.len() - ids.len() - refused,
        completed,
        timed_out: count(&["TimedOut"]),
        unsettled: ids.len() - finals.len(),
        goodput_per_second: completed as f64 / started.elapsed().as_secs_f64().max(1e-9),
        admission_limit: limit,
    };
    eprintln!(
        "goodput: {rate:.0} orders/s offered for {} s: {} accepted, {} refused (503), {} completed, {} timed out, {} not final",
        BURST.as_secs(),
        goodput.accepted,
        goodput.refused,
        goodput.completed,
        goodput.timed_out,
        goodput.unsettled
    );
    Ok(goodput)
}

/// Sends `rate` orders per second for `duration`, each at its own time (an open loop: a
/// slow answer does not slow the arrivals), and collects the answers.
async fn offer(api: &Api, name: &str, rate: f64, duration: Duration) -> Result<Vec<Sent>> {
    let run = format!("{name}-{}", crate::ops::replay::new_run_id());
    for sku in 0..SKUS {
        let body = serde_json::json!({ "quantity": 100_000 });
        api.post(&format!("/inventory/LOAD-{run}-{sku}/stock"), body, None).await?;
    }
    let count = (rate * duration.as_secs_f64()).round() as usize;
    let start = tokio::time::Instant::now();
    let mut sending = tokio::task::JoinSet::new();
    for i in 0..count {
        let (api, run) = (api.clone(), run.clone());
        let at = start + Duration::from_secs_f64(i as f64 / rate);
        sending.spawn(async move {
            tokio::time::sleep_until(at).await;
            let body = serde_json::json!({
                "customerId": format!("{run}-{i}"),
                "currency": "EUR",
                "lines": [{ "sku": format!("LOAD-{run}-{}", i % SKUS), "quantity": 1, "unitPriceMinor": 1999 }],
            });
            let sent_at = Utc::now();
            let (status, answer) = api.place(body, &format!("{run}-{i}")).await?;
            let order_id = answer["orderId"].as_str().filter(|_| status == 202).map(str::to_string);
            Ok::<_, CliError>(Sent { status, order_id, sent_at })
        });
    }
    let mut sent = Vec::with_capacity(count);
    while let Some(joined) = sending.join_next().await {
        sent.push(joined.map_err(|e| CliError::Failed(e.to_string()))??);
    }
    Ok(sent)
}

/// What the figures need of a stored event.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StoredEvent {
    event_id: String,
    event_type: String,
    pub(super) stream_id: String,
    causation_id: String,
    pub(super) occurred_at: DateTime<Utc>,
}

/// Every stored event (a scan: the bench's store holds only its own runs).
pub(super) async fn stored_events(clients: &Clients, stack: &StackInfo) -> Result<Vec<StoredEvent>> {
    let mut pages = clients
        .dynamodb()
        .scan()
        .table_name(stack.output("EventStoreTableName")?)
        .projection_expression("eventId, eventType, streamId, causationId, occurredAt")
        .into_paginator()
        .items()
        .send();
    let mut events = Vec::new();
    while let Some(item) = pages.next().await {
        let item: HashMap<String, AttributeValue> = item.map_err(|e| CliError::aws("Scan", e))?;
        events.push(serde_dynamo::from_item(item).map_err(|e| CliError::Failed(format!("a stored event: {e}")))?);
    }
    Ok(events)
}

/// Each final order's first event to its last, in ms.
fn placed_to_final(events: &[StoredEvent], ids: &[String], finals: &BTreeMap<String, String>) -> Vec<f64> {
    let ours: HashSet<String> =
        ids.iter().filter(|id| finals.contains_key(*id)).map(|id| format!("order-{id}")).collect();
    let mut spans: HashMap<&str, (DateTime<Utc>, DateTime<Utc>)> = HashMap::new();
    for event in events.iter().filter(|e| ours.contains(&e.stream_id)) {
        let span = spans.entry(&event.stream_id).or_insert((event.occurred_at, event.occurred_at));
        *span = (span.0.min(event.occurred_at), span.1.max(event.occurred_at));
    }
    spans.values().map(|(first, last)| (*last - *first).num_milliseconds() as f64).collect()
}

/// Latency per causal hop for the orders in `sent`: the API's (sent to `OrderPlaced`
/// stored) and each event's from its cause (the event its causation id names), which spans
/// the table's stream, the relay, the bus, a queue and the consumer's decision.
fn hops_of(events: &[StoredEvent], sent: &[Sent]) -> Vec<Hop> {
    let by_id: HashMap<&str, &StoredEvent> = events.iter().map(|e| (e.event_id.as_str(), e)).collect();
    let sent_at: HashMap<String, DateTime<Utc>> =
        sent.iter().filter_map(|s| Some((format!("order-{}", s.order_id.as_ref()?), s.sent_at))).collect();
    let mut delays: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for event in events {
        let (hop, from) = match by_id.get(event.causation_id.as_str()) {
            Some(cause) => (format!("{} -> {}", cause.event_type, event.event_type), cause.occurred_at),
            None if event.event_type == "OrderPlaced" => match sent_at.get(&event.stream_id) {
                Some(at) => ("API -> OrderPlaced".to_string(), *at),
                None => continue,
            },
            None => continue,
        };
        // Only the hops of these orders: their order streams and the SKU events they cause.
        let caused_by_ours = sent_at.contains_key(&event.stream_id)
            || by_id.get(event.causation_id.as_str()).is_some_and(|c| sent_at.contains_key(&c.stream_id));
        if caused_by_ours {
            delays.entry(hop).or_default().push((event.occurred_at - from).num_milliseconds() as f64);
        }
    }
    let mut hops: Vec<Hop> = delays
        .into_iter()
        .map(|(hop, mut ms)| Hop {
            count: ms.len(),
            p50_ms: percentile(&mut ms, 0.50),
            p99_ms: percentile(&mut ms, 0.99),
            hop,
        })
        .collect();
    hops.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.hop.cmp(&b.hop)));
    hops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, kind: &str, stream: &str, cause: &str, ms: i64) -> StoredEvent {
        StoredEvent {
            event_id: id.into(),
            event_type: kind.into(),
            stream_id: stream.into(),
            causation_id: cause.into(),
            occurred_at: DateTime::from_timestamp_millis(ms).unwrap(),
        }
    }

    #[test]
    fn hops_pair_each_event_with_its_cause_and_the_api_with_the_send_time() {
        let events = [
            event("e1", "OrderPlaced", "order-a", "request-1", 1_050),
            event("e2", "OrderValidated", "order-a", "e1", 1_450),
            event("e3", "StockReserved", "sku-X", "e2", 1_950),
            event("x1", "OrderPlaced", "order-other", "request-2", 5_000),
            event("x2", "OrderValidated", "order-other", "x1", 9_000),
        ];
        let sent = [Sent {
            status: 202,
            order_id: Some("a".into()),
            sent_at: DateTime::from_timestamp_millis(1_000).unwrap(),
        }];
        let hops = hops_of(&events, &sent);
        let found: Vec<(&str, usize, f64)> = hops.iter().map(|h| (h.hop.as_str(), h.count, h.p50_ms)).collect();
        assert_eq!(
            found,
            [
                ("API -> OrderPlaced", 1, 50.0),
                ("OrderPlaced -> OrderValidated", 1, 400.0),
                ("OrderValidated -> StockReserved", 1, 500.0)
            ]
        );
    }

    #[test]
    fn placed_to_final_spans_only_final_orders_of_the_run() {
        let events = [
            event("e1", "OrderPlaced", "order-a", "r", 1_000),
            event("e2", "OrderCompleted", "order-a", "e1", 2_500),
            event("e3", "OrderPlaced", "order-b", "r", 1_000),
        ];
        let finals = BTreeMap::from([("a".to_string(), "Completed".to_string())]);
        assert_eq!(placed_to_final(&events, &["a".into(), "b".into()], &finals), vec![1_500.0]);
    }
}

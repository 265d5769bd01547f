//! P3, P5 and P6 on a private emulator (started on a free port, stopped however the run
//! ends) with the release zips deployed:
//!
//! - P6 `up`: emulator start, deploy by change set, and the first answer of the API.
//! - P3 the saga: a burst of orders through the whole saga (orders/s, placed-to-final
//!   latency p50/p99 from the event times in the store), against the emulator's own raw
//!   SQS rate (send, receive, delete) measured on the same emulator in the same run.
//! - P5 `rebuild orders` (batched reads and writes) against a naive loop (one event per
//!   Query, one PutItem per event) on the events the burst left.

use super::cold_start::percentile;
use crate::local::emulator::{ManagedEmulator, StopOnDrop, ensure_tools, free_port};
use crate::ops::rebuild;
use crate::project::Project;
use crate::stacks::api_key;
use crate::stacks::deploy::{DeployRequest, deploy};
use crate::stacks::stack::StackInfo;
use crate::stacks::target::{Clients, Target};
use crate::{CliError, Result};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const STACK: &str = "orderflow-bench";
/// Orders are spread over this many SKUs: one hot SKU would measure contention instead.
const SKUS: usize = 20;
/// Requests in flight at once while placing orders and sending raw messages.
const SENDERS: usize = 8;
/// Concurrent raw receivers: MiniStack runs up to 5 function processes per SQS mapping.
const RAW_RECEIVERS: usize = 5;
/// Raw messages sent per order of the burst (an order makes about three SQS hops or more).
const RAW_MESSAGES_PER_ORDER: usize = 3;
/// The bench key's own limit: high enough that the emulator, not the key, sets the pace.
const RATE_LIMIT_PER_SECOND: u32 = 5_000;
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
const SETTLE_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const NAIVE_BUDGET: Duration = Duration::from_secs(60);
/// Consumers are done when the log has shown no new batch for this long.
const QUIET_FOR: Duration = Duration::from_secs(6);
const QUIET_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmulatorFigures {
    pub up: UpTime,
    pub raw: RawRate,
    pub saga: Saga,
    pub rebuild: RebuildSpeed,
    /// Capacity, goodput under overload and latency per hop (absent in older reports).
    #[serde(default)]
    pub load: Option<super::load::LoadFigures>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpTime {
    pub emulator_start_s: f64,
    pub deploy_s: f64,
    pub first_answer_s: f64,
    pub total_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawRate {
    pub messages: usize,
    pub seconds: f64,
    pub per_second: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Saga {
    pub orders: usize,
    /// Orders that reached a final status before the timeout.
    pub settled: usize,
    pub send_seconds: f64,
    /// First `OrderPlaced` to the last event of a settled order.
    pub seconds: f64,
    /// Events stored in that window, order and SKU streams alike.
    pub events: usize,
    pub orders_per_second: f64,
    pub events_per_second: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub outcomes: BTreeMap<String, usize>,
    /// Messages the SQS consumers processed (their EMF `Processed` lines in the emulator's
    /// log) from the first `OrderPlaced` to their last batch.
    pub sqs_messages: usize,
    /// Stream records the stream consumers processed in the same window (extra hops the
    /// raw comparison leaves out).
    pub stream_records: usize,
    pub messages_seconds: f64,
    pub sqs_messages_per_second: f64,
    /// The saga's SQS messages per second over the raw SQS messages per second.
    pub ratio_to_raw: f64,
    /// CPU the emulator's own process used during the saga, in cores (1.0 = one core busy).
    #[serde(default)]
    pub emulator_cores: f64,
    /// CPU the function processes used during the saga, in cores.
    #[serde(default)]
    pub functions_cores: f64,
    /// CPU the emulator process used per final order, ms (absent in older reports).
    #[serde(default)]
    pub emulator_cpu_ms_per_order: f64,
    /// CPU the function processes used per final order, ms.
    #[serde(default)]
    pub functions_cpu_ms_per_order: f64,
    /// Per consumer, messages (or stream records) and batches during the saga: what one
    /// order costs each function (absent in older reports).
    #[serde(default)]
    pub per_function: BTreeMap<String, FunctionLoad>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionLoad {
    pub records: usize,
    pub batches: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RebuildSpeed {
    pub events: usize,
    pub events_per_second: f64,
    pub naive_events: usize,
    pub naive_events_per_second: f64,
    pub ratio: f64,
    /// Orders whose rebuilt view differs from the live one afterwards (0 expected).
    pub differences: usize,
}

pub async fn measure(project: &Project, zips: &BTreeMap<String, PathBuf>, orders: usize) -> Result<EmulatorFigures> {
    ensure_tools(project)?;
    let template = std::fs::read_to_string(project.template()).map_err(|e| CliError::io(project.template(), e))?;
    let port = free_port()?;
    let target = Target::managed(port);
    let emulator = StopOnDrop(ManagedEmulator::new(project, port));
    let key = format!("ofk_{}", crate::ops::replay::new_run_id());

    let started = Instant::now();
    emulator.0.start().await?;
    let emulator_start = started.elapsed();
    let clients = Clients::new(target.clone()).await;
    let parameters = BTreeMap::from([
        ("EmulatorEndpoint".to_string(), emulator.0.endpoint()),
        ("ApiKeys".to_string(), api_key::admin_parameter_entry("bench", &key, Some(RATE_LIMIT_PER_SECOND))),
        // Capacity is measured without load shedding (the default backlog limit is out of reach).
        (crate::stacks::deploy::WAIT_LIMIT_PARAMETER.to_string(), "0".to_string()),
    ]);
    let request =
        DeployRequest { stack: STACK, template: &template, zips, parameters, first_deploy: Default::default() };
    let stack = deploy(&clients, request).await?;
    let deployed = started.elapsed();
    let api = Api { url: stack.api_url(&target)?, http: api_key::http_client(&key)? };
    api.first_answer().await?;
    let answered = started.elapsed();
    let up = UpTime {
        emulator_start_s: emulator_start.as_secs_f64(),
        deploy_s: deployed.checked_sub(emulator_start).unwrap().as_secs_f64(),
        first_answer_s: answered.checked_sub(deployed).unwrap().as_secs_f64(),
        total_s: answered.as_secs_f64(),
    };
    eprintln!(
        "P6 up: {:.1} s (emulator {:.1} s, deploy {:.1} s, first answer {:.1} s)",
        up.total_s, up.emulator_start_s, up.deploy_s, up.first_answer_s
    );

    let raw = raw_rate(&clients, project, orders * RAW_MESSAGES_PER_ORDER).await?;
    eprintln!(
        "P3 raw SQS: {} messages sent, received and deleted in {:.1} s ({:.0}/s)",
        raw.messages, raw.seconds, raw.per_second
    );
    let consumers = Consumers::of(&template, emulator.0.log_file())?;
    let pid = emulator.0.running_pid().ok_or_else(|| CliError::Failed("the private emulator stopped".into()))?;
    let saga = saga(&clients, &stack, &api, &consumers, pid, orders, raw.per_second).await?;
    eprintln!(
        "P3 saga: {} of {} orders final in {:.1} s ({:.1} orders/s, {:.0} events/s), latency p50 {:.0} ms p99 {:.0} ms",
        saga.settled,
        saga.orders,
        saga.seconds,
        saga.orders_per_second,
        saga.events_per_second,
        saga.latency_p50_ms,
        saga.latency_p99_ms
    );
    let rebuild = rebuild_speed(project, &clients, &stack).await?;
    eprintln!(
        "P5 rebuild: {:.0} events/s against {:.0} events/s naively ({:.1}x); {} differences afterwards",
        rebuild.events_per_second, rebuild.naive_events_per_second, rebuild.ratio, rebuild.differences
    );
    let load = load(&clients, &stack, &api, &template, zips, emulator.0.endpoint()).await?;
    drop(emulator);
    Ok(EmulatorFigures { up, raw, saga, rebuild, load: Some(load) })
}

/// Capacity and hops on the stack as deployed (no admission limit), then goodput at three
/// times capacity after a redeploy with the emulator's admission limits and the tests'
/// order timeout (so that an order accepted and then left behind would time out).
async fn load(
    clients: &Clients,
    stack: &StackInfo,
    api: &Api,
    template: &str,
    zips: &BTreeMap<String, PathBuf>,
    endpoint: String,
) -> Result<super::load::LoadFigures> {
    let (capacity, hops) = super::load::capacity(clients, stack, api).await?;
    let limit = u64::from(crate::stacks::deploy::EMULATOR_ADMISSION_BACKLOG_LIMIT);
    let parameters = BTreeMap::from([
        ("EmulatorEndpoint".to_string(), endpoint),
        (crate::stacks::deploy::ADMISSION_PARAMETER.to_string(), limit.to_string()),
        ("OrderTimeoutSeconds".to_string(), crate::stacks::deploy::TEST_ORDER_TIMEOUT_SECONDS.to_string()),
        (
            crate::stacks::deploy::WAIT_LIMIT_PARAMETER.to_string(),
            crate::stacks::deploy::TEST_ADMISSION_WAIT_LIMIT_SECONDS.to_string(),
        ),
    ]);
    let request = DeployRequest { stack: STACK, template, zips, parameters, first_deploy: Default::default() };
    deploy(clients, request).await?;
    let rate = 3.0 * capacity.orders_per_second.max(1.0);
    let goodput = super::load::goodput(clients, stack, api, rate, limit).await?;
    Ok(super::load::LoadFigures { capacity, goodput, hops })
}

/// The stack's HTTP API with the bench's key.
#[derive(Clone)]
pub(super) struct Api {
    url: String,
    http: reqwest::Client,
}

impl Api {
    /// Waits for the API function's first answer to a query (its cold start included).
    async fn first_answer(&self) -> Result<()> {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        let url = format!("{}/analytics/orders", self.url);
        let mut last = String::from("no answer");
        while Instant::now() < deadline {
            match self.http.get(&url).send().await {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => last = format!("HTTP {}", response.status()),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(CliError::Failed(format!("GET {url} did not answer within {} s: {last}", ANSWER_TIMEOUT.as_secs())))
    }

    /// `POST /orders`: the answer's status and body, whatever the status.
    pub(super) async fn place(&self, body: serde_json::Value, correlation: &str) -> Result<(u16, serde_json::Value)> {
        let request =
            self.http.post(format!("{}/orders", self.url)).json(&body).header("x-correlation-id", correlation);
        let response = request.send().await.map_err(|e| CliError::Failed(format!("POST /orders: {e}")))?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or_default()))
    }

    pub(super) async fn post(
        &self,
        path: &str,
        body: serde_json::Value,
        correlation: Option<&str>,
    ) -> Result<serde_json::Value> {
        let mut request = self.http.post(format!("{}{path}", self.url)).json(&body);
        if let Some(correlation) = correlation {
            request = request.header("x-correlation-id", correlation);
        }
        let response = request.send().await.map_err(|e| CliError::Failed(format!("POST {path}: {e}")))?;
        let status = response.status();
        let answer: serde_json::Value = response.json().await.unwrap_or_default();
        match status.is_success() {
            true => Ok(answer),
            false => Err(CliError::Failed(format!("POST {path} answered {status}: {answer}"))),
        }
    }
}

/// Runs `job(i)` for every `i < count`, `workers` at a time; the first error ends it.
async fn in_parallel<T, F, Fut>(count: usize, workers: usize, job: F) -> Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<T>> + Send,
{
    let (job, next) = (Arc::new(job), Arc::new(AtomicUsize::new(0)));
    let mut running = tokio::task::JoinSet::new();
    for _ in 0..workers.min(count) {
        let (job, next) = (job.clone(), next.clone());
        running.spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, CliError>(done);
                }
                done.push((i, job(i).await?));
            }
        });
    }
    let mut results = Vec::with_capacity(count);
    while let Some(joined) = running.join_next().await {
        results.extend(joined.map_err(|e| CliError::Failed(e.to_string()))??);
    }
    results.sort_by_key(|(i, _)| *i);
    Ok(results.into_iter().map(|(_, result)| result).collect())
}

/// The emulator's raw SQS rate: `messages` realistic event bodies sent in batches of 10
/// while [`RAW_RECEIVERS`] receive and delete them in batches, until every one is deleted.
async fn raw_rate(clients: &Clients, project: &Project, messages: usize) -> Result<RawRate> {
    let sample = project.events_dir().join("domain").join("order-placed.json");
    let body = std::fs::read_to_string(&sample).map_err(|e| CliError::io(&sample, e))?;
    let sqs = clients.sqs();
    let name = format!("orderflow-bench-raw-{}", crate::ops::replay::new_run_id());
    let created = sqs.create_queue().queue_name(&name).send().await.map_err(|e| CliError::aws("CreateQueue", e))?;
    let queue = created.queue_url.ok_or_else(|| CliError::Failed(format!("CreateQueue {name}: no queue URL")))?;
    let started = Instant::now();
    let deleted = Arc::new(AtomicUsize::new(0));
    let deadline = started + Duration::from_secs(120) + Duration::from_millis(20) * messages as u32;
    let mut receivers = tokio::task::JoinSet::new();
    for _ in 0..RAW_RECEIVERS {
        let (sqs, queue, deleted) = (sqs.clone(), queue.clone(), deleted.clone());
        receivers.spawn(async move { receive_and_delete(&sqs, &queue, &deleted, messages, deadline).await });
    }
    let (send_sqs, send_queue) = (sqs.clone(), queue.clone());
    in_parallel(messages.div_ceil(10), SENDERS, move |batch| {
        let (sqs, queue, body) = (send_sqs.clone(), send_queue.clone(), body.clone());
        async move {
            let entries = (0..10.min(messages - batch * 10))
                .map(|i| SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(body.clone()).build())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| CliError::Failed(e.to_string()))?;
            let sent = sqs.send_message_batch().queue_url(queue).set_entries(Some(entries)).send().await;
            sent.map_err(|e| CliError::aws("SendMessageBatch", e)).map(drop)
        }
    })
    .await?;
    while let Some(joined) = receivers.join_next().await {
        joined.map_err(|e| CliError::Failed(e.to_string()))??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let _ = sqs.delete_queue().queue_url(&queue).send().await;
    let done = deleted.load(Ordering::Relaxed);
    if done < messages {
        return Err(CliError::Failed(format!(
            "raw SQS rate: only {done} of {messages} messages came back in {seconds:.0} s"
        )));
    }
    Ok(RawRate { messages, seconds, per_second: messages as f64 / seconds })
}

async fn receive_and_delete(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    deleted: &AtomicUsize,
    messages: usize,
    deadline: Instant,
) -> Result<()> {
    while deleted.load(Ordering::Relaxed) < messages && Instant::now() < deadline {
        let received = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| CliError::aws("ReceiveMessage", e))?;
        let entries = received
            .messages
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle)
                    .build()
                    .ok()
            })
            .collect::<Vec<_>>();
        if entries.is_empty() {
            continue;
        }
        let count = entries.len();
        sqs.delete_message_batch()
            .queue_url(queue)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| CliError::aws("DeleteMessageBatch", e))?;
        deleted.fetch_add(count, Ordering::Relaxed);
    }
    Ok(())
}

/// Stocks [`SKUS`] SKUs, places `orders` orders spread over them, waits until every order
/// is final (or [`SETTLE_TIMEOUT`]), and reads the figures from the event times.
async fn saga(
    clients: &Clients,
    stack: &StackInfo,
    api: &Api,
    consumers: &Consumers,
    emulator_pid: u32,
    orders: usize,
    raw_per_second: f64,
) -> Result<Saga> {
    let run = crate::ops::replay::new_run_id();
    let cpu_before = (Instant::now(), cpu_seconds(emulator_pid));
    for sku in 0..SKUS {
        api.post(&format!("/inventory/BENCH-{run}-{sku}/stock"), serde_json::json!({ "quantity": orders }), None)
            .await?;
    }
    let send_started = Instant::now();
    let sender = Arc::new(api.clone());
    let order_ids: Vec<String> = in_parallel(orders, SENDERS, move |i| {
        let (api, run) = (sender.clone(), run.clone());
        async move {
            let body = serde_json::json!({
                "customerId": format!("bench-{run}-{i}"),
                "currency": "EUR",
                "lines": [{ "sku": format!("BENCH-{run}-{}", i % SKUS), "quantity": 1, "unitPriceMinor": 1999 }],
            });
            let answer = api.post("/orders", body, Some(&format!("bench-{run}-{i}"))).await?;
            answer["orderId"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| CliError::Failed(format!("POST /orders: no orderId in {answer}")))
        }
    })
    .await?;
    let send_seconds = send_started.elapsed().as_secs_f64();
    eprintln!("P3 saga: {orders} orders placed in {send_seconds:.1} s; waiting for each to be final");
    let outcomes = wait_until_final(clients, stack, &order_ids).await?;
    let figures = from_event_times(clients, stack, &order_ids, &outcomes).await?;
    let processed = consumers.until_quiet(figures.start_ms).await;
    let (emulator_cpu, functions_cpu) = cpu_seconds(emulator_pid);
    let wall = cpu_before.0.elapsed().as_secs_f64().max(1e-9);
    let (emulator_cpu, functions_cpu) = (emulator_cpu - cpu_before.1.0, functions_cpu - cpu_before.1.1);
    let (emulator_cores, functions_cores) = (emulator_cpu / wall, functions_cpu / wall);
    let per_order_ms = |cpu: f64| cpu * 1_000.0 / outcomes.len().max(1) as f64;
    let messages_seconds = (processed.last_ms - figures.start_ms) as f64 / 1000.0;
    let sqs_per_second = processed.sqs as f64 / messages_seconds.max(1e-9);
    let mut per_status: BTreeMap<String, usize> = BTreeMap::new();
    for status in outcomes.values() {
        *per_status.entry(status.clone()).or_default() += 1;
    }
    Ok(Saga {
        orders,
        settled: outcomes.len(),
        send_seconds,
        seconds: figures.seconds,
        events: figures.events,
        orders_per_second: outcomes.len() as f64 / figures.seconds.max(1e-9),
        events_per_second: figures.events as f64 / figures.seconds.max(1e-9),
        latency_p50_ms: figures.p50_ms,
        latency_p99_ms: figures.p99_ms,
        outcomes: per_status,
        sqs_messages: processed.sqs,
        stream_records: processed.stream,
        messages_seconds,
        sqs_messages_per_second: sqs_per_second,
        ratio_to_raw: sqs_per_second / raw_per_second,
        emulator_cores,
        functions_cores,
        emulator_cpu_ms_per_order: per_order_ms(emulator_cpu),
        functions_cpu_ms_per_order: per_order_ms(functions_cpu),
        per_function: processed
            .by_function
            .iter()
            .map(|(function, &(records, batches))| (function.clone(), FunctionLoad { records, batches }))
            .collect(),
    })
}

/// The final status of every order that reached one, from scans of the read model every
/// two seconds (light on the emulator; the figures come from the store, not from here).
pub(super) async fn wait_until_final(
    clients: &Clients,
    stack: &StackInfo,
    order_ids: &[String],
) -> Result<BTreeMap<String, String>> {
    let ours: HashSet<&str> = order_ids.iter().map(String::as_str).collect();
    let table = stack.output("OrderViewTableName")?;
    let progress = crate::ops::replay::progress_bar(order_ids.len() as u64, "final");
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let mut finals = BTreeMap::new();
    while Instant::now() < deadline {
        finals.clear();
        let mut pages = clients
            .dynamodb()
            .scan()
            .table_name(table)
            .projection_expression("orderId, #s")
            .expression_attribute_names("#s", "status")
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| CliError::aws("Scan", e))?;
            let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let (id, status) = (text("orderId"), text("status"));
            if ours.contains(id.as_str()) && is_final(&status) {
                finals.insert(id, status);
            }
        }
        progress.set_position(finals.len() as u64);
        if finals.len() == order_ids.len() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    progress.finish_and_clear();
    Ok(finals)
}

fn is_final(status: &str) -> bool {
    serde_json::from_value::<domain::OrderStatus>(serde_json::json!(status)).is_ok_and(domain::OrderStatus::is_terminal)
}

struct EventTimes {
    /// The first `OrderPlaced`, in ms since the epoch.
    start_ms: i64,
    seconds: f64,
    events: usize,
    p50_ms: f64,
    p99_ms: f64,
}

/// The window from the first `OrderPlaced` to the last event of a final order, the events
/// stored in it, and each final order's latency (its first event to its last).
async fn from_event_times(
    clients: &Clients,
    stack: &StackInfo,
    order_ids: &[String],
    finals: &BTreeMap<String, String>,
) -> Result<EventTimes> {
    let events = super::load::stored_events(clients, stack).await?;
    let mut per_order: HashMap<String, (DateTime<Utc>, DateTime<Utc>)> = HashMap::new();
    for event in &events {
        let span = per_order.entry(event.stream_id.clone()).or_insert((event.occurred_at, event.occurred_at));
        *span = (span.0.min(event.occurred_at), span.1.max(event.occurred_at));
    }
    let spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = order_ids
        .iter()
        .filter(|id| finals.contains_key(*id))
        .filter_map(|id| per_order.get(&format!("order-{id}")).copied())
        .collect();
    let (Some(start), Some(end)) = (spans.iter().map(|s| s.0).min(), spans.iter().map(|s| s.1).max()) else {
        return Err(CliError::Failed("no order of the burst reached a final status".into()));
    };
    let mut latencies: Vec<f64> =
        spans.iter().map(|(first, last)| (*last - *first).num_milliseconds() as f64).collect();
    Ok(EventTimes {
        start_ms: start.timestamp_millis(),
        seconds: (end - start).num_milliseconds() as f64 / 1000.0,
        events: events.iter().filter(|e| e.occurred_at >= start && e.occurred_at <= end).count(),
        p50_ms: percentile(&mut latencies, 0.50),
        p99_ms: percentile(&mut latencies, 0.99),
    })
}

/// Clock ticks per second of /proc/<pid>/stat times (USER_HZ: 100 on Linux x86_64 and arm64).
const USER_HZ: f64 = 100.0;

/// CPU seconds used so far by the emulator process and by the function processes it
/// started (its process group), from /proc.
fn cpu_seconds(emulator_pid: u32) -> (f64, f64) {
    let (mut emulator, mut functions) = (0.0, 0.0);
    let pids = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    for pid in pids.filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()) {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // After "pid (comm)": state, ppid, pgrp, ..., utime (11th), stime (12th).
        let fields: Vec<&str> =
            stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
        let number = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        if fields.get(2) != Some(&emulator_pid.to_string().as_str()) {
            continue;
        }
        let seconds = (number(11) + number(12)) / USER_HZ;
        match pid == emulator_pid {
            true => emulator += seconds,
            false => functions += seconds,
        }
    }
    (emulator, functions)
}

/// The consumers of the deployed template and the emulator log their EMF lines go to.
struct Consumers {
    sqs: BTreeSet<String>,
    stream: BTreeSet<String>,
    log: PathBuf,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Processed {
    sqs: usize,
    stream: usize,
    /// Per consumer: (messages or records, batches).
    by_function: BTreeMap<String, (usize, usize)>,
    /// The time of the last batch counted, ms since the epoch.
    last_ms: i64,
}

impl Consumers {
    fn of(template: &str, log: PathBuf) -> Result<Self> {
        let routing = crate::generate::graph::from_template(template)?;
        Ok(Self { sqs: routing.sqs_consumers(), stream: routing.stream_consumers(), log })
    }

    /// What the consumers processed since `since_ms`, once nothing new has been logged for
    /// a few seconds (the fan-out consumers finish after the last order is final).
    async fn until_quiet(&self, since_ms: i64) -> Processed {
        let deadline = Instant::now() + QUIET_TIMEOUT;
        let mut last = self.processed_since(since_ms);
        let mut unchanged_since = Instant::now();
        while Instant::now() < deadline && unchanged_since.elapsed() < QUIET_FOR {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = self.processed_since(since_ms);
            if now != last {
                (last, unchanged_since) = (now, Instant::now());
            }
        }
        last
    }

    /// Sums the `Processed` of every consumer batch logged at or after `since_ms`.
    fn processed_since(&self, since_ms: i64) -> Processed {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut processed = Processed::default();
        for line in text.lines().filter(|l| l.starts_with('{') && l.contains("\"_aws\"")) {
            let Ok(metrics) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            let at = metrics["_aws"]["Timestamp"].as_i64().unwrap_or(0);
            let (Some(function), Some(count)) = (metrics["Function"].as_str(), metrics["Processed"].as_f64()) else {
                continue;
            };
            if at < since_ms {
                continue;
            }
            match (self.sqs.contains(function), self.stream.contains(function)) {
                (true, _) => processed.sqs += count as usize,
                (_, true) => processed.stream += count as usize,
                _ => continue,
            }
            let (records, batches) = processed.by_function.entry(function.to_string()).or_default();
            (*records, *batches) = (*records + count as usize, *batches + 1);
            processed.last_ms = processed.last_ms.max(at);
        }
        processed
    }
}

/// The naive loop first (for at most [`NAIVE_BUDGET`]), then the real rebuild over every
/// order, then a verify: the rebuilt views must equal what the projector wrote.
async fn rebuild_speed(project: &Project, clients: &Clients, stack: &StackInfo) -> Result<RebuildSpeed> {
    let naive = rebuild::rebuild_naively(clients, stack, NAIVE_BUDGET).await?;
    rebuild::forget_checkpoint(project, stack);
    let batched = rebuild::rebuild(project, clients, stack, None).await?;
    let (_, differences) = rebuild::verify(clients, stack).await?;
    for difference in differences.iter().take(5) {
        eprintln!("  after the rebuild: {difference}");
    }
    Ok(RebuildSpeed {
        events: batched.events,
        events_per_second: batched.events_per_second(),
        naive_events: naive.events,
        naive_events_per_second: naive.events_per_second(),
        ratio: batched.events_per_second() / naive.events_per_second().max(1e-9),
        differences: differences.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processed_counts_sqs_and_stream_consumers_apart_from_a_given_time_and_skips_the_rest() {
        let log = std::env::temp_dir().join(format!("orderflow-emf-{}.log", std::process::id()));
        let line = |function: &str, processed: u32, at: i64| {
            format!(r#"{{"Function":"{function}","Processed":{processed}.0,"_aws":{{"Timestamp":{at}}}}}"#)
        };
        let text = [
            line("payment", 10, 900),
            line("payment", 3, 1_000),
            line("notifier", 2, 1_500),
            line("outbox-relay", 7, 1_200),
            line("api-ingress", 1, 2_000),
            r#"{"Function":"api-ingress","Requests":1.0,"_aws":{"Timestamp":3000}}"#.to_string(),
            "INFO a plain log line".to_string(),
            r#"{"_aws": not json"#.to_string(),
        ]
        .join("\n");
        std::fs::write(&log, text).unwrap();
        let consumers = Consumers {
            sqs: ["payment", "notifier"].map(String::from).into(),
            stream: ["outbox-relay"].map(String::from).into(),
            log: log.clone(),
        };
        let by_function = [("notifier", (2, 1)), ("outbox-relay", (7, 1)), ("payment", (3, 1))];
        let by_function = by_function.map(|(f, n)| (f.to_string(), n)).into();
        assert_eq!(consumers.processed_since(1_000), Processed { sqs: 5, stream: 7, by_function, last_ms: 1_500 });
        std::fs::remove_file(&log).unwrap();
    }
}

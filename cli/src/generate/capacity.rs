//! The capacity model of the deployed stack on AWS (`orderflow capacity`, written to
//! docs/capacity.md): what one order costs each service, measured by `orderflow bench` on
//! the emulator (messages and batches per function, events per order, handler CPU), set
//! against AWS's published default quotas and on-demand prices. Every figure it prints is
//! computed here from those inputs, so a new bench report or a new price regenerates it.

use crate::bench::Report;
use crate::bench::emulator::Saga;
use crate::{CliError, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One published figure: what it is, its value, where AWS says so.
pub struct Published {
    pub name: &'static str,
    pub value: f64,
    pub source: &'static str,
}

const fn published(name: &'static str, value: f64, source: &'static str) -> Published {
    Published { name, value, source }
}

const LAMBDA_QUOTAS: &str = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html";
const EVENTBRIDGE_QUOTAS: &str = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html";
const DYNAMODB_QUOTAS: &str = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html";
const HTTP_API_QUOTAS: &str = "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html";
const SNS_QUOTAS: &str = "https://docs.aws.amazon.com/general/latest/gr/sns.html";

/// Default quotas, us-east-1 (several are lower in smaller regions: see the sources).
pub const LAMBDA_CONCURRENCY: Published = published("Lambda concurrent executions", 1_000.0, LAMBDA_QUOTAS);
pub const PUT_EVENTS_TPS: Published = published("EventBridge PutEvents requests/s", 10_000.0, EVENTBRIDGE_QUOTAS);
pub const EVENTBRIDGE_INVOCATIONS: Published =
    published("EventBridge target invocations/s", 18_750.0, EVENTBRIDGE_QUOTAS);
pub const TABLE_WRITE_UNITS: Published =
    published("DynamoDB on-demand write request units/s per table", 40_000.0, DYNAMODB_QUOTAS);
pub const PARTITION_WRITE_UNITS: Published =
    published("DynamoDB write units/s per partition (one key)", 1_000.0, DYNAMODB_QUOTAS);
/// Every event of an hour goes to one of the time index's shards (one partition each).
pub const TIME_INDEX_WRITE_UNITS: Published = published(
    "DynamoDB write units/s of the time index (1,000 per partition x 16 shards of the hour)",
    PARTITION_WRITE_UNITS.value * toolkit::store::time_index::TIME_SHARDS as f64,
    DYNAMODB_QUOTAS,
);
pub const HTTP_API_RPS: Published = published("API Gateway requests/s (account, region)", 10_000.0, HTTP_API_QUOTAS);
pub const SNS_PUBLISH_TPS: Published = published("SNS Publish requests/s", 30_000.0, SNS_QUOTAS);

/// On-demand prices, us-east-1, in dollars.
pub const LAMBDA_PER_MILLION_REQUESTS: Published =
    published("Lambda requests, per million", 0.20, "https://aws.amazon.com/lambda/pricing/");
pub const LAMBDA_PER_GB_SECOND_ARM: Published =
    published("Lambda arm64 duration, per GB-second", 0.000_013_333_4, "https://aws.amazon.com/lambda/pricing/");
pub const SQS_PER_MILLION: Published =
    published("SQS standard requests, per million", 0.40, "https://aws.amazon.com/sqs/pricing/");
pub const EVENTBRIDGE_PER_MILLION: Published =
    published("EventBridge custom events, per million", 1.00, "https://aws.amazon.com/eventbridge/pricing/");
pub const SNS_PER_MILLION: Published =
    published("SNS publishes, per million (deliveries to SQS free)", 0.50, "https://aws.amazon.com/sns/pricing/");
pub const DYNAMODB_PER_MILLION_WRITES: Published = published(
    "DynamoDB on-demand write request units, per million",
    0.625,
    "https://aws.amazon.com/dynamodb/pricing/on-demand/",
);
pub const DYNAMODB_PER_MILLION_READS: Published = published(
    "DynamoDB on-demand read request units, per million",
    0.125,
    "https://aws.amazon.com/dynamodb/pricing/on-demand/",
);
pub const HTTP_API_PER_MILLION: Published =
    published("API Gateway HTTP API requests, per million", 1.00, "https://aws.amazon.com/api-gateway/pricing/");

/// Monthly prices of what costs while no order flows.
pub const ALARM_PER_MONTH: Published =
    published("CloudWatch standard alarm, per month", 0.10, "https://aws.amazon.com/cloudwatch/pricing/");
pub const DASHBOARD_PER_MONTH: Published = published(
    "CloudWatch dashboard, per month (3 free per account)",
    3.00,
    "https://aws.amazon.com/cloudwatch/pricing/",
);
pub const SECRET_PER_MONTH: Published =
    published("Secrets Manager secret, per month", 0.40, "https://aws.amazon.com/secrets-manager/pricing/");
/// Long-poll connections Lambda keeps on each SQS event source while the queue is empty
/// (it starts with five: "Lambda starts processing five batches at a time"), each a 20 s
/// ReceiveMessage. An estimate: AWS does not publish the idle polling rate.
pub const IDLE_POLLERS_PER_QUEUE: f64 = 5.0;
const LONG_POLL_SECONDS: f64 = 20.0;
const SECONDS_PER_MONTH: f64 = 30.0 * 24.0 * 3_600.0;

/// Assumptions the model cannot measure locally, stated in the output.
/// A DynamoDB, EventBridge or SNS call from Lambda in the same region ("single-digit
/// milliseconds" for DynamoDB): the duration of our handlers is mostly these waits.
pub const AWS_CALL_MS: f64 = 8.0;
/// Calls per message or record: load (or get) then append (or put).
pub const CALLS_PER_RECORD: f64 = 2.0;
/// The functions' memory (template Globals) in GB.
pub const MEMORY_GB: f64 = 0.125;
/// SQS requests per message: the send (by EventBridge or SNS), the receive and the delete.
pub const SQS_REQUESTS_PER_MESSAGE: f64 = 3.0;
/// Writes to one SKU's stream per order line (StockReserved, then StockCommitted).
pub const SKU_WRITES_PER_LINE: f64 = 2.0;

/// What one order costs, per function, from a bench report.
#[derive(Debug, Clone)]
pub struct PerOrder {
    /// Stored events per order (order and SKU streams).
    pub events: f64,
    /// Per function: (messages or records, invocations) per order.
    pub functions: BTreeMap<String, (f64, f64)>,
    /// Handler CPU per event on this machine, µs (P2).
    pub handler_us: f64,
}

impl PerOrder {
    pub fn from_report(report: &Report) -> Result<Self> {
        let saga: &Saga = &report
            .emulator
            .as_ref()
            .ok_or_else(|| CliError::Failed(format!("bench report {} has no emulator figures", report.date)))?
            .saga;
        if saga.per_function.is_empty() || saga.settled == 0 {
            return Err(CliError::Failed(format!(
                "bench report {} has no per-function figures: run `orderflow bench` again",
                report.date
            )));
        }
        let orders = saga.settled as f64;
        let mut functions: BTreeMap<String, (f64, f64)> = saga
            .per_function
            .iter()
            .map(|(f, load)| (f.clone(), (load.records as f64 / orders, load.batches as f64 / orders)))
            .collect();
        functions.insert("api-ingress".into(), (1.0, 1.0));
        Ok(Self { events: saga.events as f64 / orders, functions, handler_us: report.handler.handler_us_per_event })
    }

    fn records(&self, function: &str) -> f64 {
        self.functions.get(function).map_or(0.0, |(records, _)| *records)
    }

    /// Lambda invocations per order, counting one message per invocation (an upper bound:
    /// batches fill under load).
    fn invocations(&self) -> f64 {
        self.functions.values().map(|(records, _)| records).sum()
    }

    /// Concurrency-seconds per order: every record's calls, one record per invocation.
    fn busy_seconds(&self) -> f64 {
        self.invocations() * record_ms(self.handler_us) / 1_000.0
    }

    /// Messages through SQS per order: what the SQS consumers took.
    fn sqs_messages(&self) -> f64 {
        let stream_consumers = ["outbox-relay", "projector", "api-ingress"];
        self.functions.iter().filter(|(f, _)| !stream_consumers.contains(&f.as_str())).map(|(_, (r, _))| r).sum()
    }

    /// Written per order, in request units of 1 KB or less: the events and their copies in
    /// the correlation and time indexes, the projector's views, analytics' counters (in transactions:
    /// two units per item) and the notifier's record and idempotency record (put and
    /// update) per notification.
    fn writes(&self) -> f64 {
        3.0 * self.events + self.records("projector") + 2.0 * self.records("analytics") + 3.0 * self.records("notifier")
    }

    /// Read per order: one query (a stream or a record) per SQS message.
    fn reads(&self) -> f64 {
        self.sqs_messages()
    }

    /// `PutEvents` requests per order: one per relay batch (up to ten entries each).
    fn put_events(&self) -> f64 {
        self.functions.get("outbox-relay").map_or(self.events, |(records, batches)| batches.max(records / 10.0))
    }
}

/// One limit: the quota, what an order takes of it, and how to raise it.
struct Limit<'q> {
    quota: &'q Published,
    per_order: f64,
    unit: &'static str,
    raise: &'static str,
    /// A limit of one key (one SKU), not of the region: it binds only when orders share it.
    per_key: bool,
}

impl Limit<'_> {
    fn orders_per_second(&self) -> f64 {
        self.quota.value / self.per_order.max(1e-9)
    }
}

fn limits(order: &PerOrder) -> Vec<Limit<'static>> {
    vec![
        Limit {
            quota: &LAMBDA_CONCURRENCY,
            per_order: order.busy_seconds(),
            unit: "concurrency-seconds",
            raise: "Service Quotas: Lambda \"Concurrent executions\" (tens of thousands on request)",
            per_key: false,
        },
        Limit {
            quota: &PUT_EVENTS_TPS,
            per_order: order.put_events(),
            unit: "PutEvents requests",
            raise: "Service Quotas: EventBridge \"PutEvents throttle limit in transactions per second\"; larger relay batches",
            per_key: false,
        },
        Limit {
            quota: &EVENTBRIDGE_INVOCATIONS,
            per_order: order.sqs_messages(),
            unit: "target invocations (at most one per SQS message)",
            raise: "Service Quotas: EventBridge \"Invocations throttle limit in transactions per second\"; fewer targets per event (analytics takes every order event)",
            per_key: false,
        },
        Limit {
            quota: &TABLE_WRITE_UNITS,
            per_order: order.events,
            unit: "event-store write units",
            raise: "Service Quotas: DynamoDB \"Table-level write throughput limit\" (or a table per bounded context)",
            per_key: false,
        },
        Limit {
            quota: &TIME_INDEX_WRITE_UNITS,
            per_order: order.events,
            unit: "time-index write units (every event)",
            raise: "more shards: `TIME_SHARDS` in toolkit::store::time_index (readers query each)",
            per_key: false,
        },
        Limit {
            quota: &PARTITION_WRITE_UNITS,
            per_order: SKU_WRITES_PER_LINE,
            unit: "writes to one SKU's stream (orders of one hot SKU)",
            raise: "not adjustable: shard a hot SKU's stock over several streams",
            per_key: true,
        },
        Limit {
            quota: &HTTP_API_RPS,
            per_order: 1.0,
            unit: "POST /orders",
            raise: "Service Quotas: API Gateway \"Throttle rate\"",
            per_key: false,
        },
        Limit {
            quota: &SNS_PUBLISH_TPS,
            per_order: order.records("notifier"),
            unit: "publishes (at most one per notification)",
            raise: "Service Quotas: SNS \"Publish\" for the region",
            per_key: false,
        },
    ]
}

/// docs/capacity.md from a bench report (`source` names it).
pub fn render(report: &Report, source: &str, template: &str) -> Result<String> {
    let order = PerOrder::from_report(report)?;
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "# Capacity on AWS\n");
    let _ = writeln!(
        w,
        "Generated by `orderflow capacity --write` from `{source}` (measured on {}) and the published \
         quotas and prices below; `cargo test -p orderflow` fails when this file is stale. Change the \
         inputs in `cli/src/generate/capacity.rs` or run `orderflow bench` again, not this file.\n",
        report.machine
    );
    let _ = writeln!(w, "## What one order costs (measured on the emulator)\n");
    let _ = writeln!(w, "{:.1} events stored per order (order and SKU streams). Per function:\n", order.events);
    let _ = writeln!(
        w,
        "| function | messages or records per order | invocations per order (emulator's batches) |\n|---|---|---|"
    );
    for (function, (records, batches)) in &order.functions {
        let _ = writeln!(w, "| {function} | {records:.2} | {batches:.2} |");
    }
    let _ = writeln!(
        w,
        "\nBilled duration per message, assumed: handler CPU {:.0} µs (P2, this machine) + {CALLS_PER_RECORD} AWS \
         calls x {AWS_CALL_MS} ms = {:.1} ms, one message per invocation (an upper bound: batches fill under \
         load), {MEMORY_GB} GB. So one order keeps Lambda busy {:.3} concurrency-seconds over {:.1} invocations.\n",
        order.handler_us,
        record_ms(order.handler_us),
        order.busy_seconds(),
        order.invocations()
    );
    let _ = writeln!(w, "## Orders per second each default quota allows (us-east-1)\n");
    let _ = writeln!(w, "| limit | quota | per order | orders/s | raise it with |\n|---|---|---|---|---|");
    let limits = limits(&order);
    for limit in &limits {
        let _ = writeln!(
            w,
            "| {} | [{}]({}) | {:.2} {} | {:.0} | {} |",
            limit.quota.name,
            limit.quota.value,
            limit.quota.source,
            limit.per_order,
            limit.unit,
            limit.orders_per_second(),
            limit.raise
        );
    }
    let region_wide = limits.iter().filter(|l| !l.per_key);
    if let Some(first) = region_wide.min_by(|a, b| a.orders_per_second().total_cmp(&b.orders_per_second())) {
        let hot = limits.iter().find(|l| l.per_key).map_or(0.0, Limit::orders_per_second);
        let _ = writeln!(
            w,
            "\n**Saturates first: {} at about {:.0} orders/s** per region with default quotas; orders \
             of one hot SKU stop at about {hot:.0}/s first (its stream is one partition key). SQS \
             standard queues have no practical rate limit; each DynamoDB stream shard takes our two \
             readers (relay, projector), the most AWS advises, so more consumers subscribe through \
             EventBridge.\n",
            first.quota.name,
            first.orders_per_second()
        );
    }
    let _ = writeln!(w, "## Cost per million orders (on-demand, us-east-1, arm64)\n");
    let _ = writeln!(w, "| item | per order | price | per million orders |\n|---|---|---|---|");
    let gb_seconds = order.busy_seconds() * MEMORY_GB;
    let items = [
        ("Lambda requests (one per message: at most)", order.invocations(), &LAMBDA_PER_MILLION_REQUESTS, 1.0),
        ("Lambda GB-seconds", gb_seconds, &LAMBDA_PER_GB_SECOND_ARM, 1e6),
        (
            "SQS requests (send, receive, delete)",
            order.sqs_messages() * SQS_REQUESTS_PER_MESSAGE,
            &SQS_PER_MILLION,
            1.0,
        ),
        ("EventBridge events", order.events, &EVENTBRIDGE_PER_MILLION, 1.0),
        ("SNS publishes", order.records("notifier"), &SNS_PER_MILLION, 1.0),
        ("DynamoDB write units", order.writes(), &DYNAMODB_PER_MILLION_WRITES, 1.0),
        ("DynamoDB read units", order.reads(), &DYNAMODB_PER_MILLION_READS, 1.0),
        ("HTTP API requests", 1.0, &HTTP_API_PER_MILLION, 1.0),
    ];
    let mut total = 0.0;
    for (item, per_order, price, scale) in items {
        // Prices are per million units, except GB-seconds (per unit: scaled to a million orders).
        let cost = per_order * price.value * scale;
        total += cost;
        let _ = writeln!(w, "| {item} | {per_order:.3} | [${}]({}) | ${cost:.2} |", price.value, price.source);
    }
    let _ = writeln!(
        w,
        "| **total** | | | **${total:.2}** |\n\nNot counted: CloudWatch Logs ingestion of the functions' \
         JSON logs (set `LogLevel: warn` to cut it), X-Ray traces, free tiers.\n"
    );
    let _ = write!(w, "{}", idle_stack(template)?);
    let _ = writeln!(
        w,
        "## Assumptions\n\n- {AWS_CALL_MS} ms per AWS call from Lambda, {CALLS_PER_RECORD} calls per message.\n\
         - {SQS_REQUESTS_PER_MESSAGE} SQS requests per message (send, receive, delete; batching lowers it).\n\
         - {SKU_WRITES_PER_LINE} writes to a SKU's stream per order line; items under 1 KB.\n\
         - Quotas are the us-east-1 defaults of a rule-based event bus; several regions have lower EventBridge \
         and SNS quotas (see the sources). Quotas and prices as AWS listed them in November 2026: check the \
         linked pages before relying on a figure."
    );
    Ok(out)
}

/// What the deployed stack costs a month while no order flows, from the template's
/// resources: alarms, the dashboard, secrets and Lambda's polling of its SQS queues;
/// everything else is billed per request or per GB stored.
fn idle_stack(template: &str) -> Result<String> {
    let counts = IdleResources::of(template)?;
    let polls = counts.sqs_event_sources * IDLE_POLLERS_PER_QUEUE * SECONDS_PER_MONTH / LONG_POLL_SECONDS;
    let items = [
        ("CloudWatch alarms", counts.alarms, ALARM_PER_MONTH, counts.alarms * ALARM_PER_MONTH.value),
        ("CloudWatch dashboard", counts.dashboards, DASHBOARD_PER_MONTH, counts.dashboards * DASHBOARD_PER_MONTH.value),
        ("Secrets Manager secrets", counts.secrets, SECRET_PER_MONTH, counts.secrets * SECRET_PER_MONTH.value),
        (
            "SQS empty receives, millions (Lambda polling)",
            polls / 1e6,
            SQS_PER_MILLION,
            polls / 1e6 * SQS_PER_MILLION.value,
        ),
    ];
    let mut out = String::from(
        "## The idle stack (per month, no orders)\n\n| item | count | price | per month |\n|---|---|---|---|\n",
    );
    let mut total = 0.0;
    for (item, count, price, cost) in items {
        total += cost;
        let _ = writeln!(out, "| {item} | {count:.2} | [${}]({}) | ${cost:.2} |", price.value, price.source);
    }
    let _ = writeln!(
        out,
        "| **total** | | | **${total:.2}** |\n\nThe polling line assumes {IDLE_POLLERS_PER_QUEUE} long-poll \
         connections of {LONG_POLL_SECONDS} s on each of the {} SQS event sources (AWS does not publish the \
         idle rate; the first million SQS requests a month are free). Not counted because they are billed \
         per request or per GB and are zero or cents when idle: Lambda, DynamoDB on demand (storage $0.25 \
         per GB-month), EventBridge, SNS, the HTTP API, the archive and CloudWatch Logs storage.\n",
        counts.sqs_event_sources
    );
    Ok(out)
}

/// The template's resources that cost by the month.
#[derive(Debug, Default, PartialEq)]
struct IdleResources {
    alarms: f64,
    dashboards: f64,
    secrets: f64,
    /// Functions' `Events` of type SQS: each an event source Lambda polls.
    sqs_event_sources: f64,
}

impl IdleResources {
    fn of(template: &str) -> Result<Self> {
        let mut counts = Self::default();
        for (_, resource) in crate::project::template_resources(template)? {
            match resource.get("Type").and_then(serde_norway::Value::as_str) {
                Some("AWS::CloudWatch::Alarm") => counts.alarms += 1.0,
                Some("AWS::CloudWatch::Dashboard") => counts.dashboards += 1.0,
                Some("AWS::SecretsManager::Secret") => counts.secrets += 1.0,
                Some("AWS::Serverless::Function") => {
                    let events = resource["Properties"]["Events"].as_mapping().into_iter().flatten();
                    let sqs = events.filter(|(_, event)| event["Type"].as_str() == Some("SQS")).count();
                    counts.sqs_event_sources += sqs as f64;
                }
                _ => {}
            }
        }
        Ok(counts)
    }
}

/// Billed milliseconds for one record: its CPU plus its AWS calls.
fn record_ms(handler_us: f64) -> f64 {
    handler_us / 1_000.0 + CALLS_PER_RECORD * AWS_CALL_MS
}

/// The newest report under `bench/` with per-function figures.
pub fn newest_report(bench_dir: &Path) -> Result<(PathBuf, Report)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(bench_dir)
        .map_err(|e| CliError::io(bench_dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    for path in paths.into_iter().rev() {
        let report = crate::bench::read(&path)?;
        if PerOrder::from_report(&report).is_ok() {
            return Ok((path, report));
        }
    }
    Err(CliError::Failed(format!(
        "no report under {} has per-function figures: run `orderflow bench` first",
        bench_dir.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_capacity_model_is_the_one_the_newest_report_gives() {
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        let (path, report) = newest_report(&root.join("bench")).unwrap();
        let source = path.strip_prefix(root).unwrap().display().to_string();
        let committed = std::fs::read_to_string(root.join("docs/capacity.md")).unwrap_or_default();
        let template = std::fs::read_to_string(root.join("infra/template.yaml")).unwrap();
        assert!(
            committed == render(&report, &source, &template).unwrap(),
            "docs/capacity.md is stale: run `cargo run -p orderflow -- capacity --write` and commit docs/"
        );
    }

    #[test]
    fn the_idle_stack_counts_what_bills_by_the_month() {
        let template = "Resources:
  A1: { Type: AWS::CloudWatch::Alarm }
  A2: { Type: AWS::CloudWatch::Alarm }
  S: { Type: AWS::SecretsManager::Secret }
  F:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Q: { Type: SQS, Properties: { Queue: x } }
        T: { Type: SNS, Properties: { Topic: y } }
";
        let counts = IdleResources::of(template).unwrap();
        assert_eq!(counts, IdleResources { alarms: 2.0, dashboards: 0.0, secrets: 1.0, sqs_event_sources: 1.0 });
        let text = idle_stack(template).unwrap();
        // 2 x $0.10 + $0.40 + 5 pollers x 129,600 polls x $0.40 per million = $0.86.
        assert!(text.contains("**$0.86**"), "{text}");
    }

    #[test]
    fn each_limit_divides_its_quota_by_what_an_order_takes() {
        let order = PerOrder {
            events: 10.0,
            functions: [("outbox-relay", (10.0, 2.0)), ("inventory", (2.0, 1.0)), ("notifier", (2.0, 2.0))]
                .map(|(f, n)| (f.to_string(), n))
                .into(),
            handler_us: 0.0,
        };
        let limits = limits(&order);
        let rate = |name: &str| limits.iter().find(|l| l.quota.name == name).unwrap().orders_per_second();
        assert_eq!(rate(TABLE_WRITE_UNITS.name), 4_000.0, "10 events per order");
        assert_eq!(rate(PUT_EVENTS_TPS.name), 5_000.0, "2 relay batches per order");
        assert_eq!(rate(PARTITION_WRITE_UNITS.name), 500.0, "2 writes per line to a hot SKU");
        // 14 messages, 16 ms each: 0.224 concurrency-seconds per order.
        assert!((rate(LAMBDA_CONCURRENCY.name) - 1_000.0 / 0.224).abs() < 1e-6);
    }
}

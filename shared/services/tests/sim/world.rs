//! The whole system on the simulated adapters, and the seeded scheduler that drives it:
//! at each step it picks one thing to happen among every running invocation (advanced to
//! its next await), every deliverable message, stream record, provider callback, client
//! request, and the clock (sweeper ticks, visibility timeouts, claim expiry).

use super::adapters::*;
use super::net::{Callback, Faults, MAX_RECEIVES, Message, Net, ROUTES, StreamRecord};
use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use chrono::{DateTime, Duration, Utc};
use domain::inventory::{StockAdded, sku_stream};
use domain::{EventCodec, FraudPolicy, InventoryEvent, ValidationPolicy};
use services::access::{ApiKeys, InMemoryRateLimiter, key_hash};
use services::analytics::InMemoryAnalytics;
use services::handlers::analytics::AnalyticsConsumer;
use services::handlers::api::Api;
use services::handlers::notifier::Notifier;
use services::handlers::outbox_relay::OutboxRelay;
use services::handlers::projector::Projector;
use services::handlers::step_runner::OrderSaga;
use services::handlers::steps::{FraudScreening, Payment, Shipping, StockKeeping};
use services::handlers::sweeper::TimeoutSweeper;
use services::handlers::validator::Validation;
use services::notify::InMemoryNotificationLog;
use services::notify::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use services::views::InMemoryOrderViews;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use toolkit::clock;
use toolkit::deadletter::InMemoryDeadLetters;
use toolkit::envelope::{Causality, CausationId, CorrelationId};
use toolkit::idempotency::InMemoryIdempotencyStore;
use toolkit::invocation::Invocation;
use toolkit::store::{EventStore, InMemoryEventStore};

pub const API_KEY: &str = "sim-api-key";
/// A second shop, placing orders under the same customer ids as the first.
pub const OTHER_KEY: &str = "sim-other-key";
/// The operator's key: it adds stock.
pub const ADMIN_KEY: &str = "sim-admin-key";
pub const PAYMENT_SECRET: &str = "sim-payment-secret";
pub const VISIBILITY: i64 = 60;
/// The stream mappings' MaximumRetryAttempts (-1 in the template: no limit).
pub const STREAM_MAX_RETRIES: Option<u32> = None;
pub const SKUS: [&str; 3] = ["A", "B", "C"];
pub const STEP_LIMIT: usize = 60_000;

type Boxed<T> = Pin<Box<dyn Future<Output = T>>>;
/// Something that can happen next.
type Start = Box<dyn FnOnce(&mut World)>;

/// What an invocation's answer settles (and what a crash fails).
enum Settle {
    Sqs(&'static str, Vec<Message>, Boxed<SqsBatchResponse>),
    Stream((&'static str, String), Vec<StreamRecord>, Boxed<DynamoDbEventResponse>),
    Client(usize, Boxed<lambda_http::Response<lambda_http::Body>>),
    Callback(Callback, Boxed<lambda_http::Response<lambda_http::Body>>),
    Sweep(Boxed<()>),
}

struct Running {
    label: String,
    settle: Settle,
}

/// One client intent: an order placed with an Idempotency-Key, retried until answered.
pub struct Intent {
    pub key: String,
    pub body: String,
    /// A request the API must refuse with a 4xx, storing nothing.
    pub must_refuse: bool,
    /// A stock addition (SKU, units) by the operator, instead of an order.
    pub stock: Option<(&'static str, u32)>,
    /// The API key it is sent with.
    pub api_key: &'static str,
    pub attempts: u32,
    pub next_at: DateTime<Utc>,
    pub in_flight: bool,
    pub answers: Vec<u16>,
    pub order_ids: Vec<String>,
}

type Saga<P> = OrderSaga<SimStore, SimDeadLetters, P>;
type SimApi = Api<
    SimStore,
    SimViews,
    InMemoryAnalytics,
    InMemoryNotificationLog,
    SimIdempotency,
    InMemoryRateLimiter,
    SimProvider,
>;

pub struct World {
    pub net: SharedNet,
    pub store: SimStore,
    pub views: SimViews,
    pub dead_letters: SimDeadLetters,
    validator: Arc<Saga<Validation>>,
    fraud: Arc<Saga<FraudScreening<SimViews>>>,
    inventory: Arc<Saga<StockKeeping<SimStore>>>,
    payment: Arc<Saga<Payment<SimIdempotency, SimProvider>>>,
    shipping: Arc<Saga<Shipping>>,
    notifier: Arc<Notifier<SimStore, SimLog, SimDeadLetters, SimIdempotency>>,
    analytics: Arc<AnalyticsConsumer<SimStore, SimAnalytics, SimDeadLetters>>,
    pub counters: SimAnalytics,
    relay: Arc<OutboxRelay<SimBus, SimDeadLetters>>,
    projector: Arc<Projector<SimStore, SimViews, SimDeadLetters>>,
    sweeper: Arc<TimeoutSweeper<SimStore, SimViews>>,
    api: Arc<SimApi>,
    pub intents: Vec<Intent>,
    pub stock_added: std::collections::BTreeMap<String, u32>,
    running: Vec<Running>,
    sweeping: bool,
    next_sweep: DateTime<Utc>,
    pub steps: usize,
}

impl World {
    pub fn new(seed: u64, start: DateTime<Utc>) -> World {
        let net: SharedNet = Arc::new(Mutex::new(Net::new(seed)));
        let store = SimStore { inner: Arc::new(InMemoryEventStore::default()), net: net.clone() };
        let views = SimViews { inner: Arc::new(InMemoryOrderViews::default()), net: net.clone() };
        let records = InMemoryIdempotencyStore::with_retention(services::config::dedup_retention());
        let idempotency = SimIdempotency { inner: Arc::new(records), net: net.clone() };
        let dead_letters = SimDeadLetters { inner: Arc::new(InMemoryDeadLetters::default()), net: net.clone() };
        let provider = SimProvider { net: net.clone() };
        let counters = SimAnalytics { inner: Arc::new(InMemoryAnalytics::default()), net: net.clone() };
        let timeout = Duration::seconds([60, 120, 300][(seed % 3) as usize]);
        let keys = format!(
            "sim:{}:100000,other:{}:100000,ops:{}:100000:admin",
            key_hash(API_KEY),
            key_hash(OTHER_KEY),
            key_hash(ADMIN_KEY)
        );
        let keys = ApiKeys::parse(&keys, 100_000).expect("sim keys");
        let api = Api::new(
            store.clone(),
            views.clone(),
            InMemoryAnalytics::default(),
            InMemoryNotificationLog::default(),
            idempotency.clone(),
            InMemoryRateLimiter::default(),
        )
        .with_api_keys(keys)
        .with_payment_webhook_secret(PAYMENT_SECRET)
        .with_payment_provider(provider.clone());
        World {
            validator: Arc::new(OrderSaga::new(
                store.clone(),
                dead_letters.clone(),
                Validation(ValidationPolicy::default()),
            )),
            fraud: Arc::new(OrderSaga::new(
                store.clone(),
                dead_letters.clone(),
                FraudScreening { views: views.clone(), policy: FraudPolicy::default(), window: Duration::minutes(10) },
            )),
            inventory: Arc::new(OrderSaga::new(
                store.clone(),
                dead_letters.clone(),
                StockKeeping { store: store.clone() },
            )),
            payment: Arc::new(OrderSaga::new(
                store.clone(),
                dead_letters.clone(),
                Payment { idempotency: idempotency.clone(), provider },
            )),
            shipping: Arc::new(OrderSaga::new(store.clone(), dead_letters.clone(), Shipping)),
            analytics: Arc::new(AnalyticsConsumer::new(store.clone(), counters.clone(), dead_letters.clone())),
            counters,
            notifier: Arc::new(Notifier::new(
                store.clone(),
                SimLog { inner: Arc::new(InMemoryNotificationLog::default()), net: net.clone() },
                dead_letters.clone(),
                idempotency.clone(),
                None,
            )),
            relay: Arc::new(
                OutboxRelay::new(SimBus { net: net.clone() }, dead_letters.clone())
                    .with_retry_delay(std::time::Duration::ZERO),
            ),
            projector: Arc::new(Projector::new(store.clone(), views.clone(), dead_letters.clone())),
            sweeper: Arc::new(TimeoutSweeper::new(store.clone(), views.clone(), timeout)),
            api: Arc::new(api),
            net,
            store,
            views,
            dead_letters,
            intents: Vec::new(),
            stock_added: Default::default(),
            running: Vec::new(),
            sweeping: false,
            next_sweep: start + Duration::seconds(60),
            steps: 0,
        }
    }

    fn dice(&self, n: usize) -> usize {
        lock(&self.net).dice.below(n)
    }

    fn chance(&self, per_mille: u64) -> bool {
        lock(&self.net).dice.chance(per_mille)
    }

    fn log(&self, line: String) {
        lock(&self.net).log(line);
    }

    /// Stock on the shelves and the customers' order intents, chosen by the seed.
    pub fn populate(&mut self) {
        let faults = std::mem::replace(&mut lock(&self.net).faults, Faults::NONE);
        for sku in SKUS {
            let quantity = 1 + self.dice(6) as u32;
            let added = InventoryEvent::StockAdded(StockAdded { sku: sku.into(), quantity });
            let causality = Causality::of_request(CorrelationId::new("stock"), CausationId::new("setup"), None);
            let event = added.into_new_event(causality, clock::now());
            run_to_end(self.store.append(&sku_stream(sku), 0, vec![event])).expect("stock added");
            self.stock_added.insert(sku.into(), quantity);
        }
        lock(&self.net).faults = faults;
        self.populate_refused();
        self.populate_restocks();
        // A quarter of the seeds: one busy customer id, shared by both shops (velocity).
        let busy = self.chance(250);
        let orders = if busy { 6 + self.dice(8) } else { 3 + self.dice(6) };
        for n in 0..orders {
            let lines: Vec<serde_json::Value> = (0..1 + self.dice(3))
                .map(|_| {
                    let price = [1_999, 2_500, 1_013, 1_042, 0, 600_000][self.dice(6)];
                    serde_json::json!({ "sku": SKUS[self.dice(3)], "quantity": 1 + self.dice(3), "unitPriceMinor": price })
                })
                .collect();
            let customer = if busy { "c1" } else { ["c1", "c2"][self.dice(2)] };
            let body = serde_json::json!({ "customerId": customer, "currency": "EUR", "lines": lines }).to_string();
            let at = clock::now() + Duration::seconds(self.dice(120) as i64);
            self.intents.push(Intent {
                key: format!("intent-{n}"),
                body,
                must_refuse: false,
                stock: None,
                api_key: [API_KEY, OTHER_KEY][self.dice(2)],
                attempts: 0,
                next_at: at,
                in_flight: false,
                answers: Vec::new(),
                order_ids: Vec::new(),
            });
        }
    }

    /// Requests no caller may get stored, each as a seed may draw it: every hop downstream
    /// has a limit (a bus entry, a queue message, a dead letter, an item) they would pass.
    fn populate_refused(&mut self) {
        const LINE: &str = r#"{"sku":"A","quantity":1,"unitPriceMinor":100}"#;
        let order = |extra: &str| format!(r#"{{"customerId":"c1","currency":"EUR","lines":[{LINE}]{extra}}}"#);
        for n in 0..3 {
            if !self.chance(300) {
                continue;
            }
            let body = match n {
                // 40,000 channels: under the API's 256 KiB body limit, over every hop once copied.
                0 => order(&format!(r#","notify":[{}"sms"]"#, r#""sms","#.repeat(39_999))),
                1 => order(r#","notify":["email","email"]"#),
                _ => format!(
                    r#"{{"customerId":"c1","currency":"EUR","lines":[{}{LINE}]}}"#,
                    format!("{LINE},").repeat(100)
                ),
            };
            let at = clock::now() + Duration::seconds(self.dice(120) as i64);
            self.intents.push(Intent {
                key: format!("refused-{n}"),
                body,
                must_refuse: true,
                stock: None,
                api_key: API_KEY,
                attempts: 0,
                next_at: at,
                in_flight: false,
                answers: Vec::new(),
                order_ids: Vec::new(),
            });
        }
    }

    /// Stock the operator adds through the API while orders run, each with its
    /// Idempotency-Key, retried until answered (through lost answers and 503s).
    fn populate_restocks(&mut self) {
        for n in 0..self.dice(3) {
            let sku = SKUS[self.dice(SKUS.len())];
            let quantity = 1 + self.dice(5) as u32;
            let at = clock::now() + Duration::seconds(self.dice(120) as i64);
            self.intents.push(Intent {
                key: format!("restock-{n}"),
                body: serde_json::json!({ "quantity": quantity }).to_string(),
                must_refuse: false,
                stock: Some((sku, quantity)),
                api_key: ADMIN_KEY,
                attempts: 0,
                next_at: at,
                in_flight: false,
                answers: Vec::new(),
                order_ids: Vec::new(),
            });
        }
    }

    /// Runs the chaos phase, then calm until everything settles, then an operator's
    /// redrive of every dead letter, then calm again. Err when the system never settles.
    pub fn run(&mut self, chaos_steps: usize) -> Result<(), String> {
        while self.steps < chaos_steps {
            self.step(true);
        }
        lock(&self.net).faults = Faults::NONE;
        self.log("-- calm: faults off".into());
        self.settle()?;
        // The operator may get to the dead letters days later: every record that
        // deduplicates them must still be there (TTLs expire as the clock moves).
        if self.chance(500) {
            let days = 1 + self.dice(20) as i64;
            self.log(format!("-- {days} days pass before the redrive"));
            clock::advance(Duration::days(days));
            self.next_sweep = clock::now() + Duration::seconds(60);
        }
        if self.chance(300) {
            self.replay_archive();
        }
        self.redrive();
        self.settle()
    }

    fn settle(&mut self) -> Result<(), String> {
        while self.steps < STEP_LIMIT {
            if self.running.is_empty() && lock(&self.net).is_idle() && self.clients_done() && self.orders_final() {
                return Ok(());
            }
            self.step(false);
        }
        Err(format!("the system did not settle within {STEP_LIMIT} steps"))
    }

    fn clients_done(&self) -> bool {
        self.intents.iter().all(|i| {
            !i.in_flight && (i.answers.last().is_some_and(|s| *s < 500 && *s != 409 && *s != 429) || i.attempts >= 8)
        })
    }

    fn orders_final(&self) -> bool {
        super::check::order_streams(&self.store)
            .iter()
            .all(|(_, order)| order.as_ref().is_some_and(|o| o.status.is_terminal()))
    }

    fn step(&mut self, chaos: bool) {
        self.steps += 1;
        if !self.running.is_empty() && self.chance(600) {
            let index = self.dice(self.running.len());
            if chaos && self.chance(15) {
                self.crash(index);
            } else {
                self.poll(index);
            }
            return;
        }
        let mut starts: Vec<Start> = Vec::new();
        let now = clock::now();
        {
            let net = lock(&self.net);
            for (queue, _, _) in ROUTES {
                if net.queues[queue].ready.iter().any(|m| deliverable(&net.queues[queue], m, now)) {
                    starts.push(Box::new(move |w: &mut World| w.deliver_sqs(queue)));
                }
            }
            let shards: Vec<_> = net
                .shards
                .iter()
                .filter(|(key, records)| !records.is_empty() && !net.busy_shards.contains(*key))
                .map(|(key, _)| key.clone())
                .collect();
            if !shards.is_empty() {
                starts.push(Box::new(move |w: &mut World| {
                    let key = shards[w.dice(shards.len())].clone();
                    w.deliver_stream(key);
                }));
            }
            if !net.callbacks.is_empty() {
                starts.push(Box::new(|w: &mut World| w.deliver_callback()));
            }
        }
        let ready: Vec<usize> = (0..self.intents.len())
            .filter(|&i| {
                let intent = &self.intents[i];
                !intent.in_flight && intent.next_at <= now && intent.attempts < 8 && !self.intent_answered(i)
            })
            .collect();
        if !ready.is_empty() {
            starts.push(Box::new(move |w: &mut World| {
                let i = ready[w.dice(ready.len())];
                w.send_intent(i);
            }));
        }
        if chaos && self.chance(40) {
            self.forge_bus_event();
        }
        let idle = starts.is_empty() && self.running.is_empty();
        if idle || self.chance(if chaos { 80 } else { 20 }) {
            self.tick(idle);
            return;
        }
        if starts.is_empty() {
            return;
        }
        let pick = self.dice(starts.len());
        (starts.swap_remove(pick))(self);
    }

    /// Someone in the account puts an event on the bus with our source: a stored order's
    /// customer-facing event with its own id and text. No customer may hear of it.
    fn forge_bus_event(&mut self) {
        let events = self.store.inner.all_events();
        let facing: Vec<_> = events
            .iter()
            .filter(|e| e.event_type == "ShipmentScheduled" || e.event_type == "PaymentDeclined")
            .collect();
        if facing.is_empty() {
            return;
        }
        let mut forged = facing[self.dice(facing.len())].clone();
        forged.event_id = toolkit::envelope::EventId(clock::new_uuid());
        forged.payload["reason"] = serde_json::json!("call +1-555-0100 to confirm your card");
        let mut net = lock(&self.net);
        net.log(format!("    FORGED bus event {} for {}", forged.event_type, forged.stream_id));
        for queue in ["notify-email", "notify-sms"] {
            let id = net.fresh_id();
            let message = Message {
                id,
                body: super::net::eventbridge_body(&forged),
                group: None,
                receives: 0,
                visible_at: DateTime::<Utc>::MIN_UTC,
            };
            net.queues.get_mut(queue).expect("queue").ready.push_back(message);
        }
    }

    fn intent_answered(&self, i: usize) -> bool {
        self.intents[i].answers.last().is_some_and(|s| *s < 500 && *s != 409 && *s != 429)
    }

    /// The clock moves: a little while busy, to the next event when idle.
    fn tick(&mut self, idle: bool) {
        let by = if idle {
            (self.next_sweep - clock::now()).max(Duration::seconds(1))
        } else {
            Duration::seconds(1 + self.dice(20) as i64)
        };
        clock::advance(by);
        if clock::now() >= self.next_sweep && !self.sweeping {
            self.next_sweep += Duration::seconds(60);
            self.sweeping = true;
            let sweeper = self.sweeper.clone();
            let now = clock::now();
            let sweep: Boxed<()> = Box::pin(async move {
                let _ = sweeper.sweep(now).await;
            });
            self.start(format!("sweep at {now}"), Settle::Sweep(sweep));
        }
    }

    fn start(&mut self, label: String, settle: Settle) {
        self.log(format!("start {label}"));
        self.running.push(Running { label, settle });
    }

    fn poll(&mut self, index: usize) {
        let mut cx = Context::from_waker(Waker::noop());
        let running = &mut self.running[index];
        let done = match &mut running.settle {
            Settle::Sqs(_, _, f) => f.as_mut().poll(&mut cx).map(Done::Sqs),
            Settle::Stream(_, _, f) => f.as_mut().poll(&mut cx).map(Done::Stream),
            Settle::Client(_, f) | Settle::Callback(_, f) => f.as_mut().poll(&mut cx).map(Done::Http),
            Settle::Sweep(f) => f.as_mut().poll(&mut cx).map(|()| Done::Swept),
        };
        if let Poll::Ready(done) = done {
            let running = self.running.swap_remove(index);
            self.log(format!("end {}", running.label));
            self.finish(running.settle, Some(done));
        }
    }

    /// The invocation dies at its current await: its effects so far stay, its answer is lost.
    fn crash(&mut self, index: usize) {
        let running = self.running.swap_remove(index);
        self.log(format!("crash {}", running.label));
        self.finish(running.settle, None);
    }

    fn finish(&mut self, settle: Settle, done: Option<Done>) {
        match (settle, done) {
            (Settle::Sqs(queue, batch, _), Some(Done::Sqs(response))) => {
                let failed: Vec<String> = response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect();
                self.settle_sqs(queue, batch, |m| failed.contains(&m.id.to_string()));
            }
            (Settle::Sqs(queue, batch, _), _) => self.settle_sqs(queue, batch, |_| true),
            (Settle::Stream(key, records, _), Some(Done::Stream(response))) => {
                let checkpoint = response.batch_item_failures.first().and_then(|f| f.item_identifier.clone());
                let done = checkpoint
                    .and_then(|at| records.iter().position(|r| r.sequence.to_string() == at))
                    .unwrap_or(records.len());
                self.settle_stream(key, records.len(), done);
            }
            (Settle::Stream(key, records, _), _) => self.settle_stream(key, records.len(), 0),
            (Settle::Client(i, _), done) => {
                let intent = &mut self.intents[i];
                intent.in_flight = false;
                let status = match done {
                    Some(Done::Http(response)) => {
                        let status = response.status().as_u16();
                        if status == 202 {
                            let body: serde_json::Value =
                                serde_json::from_slice(response.body().as_ref()).unwrap_or_default();
                            intent.order_ids.push(body["orderId"].as_str().unwrap_or_default().to_string());
                        }
                        status
                    }
                    _ => 502,
                };
                intent.answers.push(status);
                let retry = 5 + lock(&self.net).dice.below(60) as i64;
                intent.next_at = clock::now() + Duration::seconds(retry);
            }
            (Settle::Callback(callback, _), done) => {
                let status = match done {
                    Some(Done::Http(response)) => response.status().as_u16(),
                    _ => 502,
                };
                // The provider retries until it gets an answer that is not an outage.
                if status >= 500 || status == 409 {
                    lock(&self.net).callbacks.push(callback);
                }
            }
            (Settle::Sweep(_), _) => self.sweeping = false,
        }
    }

    fn deliver_sqs(&mut self, queue: &'static str) {
        let now = clock::now();
        let batch = {
            let mut net = lock(&self.net);
            let size = 1 + net.dice.below(3);
            let mut batch: Vec<Message> = Vec::new();
            let fifo = ROUTES.iter().any(|(q, fifo, _)| *q == queue && *fifo);
            let mut index = 0;
            while batch.len() < size {
                let q = &net.queues[queue];
                let candidates: Vec<usize> =
                    (index..q.ready.len()).filter(|&i| deliverable(q, &q.ready[i], now)).collect();
                let Some(&at) =
                    (if fifo { candidates.first() } else { candidates.get(net.dice.below(candidates.len().max(1))) })
                else {
                    break;
                };
                let q = net.queues.get_mut(queue).expect("queue");
                let mut message = q.ready.remove(at).expect("candidate");
                message.receives += 1;
                if fifo {
                    index = at;
                }
                batch.push(message);
            }
            if fifo {
                let q = net.queues.get_mut(queue).expect("queue");
                q.busy_groups.extend(batch.iter().filter_map(|m| m.group.clone()));
            } else {
                // The work outlasts the visibility timeout: SQS hands the message out again
                // while this invocation still runs (a FIFO group stays locked meanwhile).
                for message in &batch {
                    if net.fault(|f| f.early_redelivery) {
                        net.log(format!("    SQS hands out message {} again while it is being handled", message.id));
                        let again = Message { visible_at: now, ..message.clone() };
                        net.queues.get_mut(queue).expect("queue").ready.push_back(again);
                    }
                }
            }
            batch
        };
        let event = sqs_event(queue, &batch);
        // Each consumer is its own type; they share only `handle(SqsEvent, &Invocation)`.
        macro_rules! invoke {
            ($consumer:expr) => {{
                let consumer = $consumer.clone();
                Box::pin(async move { consumer.handle(event, &Invocation::local()).await }) as Boxed<SqsBatchResponse>
            }};
        }
        let future = match queue {
            "order-validator" => invoke!(self.validator),
            "fraud-detector" => invoke!(self.fraud),
            "inventory" => invoke!(self.inventory),
            "payment" => invoke!(self.payment),
            "shipping" => invoke!(self.shipping),
            "analytics" => invoke!(self.analytics),
            _ => invoke!(self.notifier),
        };
        let label = format!("{queue} <- {}", describe_messages(&batch));
        self.start(label, Settle::Sqs(queue, batch, future));
    }

    fn settle_sqs(&mut self, queue: &'static str, batch: Vec<Message>, failed: impl Fn(&Message) -> bool) {
        let mut net = lock(&self.net);
        let duplicate_rate = net.faults.sqs_duplicates;
        let fifo = ROUTES.iter().any(|(q, fifo, _)| *q == queue && *fifo);
        let mut back = Vec::new();
        for message in batch {
            if !failed(&message) {
                if !fifo && duplicate_rate > 0 && net.dice.chance(duplicate_rate) {
                    back.push(Message { receives: 0, ..message });
                }
                continue;
            }
            if message.receives >= MAX_RECEIVES {
                net.log(format!("    SQS moves message {} to the {queue} DLQ", message.id));
                net.queues.get_mut(queue).expect("queue").dead.push(message);
            } else {
                back.push(message);
            }
        }
        let visible_at = clock::now() + Duration::seconds(VISIBILITY);
        let q = net.queues.get_mut(queue).expect("queue");
        q.busy_groups.clear();
        for message in back.into_iter().rev() {
            let message = Message { visible_at, ..message };
            if fifo { q.ready.push_front(message) } else { q.ready.push_back(message) }
        }
    }

    fn deliver_stream(&mut self, key: (&'static str, String)) {
        let records: Vec<StreamRecord> = {
            let mut net = lock(&self.net);
            let size = 1 + net.dice.below(3);
            net.busy_shards.insert(key.clone());
            net.shards[&key].iter().take(size).cloned().collect()
        };
        let event = stream_event(&records);
        let future: Boxed<DynamoDbEventResponse> = if key.0 == "outbox-relay" {
            let relay = self.relay.clone();
            Box::pin(async move { relay.handle(event).await })
        } else {
            let projector = self.projector.clone();
            Box::pin(async move { projector.handle(event).await })
        };
        let label = format!(
            "{} <- {}",
            key.0,
            records
                .iter()
                .map(|r| format!("{} v{} {}", r.envelope.stream_id, r.envelope.version, r.envelope.event_type))
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.start(label, Settle::Stream(key, records, future));
    }

    /// Records before `done` are checkpointed; the first after it failed once more, and the
    /// mapping gives up on it after STREAM_MAX_RETRIES (AWS keeps only its metadata).
    fn settle_stream(&mut self, key: (&'static str, String), delivered: usize, done: usize) {
        let mut net = lock(&self.net);
        net.busy_shards.remove(&key);
        let shard = net.shards.get_mut(&key).expect("shard");
        shard.drain(..done);
        if done < delivered
            && let Some(head) = shard.front_mut()
        {
            head.failures += 1;
            if STREAM_MAX_RETRIES.is_some_and(|max| head.failures > max) {
                let skipped = shard.pop_front().expect("head");
                net.log(format!(
                    "    {} gives up on {} v{}",
                    key.0, skipped.envelope.stream_id, skipped.envelope.version
                ));
                net.skipped.push((key.0, skipped.envelope));
            }
        }
    }

    fn send_intent(&mut self, i: usize) {
        let intent = &mut self.intents[i];
        intent.in_flight = true;
        intent.attempts += 1;
        let headers = serde_json::json!({
            "x-api-key": intent.api_key,
            "idempotency-key": intent.key,
            "x-correlation-id": intent.key,
        });
        let (route, path) = match intent.stock {
            Some((sku, _)) => ("POST /inventory/{sku}/stock", format!("/inventory/{sku}/stock")),
            None => ("POST /orders", "/orders".to_string()),
        };
        let mut request = api_request(route, &path, headers, intent.body.clone());
        if let Some((sku, _)) = intent.stock {
            use lambda_http::RequestExt;
            request =
                request.with_path_parameters(std::collections::HashMap::from([("sku".to_string(), sku.to_string())]));
        }
        let api = self.api.clone();
        let label = format!("client {route} ({}, attempt {})", intent.key, intent.attempts);
        self.start(label, Settle::Client(i, Box::pin(async move { api.handle(request, &Invocation::local()).await })));
    }

    fn deliver_callback(&mut self) {
        let callback = {
            let mut net = lock(&self.net);
            let count = net.callbacks.len();
            let index = net.dice.below(count);
            let callback = net.callbacks.swap_remove(index);
            // Providers deliver at least once; and someone may forge one.
            if net.dice.chance(250) {
                net.callbacks.push(callback.clone());
            }
            if net.dice.chance(150) {
                net.callbacks.push(Callback { forged: true, authorized: true, ..callback.clone() });
            }
            callback
        };
        let body = serde_json::json!({
            "orderId": callback.order_id,
            "outcome": if callback.authorized { "authorized" } else { "declined" },
            "authorizationId": callback.authorization_id,
        })
        .to_string();
        let secret: &[u8] = if callback.forged { b"change-me-too" } else { PAYMENT_SECRET.as_bytes() };
        let timestamp = clock::now().timestamp();
        let headers = serde_json::json!({
            TIMESTAMP_HEADER: timestamp.to_string(),
            SIGNATURE_HEADER: sign(secret, timestamp, body.as_bytes()),
        });
        let request = api_request("POST /webhooks/payments", "/webhooks/payments", headers, body);
        let api = self.api.clone();
        let label = format!(
            "provider callback {} {} for {}",
            if callback.forged { "FORGED" } else { "signed" },
            if callback.authorized { "authorized" } else { "declined" },
            callback.order_id
        );
        self.start(
            label,
            Settle::Callback(callback, Box::pin(async move { api.handle(request, &Invocation::local()).await })),
        );
    }

    /// The operator's `replay --from-archive`: every event the bus took goes through its
    /// rules again (the archive keeps them 30 days). Nothing may happen twice.
    fn replay_archive(&mut self) {
        let events = self.store.inner.all_events();
        let mut net = lock(&self.net);
        let published: Vec<_> = events.into_iter().filter(|e| net.published.contains(&e.event_id)).collect();
        net.log(format!("-- the bus archive is replayed: {} events", published.len()));
        for event in &published {
            net.route(event);
        }
    }

    /// The operator's `dlq redrive`: what SQS moved to a DLQ and what consumers parked go
    /// back to where they came from.
    fn redrive(&mut self) {
        let letters = self.dead_letters.inner.take();
        let mut net = lock(&self.net);
        net.log(format!("-- redrive: {} parked letters", letters.len()));
        for (queue, _, _) in ROUTES {
            let q = net.queues.get_mut(queue).expect("queue");
            let dead = std::mem::take(&mut q.dead);
            q.ready.extend(dead.into_iter().map(|m| Message {
                receives: 0,
                visible_at: DateTime::<Utc>::MIN_UTC,
                ..m
            }));
        }
        for letter in letters {
            if letter.consumer == "outbox-relay" || letter.consumer == "projector" {
                let consumer = if letter.consumer == "projector" { "projector" } else { "outbox-relay" };
                if let Some(envelope) = self.stored_event_of(&letter) {
                    let sequence = net.fresh_id();
                    let shard = net.shards.entry((consumer, super::net::shard_of(&envelope.stream_id))).or_default();
                    shard.push_back(StreamRecord { sequence, envelope, failures: 0 });
                } else {
                    net.log(format!("    cannot redrive a {} letter: {}", letter.consumer, letter.reason));
                    net.unredrivable.push(letter);
                }
            } else if let Some((queue, _, _)) = ROUTES.iter().find(|(q, _, _)| source_queue(&letter) == Some(*q)) {
                let message: Option<SqsMessage> = serde_json::from_value(letter.record.clone()).ok();
                match message.and_then(|m| Some((m.body?, m.attributes.get("MessageGroupId").cloned()))) {
                    Some((body, group)) => {
                        let id = net.fresh_id();
                        net.queues.get_mut(queue).expect("queue").ready.push_back(Message {
                            id,
                            body,
                            group,
                            receives: 0,
                            visible_at: DateTime::<Utc>::MIN_UTC,
                        });
                    }
                    None => net.unredrivable.push(letter),
                }
            } else {
                net.unredrivable.push(letter);
            }
        }
    }
}

impl World {
    /// The event a parked stream record carries: from the record, or for a letter parked
    /// by reference from the store (as `orderflow dlq redrive` reads it).
    fn stored_event_of(&self, letter: &toolkit::deadletter::DeadLetter) -> Option<toolkit::envelope::EventEnvelope> {
        if let Some(stored) = letter.stored.as_ref().filter(|_| letter.record.is_null()) {
            let events = self.store.inner.all_events();
            return events.into_iter().find(|e| e.stream_id == stored.stream_id && e.version == stored.version);
        }
        let record = serde_json::from_value::<EventRecord>(letter.record.clone()).ok()?;
        toolkit::store::time_index::envelope_from_item(record.change.new_image).ok()
    }
}

/// The queue a parked SQS message came from (its event source ARN ends `sim-<queue>`).
fn source_queue(letter: &toolkit::deadletter::DeadLetter) -> Option<&str> {
    letter.record["eventSourceARN"].as_str()?.rsplit(':').next()?.strip_prefix("sim-")
}

enum Done {
    Sqs(SqsBatchResponse),
    Stream(DynamoDbEventResponse),
    Http(lambda_http::Response<lambda_http::Body>),
    Swept,
}

fn deliverable(queue: &super::net::Queue, message: &Message, now: DateTime<Utc>) -> bool {
    message.visible_at <= now && message.group.as_ref().is_none_or(|g| !queue.busy_groups.contains(g))
}

fn describe_messages(batch: &[Message]) -> String {
    batch
        .iter()
        .map(|m| {
            let event: serde_json::Value = serde_json::from_str(&m.body).unwrap_or_default();
            format!(
                "#{} {} {} (receive {})",
                m.id,
                event["detail-type"].as_str().unwrap_or("?"),
                event["detail"]["streamId"].as_str().unwrap_or("?"),
                m.receives
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn sqs_event(queue: &str, batch: &[Message]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = batch
        .iter()
        .map(|m| {
            let mut message = SqsMessage::default();
            message.message_id = Some(m.id.to_string());
            message.event_source_arn = Some(format!("arn:aws:sqs:us-east-1:000000000000:sim-{queue}"));
            message.body = Some(m.body.clone());
            message.attributes.insert("ApproximateReceiveCount".into(), m.receives.to_string());
            if let Some(group) = &m.group {
                message.attributes.insert("MessageGroupId".into(), group.clone());
            }
            message
        })
        .collect();
    event
}

fn stream_event(records: &[StreamRecord]) -> StreamEvent {
    let mut event = StreamEvent::default();
    event.records = records
        .iter()
        .map(|r| {
            let mut record = EventRecord::default();
            record.event_name = "INSERT".into();
            record.change.sequence_number = Some(r.sequence.to_string());
            record.change.approximate_creation_date_time = r.envelope.occurred_at;
            record.change.new_image = toolkit::store::time_index::item_of(&r.envelope).expect("an envelope as an item");
            record
        })
        .collect();
    event
}

/// An HTTP API (payload 2.0) request, as API Gateway hands it to the function.
fn api_request(route: &str, path: &str, headers: serde_json::Value, body: String) -> lambda_http::Request {
    let request_id = format!("req-{}", clock::new_uuid().simple());
    let event = serde_json::json!({
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000", "apiId": "sim", "domainName": "sim.localhost", "domainPrefix": "sim",
            "http": { "method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "sim" },
            "requestId": request_id, "routeKey": route, "stage": "$default",
            "time": "01/Jan/2030:00:00:00 +0000", "timeEpoch": 1_893_456_000_000u64,
        },
        "body": body,
        "isBase64Encoded": false,
    });
    lambda_http::request::from_str(&event.to_string()).expect("a simulated API Gateway request")
}

/// Polls a future that only waits on simulation turns to its end (set-up and checks).
pub fn run_to_end<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..10_000 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
    panic!("a set-up or check future did not finish");
}

//! A harness for end-to-end tests: finds the deployed stack on the emulator named by
//! `ORDERFLOW_ENDPOINT` (set by `orderflow test`) and talks to it as a client would.
#![forbid(unsafe_code)]

use aws_sdk_dynamodb::types::AttributeValue;
use orderflow::stacks::stack::StackInfo;
use orderflow::stacks::target::{Clients, Target};
use services::views::OrderView;
use std::time::{Duration, Instant};
use toolkit::envelope::EventEnvelope;

/// How long an order may take from placed to its final state on the emulator.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long [`Harness::place_order`] keeps sending an order the door refuses as busy.
pub const ADMISSION_PATIENCE: Duration = Duration::from_secs(180);

/// Keeps a figure a test measured: `orderflow test` prints every report at the end
/// (passing tests' output is otherwise captured).
pub fn report(name: &str, text: &str) {
    if let Some(dir) = std::env::var_os("ORDERFLOW_REPORT_DIR") {
        let path = std::path::Path::new(&dir).join(format!("{name}.txt"));
        let _ = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(path, format!("{text}\n")));
    }
}

pub struct Harness {
    pub clients: Clients,
    pub stack: StackInfo,
    pub api_url: String,
    http: reqwest::Client,
    /// With the stack's admin key: stock, analytics, scenario replays.
    admin_http: reqwest::Client,
}

/// An HTTP answer: status and JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
    /// The `retry-after` header, when the API sent one (429, 503).
    pub retry_after: Option<String>,
}

async fn answer_of(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(String::from);
    let text = response.text().await.unwrap_or_default();
    Answer { status, body: serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)), retry_after }
}

impl Harness {
    pub async fn connect() -> Harness {
        Self::connect_with("ORDERFLOW_API_KEY").await
    }

    /// With the test stack's admin key: it reads every order, those with no recorded owner
    /// (stored by an older build) included.
    pub async fn connect_as_admin() -> Harness {
        Self::connect_with("ORDERFLOW_ADMIN_API_KEY").await
    }

    /// With the key in this environment variable (set by `orderflow test`).
    pub async fn connect_with(key_variable: &str) -> Harness {
        let endpoint = std::env::var("ORDERFLOW_ENDPOINT").expect(
            "ORDERFLOW_ENDPOINT is not set: end-to-end tests need a deployed stack; run them with `cargo run -p orderflow -- test`",
        );
        let stack_name =
            std::env::var("ORDERFLOW_STACK").unwrap_or_else(|_| orderflow::stacks::stack::DEFAULT_STACK.to_string());
        let target = Target::external(&endpoint);
        let clients = Clients::new(target.clone()).await;
        let stack = StackInfo::require(&clients, &stack_name).await.expect("the stack is deployed");
        let api_url = stack.api_url(&target).expect("the stack has an HTTP API");
        let key = std::env::var(key_variable).unwrap_or_else(|_| panic!("{key_variable} is set by `orderflow test`"));
        let http = orderflow::stacks::api_key::http_client(&key).expect("a usable API key");
        let admin =
            std::env::var("ORDERFLOW_ADMIN_API_KEY").expect("ORDERFLOW_ADMIN_API_KEY is set by `orderflow test`");
        let admin_http = orderflow::stacks::api_key::http_client(&admin).expect("a usable admin key");
        Harness { clients, stack, api_url, http, admin_http }
    }

    /// A correlation id unique to one test, to find exactly its events.
    pub fn correlation_id(test: &str) -> String {
        format!("e2e-{test}-{}", uuid::Uuid::new_v4().simple())
    }

    pub async fn send(&self, method: &str, path: &str, correlation_id: &str, body: Option<String>) -> Answer {
        self.send_with(method, path, &[("x-correlation-id", correlation_id)], body).await
    }

    /// Sends a request as the stack's operator (the admin key): stock and analytics.
    pub async fn send_as_admin(&self, method: &str, path: &str, correlation_id: &str, body: Option<String>) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut request = self
            .admin_http
            .request(method, format!("{}{path}", self.api_url))
            .header("x-correlation-id", correlation_id);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body);
        }
        answer_of(request.send().await.expect("the HTTP API answers")).await
    }

    /// Sends a request with these headers (an `x-api-key` here replaces the tests' key).
    pub async fn send_with(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<String>) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut request = self.http.request(method, format!("{}{path}", self.api_url));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body);
        }
        let response = request.send().await.expect("the HTTP API answers");
        answer_of(response).await
    }

    /// Places an order as a patient client does: refused at the door while the saga is
    /// behind (503 with `Retry-After`; other tests share the stack), it waits as asked and
    /// sends it again, for up to [`ADMISSION_PATIENCE`].
    pub async fn place_order(&self, body: &serde_json::Value, correlation_id: &str) -> Answer {
        let started = Instant::now();
        loop {
            let answer = self.place_order_once(body, correlation_id).await;
            let wait = answer.retry_after.as_deref().and_then(|s| s.parse::<u64>().ok());
            match wait {
                Some(seconds) if answer.status == 503 && started.elapsed() < ADMISSION_PATIENCE => {
                    tokio::time::sleep(Duration::from_secs(seconds.min(30))).await;
                }
                _ => return answer,
            }
        }
    }

    /// Places an order once and returns whatever the door answered (202, 400, 503...).
    pub async fn place_order_once(&self, body: &serde_json::Value, correlation_id: &str) -> Answer {
        self.send("POST", "/orders", correlation_id, Some(body.to_string())).await
    }

    /// Polls the read model until the order is in a final state; panics after the timeout.
    pub async fn wait_for_final_state(&self, order_id: &str) -> OrderView {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        let mut last = None;
        while Instant::now() < deadline {
            let answer = self.send_as_admin("GET", &format!("/orders/{order_id}"), "e2e-poll", None).await;
            if answer.status == 200 {
                let view: OrderView = serde_json::from_value(answer.body.clone()).expect("an order view");
                if view.status.is_terminal() {
                    return view;
                }
            }
            last = Some(answer);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("order {order_id} not final within {SETTLE_TIMEOUT:?}; last answer: {last:?}");
    }

    /// Every stored event of one correlation id, in stream order.
    pub async fn stored_events(&self, correlation_id: &str) -> Vec<EventEnvelope> {
        let table = self.stack.output("EventStoreTableName").expect("event store output");
        let mut events = orderflow::ops::trace::by_correlation(&self.clients, table, correlation_id)
            .await
            .expect("query by correlation");
        events.sort_by(|a, b| (a.stream_id.as_str(), a.version).cmp(&(b.stream_id.as_str(), b.version)));
        events
    }

    /// Puts an event on the stack's bus, as a producer would.
    pub async fn put_on_bus(&self, detail_type: &str, detail: &serde_json::Value) {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(self.stack.output("EventBusName").expect("bus output"))
            .source(toolkit::bus::EVENT_SOURCE)
            .detail_type(detail_type)
            .detail(detail.to_string())
            .build();
        let output = self.clients.eventbridge().put_events().entries(entry).send().await.expect("PutEvents");
        assert_eq!(output.failed_entry_count(), 0, "{output:?}");
    }

    /// Waits for the dead letter whose body contains `marker` in the queue named by the
    /// stack output `queue_output`, and removes it; panics after the timeout.
    pub async fn wait_for_dead_letter(&self, queue_output: &str, marker: &str) -> toolkit::deadletter::DeadLetter {
        let queue_url = self.stack.output(queue_output).expect("queue output").to_string();
        let sqs = self.clients.sqs();
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        while Instant::now() < deadline {
            let received = sqs
                .receive_message()
                .queue_url(&queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .visibility_timeout(0)
                .send()
                .await
                .expect("ReceiveMessage");
            for message in received.messages() {
                let body = message.body().unwrap_or_default();
                if body.contains(marker) {
                    let _ = sqs
                        .delete_message()
                        .queue_url(&queue_url)
                        .receipt_handle(message.receipt_handle().unwrap_or_default())
                        .send()
                        .await;
                    return serde_json::from_str(body).expect("a dead letter");
                }
            }
        }
        panic!("no dead letter containing {marker} in {queue_output} within {SETTLE_TIMEOUT:?}");
    }

    /// Writes an event straight into the event store, as an older build would have.
    pub async fn store_event(&self, event: &EventEnvelope) {
        let table = self.stack.output("EventStoreTableName").expect("event store output");
        let item: std::collections::HashMap<String, AttributeValue> = serde_dynamo::to_item(event).expect("an item");
        self.clients
            .dynamodb()
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(streamId)")
            .send()
            .await
            .expect("PutItem");
    }

    /// Replays a scenario of `events/scenarios/` under a fresh run id; returns the run id
    /// and the final view of every order it placed, in the order they were placed.
    pub async fn replay_scenario(&self, name: &str) -> (String, Vec<OrderView>) {
        self.replay_scenario_waiting(name, std::time::Duration::ZERO).await
    }

    /// As [`Harness::replay_scenario`], for orders that take `extra` longer to settle.
    pub async fn replay_scenario_waiting(&self, name: &str, extra: std::time::Duration) -> (String, Vec<OrderView>) {
        use orderflow::ops::replay;
        let run_id = replay::new_run_id();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/scenarios").join(name);
        let samples = replay::load_samples(&dir, &run_id).expect("the scenario loads");
        // As the operator: scenarios stock their shelves, which takes an admin key.
        let (api_url, http) = (self.api_url.clone(), self.admin_http.clone());
        let target = replay::Target { clients: &self.clients, stack: &self.stack, api_url, http, pacer: None };
        let replayed = replay::send_all(&target, samples).await.expect("the scenario is sent");
        let order_ids: Vec<String> = replayed.iter().flat_map(|r| r.order_ids().map(str::to_string)).collect();
        let views = self.wait_for_final_states(&order_ids, extra).await;
        assert_eq!(views.len(), order_ids.len(), "every order of {name} has a view");
        (run_id, views)
    }

    /// Runs `waiting` while the timeout sweeper is invoked every 5 s from `after` on, as
    /// its schedule invokes it each minute: orders past their timeout then end seconds
    /// after it instead of at the schedule's next minute (up to a minute of idle waiting).
    /// [`Harness::the_schedule_invoked_the_sweeper`] keeps the schedule itself tested.
    pub async fn sweeping_while<F: std::future::Future>(&self, after: Duration, waiting: F) -> F::Output {
        let function = self.stack.function_name("timeout-sweeper");
        let lambda = self.clients.lambda();
        let sweeps = async {
            tokio::time::sleep(after).await;
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let payload = aws_sdk_lambda::primitives::Blob::new(b"{}".to_vec());
                if let Err(error) = lambda.invoke().function_name(&function).payload(payload).send().await {
                    eprintln!("invoking {function}: {}", toolkit::error::error_text(&error));
                }
            }
        };
        tokio::select! {
            output = waiting => output,
            () = sweeps => unreachable!("the sweeps never end"),
        }
    }

    /// Whether the sweeper's schedule rule (not a test) invoked it at least once, from the
    /// emulator's log of its scheduled dispatches (MiniStack logs a function's output only
    /// for direct invocations); `None` when the tests run on an emulator they did not start.
    pub fn the_schedule_invoked_the_sweeper(&self) -> Option<bool> {
        let function = self.stack.function_name("timeout-sweeper");
        self.log_lines_with(&["EventBridge → Lambda", &format!("{function}:"), "dispatched"]).map(|lines| lines > 0)
    }

    /// Polls until every order is final (or the time is up); the last view of each.
    pub async fn wait_for_final_states(&self, order_ids: &[String], extra: Duration) -> Vec<OrderView> {
        // The admin key reads every order: the tests' own and the scenarios' (placed as admin).
        orderflow::ops::replay::wait_for_final_states(&self.api_url, &self.admin_http, order_ids, extra).await
    }

    /// Replays a scenario under a run id of the caller's choosing (to replay it twice).
    pub async fn replay_scenario_as(&self, name: &str, run_id: &str) -> Vec<String> {
        use orderflow::ops::replay;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/scenarios").join(name);
        let samples = replay::load_samples(&dir, run_id).expect("the scenario loads");
        let (api_url, http) = (self.api_url.clone(), self.admin_http.clone());
        let target = replay::Target { clients: &self.clients, stack: &self.stack, api_url, http, pacer: None };
        let replayed = replay::send_all(&target, samples).await.expect("the scenario is sent");
        replayed.iter().flat_map(|r| r.order_ids().map(str::to_string)).collect()
    }

    /// The versions of a stream, in order (any stream: `order-…`, `sku-…`).
    pub async fn versions_of(&self, stream_id: &str) -> Vec<u64> {
        self.stream(stream_id).await.iter().map(|e| e.version).collect()
    }

    /// A stream as the functions read it: through the toolkit's event store (consistent
    /// reads, every page).
    pub async fn stream(&self, stream_id: &str) -> Vec<EventEnvelope> {
        let table = self.stack.output("EventStoreTableName").expect("event store output");
        let store = toolkit::store::DynamoEventStore::new(self.clients.dynamodb(), table);
        toolkit::store::EventStore::load(&store, &toolkit::envelope::StreamId::new(stream_id), 0)
            .await
            .expect("the stream can be read")
    }

    /// Every event of the store, grouped by stream, each stream in version order.
    pub async fn all_streams(&self) -> std::collections::BTreeMap<String, Vec<EventEnvelope>> {
        let table = self.stack.output("EventStoreTableName").expect("event store output");
        let items: Vec<_> = self
            .clients
            .dynamodb()
            .scan()
            .table_name(table)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .expect("scan the event store");
        let mut streams: std::collections::BTreeMap<String, Vec<EventEnvelope>> = Default::default();
        for item in items {
            if let Ok(event) = toolkit::store::time_index::envelope_from_item(item) {
                streams.entry(event.stream_id.as_str().to_string()).or_default().push(event);
            }
        }
        streams.values_mut().for_each(|events| events.sort_by_key(|e| e.version));
        streams
    }

    /// Sends a raw message to one of the stack's queues (by output name, e.g. `PaymentQueueUrl`).
    pub async fn send_to_queue(&self, queue_output: &str, body: &str) {
        let url = self.stack.output(queue_output).expect("queue output");
        let mut request = self.clients.sqs().send_message().queue_url(url).message_body(body);
        if url.ends_with(".fifo") {
            let id = uuid::Uuid::new_v4().to_string();
            request = request.message_group_id("e2e").message_deduplication_id(id);
        }
        request.send().await.expect("SendMessage");
    }

    /// Waits (up to `timeout`) for a message mentioning `marker` in the DLQ named by
    /// `queue` (as `orderflow dlq show` takes it), and returns it explained; left in place.
    pub async fn wait_for_letter(&self, queue: &str, marker: &str, timeout: Duration) -> orderflow::ops::dlq::Letter {
        let dlq = orderflow::ops::dlq::find(&self.stack, queue).expect("the DLQ exists");
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let letters = orderflow::ops::dlq::show(&self.clients, &dlq).await.expect("the DLQ can be read");
            if let Some(letter) = letters.into_iter().find(|l| l.mentions(marker)) {
                return letter;
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        panic!("no message mentioning {marker} in {} within {timeout:?}", dlq.name);
    }

    /// Waits (up to `timeout`) until the DLQ named by `queue` holds `count` messages
    /// mentioning `marker`; returns those found last (fewer when the time ran out).
    pub async fn wait_for_letters(
        &self,
        queue: &str,
        marker: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<orderflow::ops::dlq::Letter> {
        let dlq = orderflow::ops::dlq::find(&self.stack, queue).expect("the DLQ exists");
        let deadline = Instant::now() + timeout;
        loop {
            let letters = orderflow::ops::dlq::show(&self.clients, &dlq).await.expect("the DLQ can be read");
            let mine: Vec<_> = letters.into_iter().filter(|l| l.mentions(marker)).collect();
            if mine.len() >= count || Instant::now() > deadline {
                return mine;
            }
            // `show` hides what it read for two seconds.
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
    }

    /// Lines of the emulator's log (functions' logs included) containing every one of
    /// `needles`; `None` when the tests run on an emulator they did not start.
    pub fn log_lines_with(&self, needles: &[&str]) -> Option<usize> {
        let path = std::env::var("ORDERFLOW_EMULATOR_LOG").ok().filter(|p| !p.is_empty())?;
        let text = std::fs::read_to_string(path).ok()?;
        Some(text.lines().filter(|line| needles.iter().all(|n| line.contains(n))).count())
    }

    /// The event types of an order's stream, in version order.
    pub async fn stream_of(&self, order_id: &str) -> Vec<String> {
        self.stream(&format!("order-{order_id}")).await.into_iter().map(|e| e.event_type).collect()
    }

    /// (on hand, taken) of a SKU, from the API: taken is what orders hold plus what left
    /// with shipments (a shipment moves its units from held to shipped a hop later, so the
    /// sum is what stays put once an order is final).
    pub async fn stock_of(&self, sku: &str) -> (u64, u64) {
        let answer = self.send("GET", &format!("/inventory/{sku}"), "e2e-stock", None).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        let count = |field: &str| answer.body[field].as_u64().unwrap_or(u64::MAX);
        (count("onHand"), count("held").saturating_add(count("shipped")))
    }

    /// Dead letters in any DLQ of the stack whose body mentions `marker` (left in place).
    pub async fn dead_letters_mentioning(&self, marker: &str) -> Vec<String> {
        let sqs = self.clients.sqs();
        let mut found = Vec::new();
        for (name, url) in self.stack.queues().into_iter().filter(|(name, _)| name.contains("DeadLetter")) {
            let received = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(0)
                .send()
                .await
                .expect("ReceiveMessage");
            for message in received.messages().iter().filter(|m| m.body().unwrap_or_default().contains(marker)) {
                found.push(format!("{name}: {}", message.body().unwrap_or_default()));
            }
        }
        found
    }

    /// Units of each SKU sold in the last hour, polled until they equal `expected` (the
    /// analytics are counted asynchronously) or the settle time is up.
    pub async fn wait_for_units_sold(&self, skus: &[String], expected: &[i64]) -> Vec<i64> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let answer = self.send_as_admin("GET", "/analytics/sales", "e2e-sales", None).await;
            assert_eq!(answer.status, 200, "{:?}", answer.body);
            let sales = answer.body["sales"].as_array().cloned().unwrap_or_default();
            let units: Vec<i64> = skus
                .iter()
                .map(|sku| sales.iter().filter(|s| s["sku"] == sku.as_str()).filter_map(|s| s["units"].as_i64()).sum())
                .collect();
            if units == expected || Instant::now() > deadline {
                return units;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// (channel, event type) of every notification of an order, sorted, once `expected`
    /// many were recorded or the settle time is up.
    pub async fn wait_for_notifications(&self, order_id: &str, expected: usize) -> Vec<(String, String)> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let answer = self
                .send_as_admin("GET", &format!("/orders/{order_id}/notifications"), "e2e-notifications", None)
                .await;
            assert_eq!(answer.status, 200, "{:?}", answer.body);
            let mut found: Vec<(String, String)> = answer.body["notifications"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|n| {
                    (
                        n["channel"].as_str().unwrap_or_default().to_string(),
                        n["eventType"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            found.sort();
            if found.len() >= expected || Instant::now() > deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The webhook requests the test run's receiver got for an order: (event type, signature valid).
    pub fn webhooks_received(&self, order_id: &str) -> Vec<(String, bool)> {
        let Ok(path) = std::env::var("ORDERFLOW_WEBHOOK_LOG") else { return Vec::new() };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|entry| entry["body"]["event"]["streamId"] == format!("order-{order_id}").as_str())
            .map(|entry| {
                (
                    entry["body"]["event"]["eventType"].as_str().unwrap_or_default().to_string(),
                    entry["signatureValid"] == true,
                )
            })
            .collect()
    }

    /// Polls the read model until the order is in `status`; panics after the settle time.
    pub async fn wait_for_status(&self, order_id: &str, status: domain::OrderStatus) -> OrderView {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        while Instant::now() < deadline {
            let answer = self.send_as_admin("GET", &format!("/orders/{order_id}"), "e2e-poll", None).await;
            if let Ok(view) = serde_json::from_value::<OrderView>(answer.body)
                && view.status == status
            {
                return view;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("order {order_id} never reached {status:?} within {SETTLE_TIMEOUT:?}");
    }

    /// POSTs `body` signed as the payment provider signs its callbacks.
    pub async fn signed_post(&self, path: &str, body: &str, secret: &[u8], timestamp: i64) -> Answer {
        use services::notify::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
        let response = self
            .http
            .post(format!("{}{path}", self.api_url))
            .header("content-type", "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, sign(secret, timestamp, body.as_bytes()))
            .body(body.to_string())
            .send()
            .await
            .expect("the HTTP API answers");
        answer_of(response).await
    }

    /// The order's stream once its last event is `last` (compensations follow a final
    /// status asynchronously), or as it is when the settle time is up.
    pub async fn wait_for_stream_ending(&self, order_id: &str, last: &str) -> Vec<String> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let stream = self.stream_of(order_id).await;
            if stream.last().map(String::as_str) == Some(last) || Instant::now() > deadline {
                return stream;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

//! Each handler run on the sample events in `events/`, against in-memory fakes.

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use domain::{EventCodec, OrderStatus, ValidationPolicy};
use serde::de::DeserializeOwned;
use services::analytics::InMemoryAnalytics;
use services::handlers::outbox_relay::OutboxRelay;
use services::handlers::projector::Projector;
use services::handlers::validator::{OrderValidator, Validation};
use services::views::{InMemoryOrderViews, OrderViews};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use support::{TestApi, callback_request, test_api};
use toolkit::bus::InMemoryBus;
use toolkit::deadletter::InMemoryDeadLetters;
use toolkit::envelope::{EventEnvelope, StreamId};
use toolkit::invocation::Invocation;
use toolkit::store::{EventStore, InMemoryEventStore};

mod support;

fn sample_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events").join(name)
}

fn sample_text(name: &str) -> String {
    std::fs::read_to_string(sample_path(name)).unwrap_or_else(|e| panic!("events/{name}: {e}"))
}

fn sample<T: DeserializeOwned>(name: &str) -> T {
    serde_json::from_str(&sample_text(name)).unwrap_or_else(|e| panic!("events/{name}: {e}"))
}

fn placed() -> EventEnvelope {
    sample("domain/order-placed.json")
}

fn order_stream() -> StreamId {
    placed().stream_id
}

fn response_json(response: &lambda_http::Response<lambda_http::Body>) -> serde_json::Value {
    serde_json::from_slice(response.body().as_ref()).expect("a JSON body")
}

// ------------------------------------------------------------------ api-ingress

#[tokio::test]
async fn api_places_a_valid_order_and_answers_202_with_its_id() {
    let api = test_api(InMemoryEventStore::default(), InMemoryOrderViews::default());
    let request = lambda_http::request::from_str(&sample_text("aws/apigw-v2-post-order.json")).unwrap();
    let response = api.handle(request, &Invocation::local()).await;
    assert_eq!(response.status(), 202);
    assert!(domain::OrderId::parse(response_json(&response)["orderId"].as_str().unwrap()).is_some());
    assert_eq!(response.headers()["x-correlation-id"], "sample-correlation-0001");
}

#[tokio::test]
async fn api_stores_order_placed_with_the_callers_correlation_and_the_request_as_cause() {
    let store = InMemoryEventStore::default();
    let api = test_api(store, InMemoryOrderViews::default());
    let request = lambda_http::request::from_str(&sample_text("aws/apigw-v2-post-order.json")).unwrap();
    let response = api.handle(request, &Invocation::local()).await;
    let order_id = response_json(&response)["orderId"].as_str().unwrap().to_string();
    let stored = api_store(&api).load(&StreamId::new(format!("order-{order_id}")), 0).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].event_type, "OrderPlaced");
    assert_eq!(stored[0].version, 1);
    assert_eq!(stored[0].correlation_id.as_str(), "sample-correlation-0001");
    assert_eq!(stored[0].causation_id.as_str(), "request-0001");
    assert_eq!(stored[0].payload["total"]["amountMinor"], 4848);
}

#[tokio::test]
async fn api_answers_400_naming_the_bad_field_and_stores_nothing() {
    let api = test_api(InMemoryEventStore::default(), InMemoryOrderViews::default());
    let request = lambda_http::request::from_str(&sample_text("aws/apigw-v2-post-order-invalid.json")).unwrap();
    let response = api.handle(request, &Invocation::local()).await;
    assert_eq!(response.status(), 400);
    assert_eq!(response_json(&response)["field"], "lines[0].quantity");
    assert!(api_store(&api).all_events().is_empty());
}

#[tokio::test]
async fn api_answers_404_for_an_order_it_does_not_know_and_200_once_projected() {
    let views = InMemoryOrderViews::default();
    let api = test_api(InMemoryEventStore::default(), views);
    let request = || lambda_http::request::from_str(&sample_text("aws/apigw-v2-get-order.json")).unwrap();
    assert_eq!(api.handle(request(), &Invocation::local()).await.status(), 404);

    let projector =
        Projector::new(InMemoryEventStore::default(), InMemoryOrderViews::default(), InMemoryDeadLetters::default());
    projector.handle(sample::<StreamEvent>("aws/dynamodb-stream-order-validated.json")).await;
    let view = projector_views(&projector).get(placed_order_id()).await.unwrap().unwrap();
    // The sample was placed before owners were recorded: here the sample key placed it.
    let view = services::views::OrderView { placed_by: Some("samples".into()), ..view };
    api_views(&api).save(&view, 0).await.unwrap();
    let response = api.handle(request(), &Invocation::local()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response_json(&response)["status"], "Validated");
}

// The handlers own their ports; these accessors reach the fakes inside for assertions.
fn api_store(api: &TestApi) -> &InMemoryEventStore {
    api.ports().0
}
fn api_views(api: &TestApi) -> &InMemoryOrderViews {
    api.ports().1
}
fn projector_views(
    projector: &Projector<InMemoryEventStore, InMemoryOrderViews, InMemoryDeadLetters>,
) -> &InMemoryOrderViews {
    projector.ports().1
}
fn placed_order_id() -> domain::OrderId {
    serde_json::from_value(placed().payload["orderId"].clone()).unwrap()
}

// ------------------------------------------------------------------ order-validator

fn validator_with(events: Vec<EventEnvelope>) -> OrderValidator<InMemoryEventStore, InMemoryDeadLetters> {
    OrderValidator::new(
        InMemoryEventStore::with_events(events),
        InMemoryDeadLetters::default(),
        Validation(ValidationPolicy::default()),
    )
}

#[tokio::test]
async fn validator_appends_order_validated_caused_by_the_placement() {
    let validator = validator_with(vec![placed()]);
    let response = validator.handle(sample::<SqsEvent>("aws/sqs-order-placed.json"), &Invocation::local()).await;
    assert!(response.batch_item_failures.is_empty());
    let stream = validator.ports().0.load(&order_stream(), 0).await.unwrap();
    assert_eq!(stream.len(), 2);
    assert_eq!(stream[1].event_type, "OrderValidated");
    assert_eq!(stream[1].causation_id.as_str(), placed().event_id.to_string());
    assert_eq!(stream[1].correlation_id, placed().correlation_id);
}

#[tokio::test]
async fn validator_does_nothing_when_the_same_message_arrives_twice() {
    let validator = validator_with(vec![placed()]);
    validator.handle(sample::<SqsEvent>("aws/sqs-order-placed.json"), &Invocation::local()).await;
    let response = validator.handle(sample::<SqsEvent>("aws/sqs-order-placed.json"), &Invocation::local()).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(validator.ports().0.load(&order_stream(), 0).await.unwrap().len(), 2);
}

#[tokio::test]
async fn validator_rejects_an_order_over_the_policy_limits() {
    let policy = ValidationPolicy { max_line_quantity: 1, ..ValidationPolicy::default() };
    let validator = OrderValidator::new(
        InMemoryEventStore::with_events(vec![placed()]),
        InMemoryDeadLetters::default(),
        Validation(policy),
    );
    validator.handle(sample::<SqsEvent>("aws/sqs-order-placed.json"), &Invocation::local()).await;
    let stream = validator.ports().0.load(&order_stream(), 0).await.unwrap();
    assert_eq!(stream[1].event_type, "OrderRejected");
    assert_eq!(stream[1].payload["reasons"][0], "quantity 2 of SKU-TEA-001 exceeds the limit of 1 per line");
}

#[tokio::test]
async fn validator_parks_a_poison_message_and_still_processes_the_rest() {
    let validator = validator_with(vec![placed()]);
    let response =
        validator.handle(sample::<SqsEvent>("aws/sqs-order-placed-with-poison.json"), &Invocation::local()).await;
    assert!(response.batch_item_failures.is_empty(), "poison is parked, not retried");
    let letters = validator.ports().1.letters();
    assert_eq!(letters.len(), 1);
    assert!(letters[0].reason.contains("not an EventBridge event"), "{}", letters[0].reason);
    assert_eq!(validator.ports().0.load(&order_stream(), 0).await.unwrap().len(), 2);
}

#[tokio::test]
async fn validator_parks_an_order_the_store_does_not_hold() {
    let validator = validator_with(vec![]);
    validator.handle(sample::<SqsEvent>("aws/sqs-order-placed.json"), &Invocation::local()).await;
    let letters = validator.ports().1.letters();
    assert_eq!(letters.len(), 1);
    assert!(letters[0].reason.contains("has no events in the store"), "{}", letters[0].reason);
}

// ------------------------------------------------------------------ outbox-relay

fn relay() -> OutboxRelay<InMemoryBus, InMemoryDeadLetters> {
    OutboxRelay::new(InMemoryBus::default(), InMemoryDeadLetters::default()).with_retry_delay(Duration::ZERO)
}

#[tokio::test]
async fn relay_publishes_stored_events_in_stream_order() {
    let relay = relay();
    let response = relay.handle(sample::<StreamEvent>("aws/dynamodb-stream-order-validated.json")).await;
    assert!(response.batch_item_failures.is_empty());
    let published: Vec<String> = relay.ports().0.published().iter().map(|e| e.event_type.clone()).collect();
    assert_eq!(published, vec!["OrderPlaced", "OrderValidated"]);
    assert_eq!(relay.ports().0.published()[0], placed());
}

#[tokio::test]
async fn relay_parks_a_record_that_is_not_an_event_and_keeps_the_shard_moving() {
    let relay = relay();
    let response = relay.handle(sample::<StreamEvent>("aws/dynamodb-stream-with-poison.json")).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(relay.ports().0.published().len(), 2);
    assert_eq!(relay.ports().1.letters().len(), 1);
    assert_eq!(relay.ports().1.letters()[0].consumer, "outbox-relay");
}

#[tokio::test]
async fn relay_checkpoints_at_the_first_event_the_bus_keeps_refusing() {
    let relay = relay();
    let validated: EventEnvelope = sample("domain/order-validated.json");
    relay.ports().0.refuse(validated.event_id);
    let response = relay.handle(sample::<StreamEvent>("aws/dynamodb-stream-order-validated.json")).await;
    let failures: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failures, vec![Some("100000000000000000002".to_string())]);
    assert_eq!(relay.ports().0.published().len(), 1);

    relay.ports().0.accept(validated.event_id);
    let retried = relay.handle(sample::<StreamEvent>("aws/dynamodb-stream-order-validated.json")).await;
    assert!(retried.batch_item_failures.is_empty());
}

#[tokio::test]
async fn relay_parks_by_reference_an_event_too_large_for_any_message_and_moves_on() {
    // An item stored before the event budget (or by another writer): 300 KB of payload.
    let relay = relay();
    let mut event = sample::<StreamEvent>("aws/dynamodb-stream-order-validated.json");
    let image = &mut event.records[0].change.new_image;
    let mut envelope = toolkit::store::time_index::envelope_from_item(image.clone()).unwrap();
    envelope.payload["customerId"] = serde_json::json!("c".repeat(300_000));
    *image = toolkit::store::time_index::item_of(&envelope).unwrap();
    let response = relay.handle(event).await;
    assert!(response.batch_item_failures.is_empty(), "the shard moves on");
    assert_eq!(relay.ports().0.published().len(), 1, "the next record was published");
    let letters = relay.ports().1.letters();
    assert_eq!(letters.len(), 1);
    assert!(letters[0].record.is_null(), "the record is left out");
    assert!(letters[0].reason.contains("parked by reference"), "{}", letters[0].reason);
    let stored = letters[0].stored.as_ref().expect("the stored event it names");
    assert_eq!((&stored.stream_id, stored.version, stored.event_id), (&envelope.stream_id, 1, envelope.event_id));
    assert!(toolkit::limits::json_len(&letters[0]) < toolkit::limits::MESSAGE_BYTES);
}

// ------------------------------------------------------------------ projector

fn projector_with(
    events: Vec<EventEnvelope>,
) -> Projector<InMemoryEventStore, InMemoryOrderViews, InMemoryDeadLetters> {
    Projector::new(
        InMemoryEventStore::with_events(events),
        InMemoryOrderViews::default(),
        InMemoryDeadLetters::default(),
    )
}

#[tokio::test]
async fn projector_builds_the_order_view_with_its_timeline() {
    let projector = projector_with(vec![]);
    let response = projector.handle(sample::<StreamEvent>("aws/dynamodb-stream-order-validated.json")).await;
    assert!(response.batch_item_failures.is_empty());
    let view = projector_views(&projector).get(placed_order_id()).await.unwrap().unwrap();
    assert_eq!(view.status, OrderStatus::Validated);
    assert_eq!(view.version, 2);
    let timeline: Vec<_> = view.timeline.iter().map(|t| (t.version, t.event_type.as_str())).collect();
    assert_eq!(timeline, vec![(1, "OrderPlaced"), (2, "OrderValidated")]);
}

#[tokio::test]
async fn projector_ignores_a_redelivered_batch() {
    let projector = projector_with(vec![]);
    projector.handle(sample::<StreamEvent>("aws/dynamodb-stream-order-validated.json")).await;
    let before = projector_views(&projector).get(placed_order_id()).await.unwrap();
    projector.handle(sample::<StreamEvent>("aws/dynamodb-stream-order-validated.json")).await;
    assert_eq!(projector_views(&projector).get(placed_order_id()).await.unwrap(), before);
}

#[tokio::test]
async fn projector_fills_a_gap_from_the_store() {
    let validated: EventEnvelope = sample("domain/order-validated.json");
    let projector = projector_with(vec![placed(), validated]);
    let mut only_second = sample::<StreamEvent>("aws/dynamodb-stream-order-validated.json");
    only_second.records.remove(0);
    projector.handle(only_second).await;
    let view = projector_views(&projector).get(placed_order_id()).await.unwrap().unwrap();
    assert_eq!(view.version, 2);
    assert_eq!(view.timeline.len(), 2);
}

#[tokio::test]
async fn projector_parks_poison_and_applies_the_rest() {
    let projector = projector_with(vec![]);
    let response = projector.handle(sample::<StreamEvent>("aws/dynamodb-stream-with-poison.json")).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(projector.ports().2.letters().len(), 1);
    assert_eq!(projector_views(&projector).get(placed_order_id()).await.unwrap().unwrap().version, 2);
}

/// Order views that count their reads; `stale_batch_reads` makes a batch read see no view,
/// as if another writer saved one just after it.
#[derive(Default)]
struct CountingViews {
    inner: InMemoryOrderViews,
    gets: std::sync::atomic::AtomicUsize,
    batch_reads: std::sync::atomic::AtomicUsize,
    stale_batch_reads: bool,
}

impl OrderViews for CountingViews {
    async fn get(
        &self,
        order_id: domain::OrderId,
    ) -> Result<Option<services::views::OrderView>, services::views::ViewError> {
        self.gets.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.get(order_id).await
    }
    async fn get_many(
        &self,
        order_ids: &[domain::OrderId],
    ) -> Result<std::collections::HashMap<domain::OrderId, services::views::OrderView>, services::views::ViewError>
    {
        self.batch_reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match self.stale_batch_reads {
            true => Ok(Default::default()),
            false => self.inner.get_many(order_ids).await,
        }
    }
    async fn count_by_customer_since(
        &self,
        owner: &str,
        customer_id: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<u32, services::views::ViewError> {
        self.inner.count_by_customer_since(owner, customer_id, since).await
    }
    async fn by_customer(
        &self,
        owner: Option<&str>,
        customer_id: &str,
        limit: u32,
        cursor: Option<&services::views::Cursor>,
    ) -> Result<services::views::CustomerPage, services::views::ViewError> {
        self.inner.by_customer(owner, customer_id, limit, cursor).await
    }
    async fn in_status_since_before(
        &self,
        status: OrderStatus,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<domain::OrderId>, services::views::ViewError> {
        self.inner.in_status_since_before(status, before).await
    }
    async fn save(&self, view: &services::views::OrderView, expected: u64) -> Result<(), services::views::ViewError> {
        self.inner.save(view, expected).await
    }
}

const OTHER_ORDER: &str = "0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

/// The sample batch (Placed and Validated of one order) followed by the same for another order.
fn two_orders_batch() -> StreamEvent {
    let first = sample::<StreamEvent>("aws/dynamodb-stream-order-validated.json");
    let text = serde_json::to_string(&first).unwrap().replace(&placed_order_id().to_string(), OTHER_ORDER);
    let mut batch = first;
    batch.records.extend(serde_json::from_str::<StreamEvent>(&text).unwrap().records);
    batch
}

#[tokio::test]
async fn projector_reads_the_views_of_a_batch_at_once() {
    let projector =
        Projector::new(InMemoryEventStore::default(), CountingViews::default(), InMemoryDeadLetters::default());
    assert!(projector.handle(two_orders_batch()).await.batch_item_failures.is_empty());
    let views = projector.ports().1;
    for order in [placed_order_id(), domain::OrderId::parse(OTHER_ORDER).unwrap()] {
        assert_eq!(views.inner.get(order).await.unwrap().unwrap().version, 2, "{order}");
    }
    assert_eq!(views.batch_reads.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(
        views.gets.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the second event of each order builds on the first's save"
    );
}

#[tokio::test]
async fn projector_catches_a_view_that_changed_after_the_batch_read_it() {
    let views = CountingViews { stale_batch_reads: true, ..Default::default() };
    let projector = Projector::new(InMemoryEventStore::default(), views, InMemoryDeadLetters::default());
    let mut only_placed = sample::<StreamEvent>("aws/dynamodb-stream-order-validated.json");
    only_placed.records.truncate(1);
    projector.handle(only_placed).await;
    // The batch read now misses the stored view (v1): the save expecting none is refused,
    // the view is read again and the batch's events land on it once each.
    assert!(projector.handle(two_orders_batch()).await.batch_item_failures.is_empty());
    let view = projector.ports().1.inner.get(placed_order_id()).await.unwrap().unwrap();
    let timeline: Vec<_> = view.timeline.iter().map(|t| (t.version, t.event_type.as_str())).collect();
    assert_eq!(timeline, vec![(1, "OrderPlaced"), (2, "OrderValidated")]);
}

// ------------------------------------------------------------------ fixtures

/// Parse, serialize, parse again: the typed events lose nothing a handler reads.
fn assert_round_trips<T: DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug>(name: &str) {
    let parsed: T = sample(name);
    let again: T = serde_json::from_value(serde_json::to_value(&parsed).unwrap()).unwrap();
    assert_eq!(parsed, again, "events/{name}");
}

#[test]
fn every_aws_sample_round_trips_through_its_typed_event() {
    assert_round_trips::<SqsEvent>("aws/sqs-order-placed.json");
    assert_round_trips::<SqsEvent>("aws/sqs-order-placed-with-poison.json");
    assert_round_trips::<StreamEvent>("aws/dynamodb-stream-order-placed.json");
    assert_round_trips::<StreamEvent>("aws/dynamodb-stream-order-validated.json");
    assert_round_trips::<StreamEvent>("aws/dynamodb-stream-with-poison.json");
    assert_round_trips::<aws_lambda_events::event::eventbridge::EventBridgeEvent<EventEnvelope>>(
        "aws/eventbridge-order-placed.json",
    );
    assert_round_trips::<aws_lambda_events::event::apigw::ApiGatewayV2httpRequest>("aws/apigw-v2-post-order.json");
    for name in ["domain/order-placed.json", "domain/order-validated.json", "domain/order-rejected.json"] {
        let envelope: EventEnvelope = sample(name);
        domain::OrderEvent::from_envelope(&envelope).unwrap_or_else(|e| panic!("events/{name}: {e}"));
    }
}

#[tokio::test]
async fn relay_parks_an_event_whose_payload_breaks_its_schema() {
    let relay = relay();
    let mut event = sample::<StreamEvent>("aws/dynamodb-stream-order-placed.json");
    let image = &mut event.records[0].change.new_image;
    let mut envelope = toolkit::store::time_index::envelope_from_item(image.clone()).unwrap();
    envelope.payload["lines"][0]["quantity"] = serde_json::json!("two");
    *image = toolkit::store::time_index::item_of(&envelope).unwrap();
    let response = relay.handle(event).await;
    assert!(response.batch_item_failures.is_empty());
    assert!(relay.ports().0.published().is_empty());
    let reason = &relay.ports().1.letters()[0].reason;
    assert!(reason.starts_with("OrderPlaced v1: /lines/0/quantity:"), "{reason}");
}

#[tokio::test]
async fn validator_parks_an_order_placed_that_breaks_its_schema() {
    let mut placed = placed();
    placed.payload["total"]["currency"] = serde_json::json!("euro");
    let validator = validator_with(vec![placed.clone()]);
    let mut event = sample::<SqsEvent>("aws/sqs-order-placed.json");
    let mut body: serde_json::Value = serde_json::from_str(event.records[0].body.as_deref().unwrap()).unwrap();
    body["detail"] = serde_json::to_value(&placed).unwrap();
    event.records[0].body = Some(body.to_string());
    let response = validator.handle(event, &Invocation::local()).await;
    assert!(response.batch_item_failures.is_empty(), "a schema violation is not retried");
    let reason = &validator.ports().1.letters()[0].reason;
    assert!(reason.contains("/total/currency"), "{reason}");
    assert_eq!(validator.ports().0.load(&order_stream(), 0).await.unwrap().len(), 1, "nothing appended");
}

// ------------------------------------------------------------------ analytics

#[tokio::test]
async fn analytics_counts_each_event_once_however_often_it_arrives() {
    use services::analytics::AnalyticsStore;
    use services::handlers::analytics::AnalyticsConsumer;
    let consumer = AnalyticsConsumer::new(
        InMemoryEventStore::with_events(vec![placed()]),
        InMemoryAnalytics::default(),
        InMemoryDeadLetters::default(),
    );
    let response = consumer.handle(sample::<SqsEvent>("aws/sqs-order-placed.json"), &Invocation::local()).await;
    assert!(response.batch_item_failures.is_empty());
    consumer.handle(sample::<SqsEvent>("aws/sqs-order-placed.json"), &Invocation::local()).await;
    let counts = consumer.ports().1.status_counts().await.unwrap();
    assert_eq!(counts.get("Placed"), Some(&1));
}

/// The events as SQS messages of the analytics queue (an EventBridge event in each body).
fn analytics_batch(events: &[EventEnvelope]) -> SqsEvent {
    let mut batch = SqsEvent::default();
    batch.records = events
        .iter()
        .enumerate()
        .map(|(i, envelope)| {
            let mut message = aws_lambda_events::event::sqs::SqsMessage::default();
            message.message_id = Some(format!("m{i}"));
            message.body = Some(
                serde_json::json!({ "detail-type": envelope.event_type, "source": toolkit::bus::EVENT_SOURCE, "detail": envelope })
                    .to_string(),
            );
            message
        })
        .collect();
    batch
}

#[tokio::test]
async fn analytics_counts_a_batch_in_one_transaction_and_each_event_once_after_it() {
    use services::analytics::AnalyticsStore;
    use services::handlers::analytics::AnalyticsConsumer;
    let (_, events) = reserved_order();
    let consumer = AnalyticsConsumer::new(
        InMemoryEventStore::with_events(events.clone()),
        InMemoryAnalytics::default(),
        InMemoryDeadLetters::default(),
    );
    let expected = BTreeMap::from([
        ("Placed".to_string(), 0),
        ("Validated".to_string(), 0),
        ("Cleared".to_string(), 0),
        ("Reserved".to_string(), 1),
    ]);
    // One event alone first: the batch then cannot be counted together (its marker is
    // there), so each of its events is counted alone, the first one not again.
    consumer.handle(analytics_batch(&events[1..2]), &Invocation::local()).await;
    let response = consumer.handle(analytics_batch(&events), &Invocation::local()).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(consumer.ports().1.status_counts().await.unwrap(), expected);
    // The whole batch, and each event, delivered again: nothing moves.
    consumer.handle(analytics_batch(&events), &Invocation::local()).await;
    for event in &events {
        consumer.handle(analytics_batch(std::slice::from_ref(event)), &Invocation::local()).await;
    }
    assert_eq!(consumer.ports().1.status_counts().await.unwrap(), expected);
}

#[tokio::test]
async fn analytics_counts_a_fresh_batch_together_as_each_event_alone_would() {
    use services::analytics::AnalyticsStore;
    use services::handlers::analytics::AnalyticsConsumer;
    let (_, events) = reserved_order();
    let store = || InMemoryEventStore::with_events(events.clone());
    let together = AnalyticsConsumer::new(store(), InMemoryAnalytics::default(), InMemoryDeadLetters::default());
    // Reordered, as the bus may deliver them.
    let reordered: Vec<EventEnvelope> = events.iter().rev().cloned().collect();
    assert!(together.handle(analytics_batch(&reordered), &Invocation::local()).await.batch_item_failures.is_empty());
    let alone = AnalyticsConsumer::new(store(), InMemoryAnalytics::default(), InMemoryDeadLetters::default());
    for event in &events {
        alone.handle(analytics_batch(std::slice::from_ref(event)), &Invocation::local()).await;
    }
    let (together, alone) = (together.ports().1, alone.ports().1);
    assert_eq!((together.transactions(), alone.transactions()), (1, 4));
    assert_eq!(together.status_counts().await.unwrap(), alone.status_counts().await.unwrap());
    let day = chrono::Utc::now();
    let window = (day - chrono::Duration::days(1), day + chrono::Duration::days(1));
    assert_eq!(together.sales(window.0, window.1).await.unwrap(), alone.sales(window.0, window.1).await.unwrap());
    assert!(!together.record_together(&[]).await.unwrap(), "nothing to write is not a write");
}

// ------------------------------------------------------------------ payment callback

/// An order waiting for its payment (the provider gave no answer yet).
fn reserved_order() -> (domain::OrderId, Vec<EventEnvelope>) {
    use domain::saga::{FraudCleared, ReservedLine, StockReserved};
    use toolkit::envelope::{Causality, CausationId, CorrelationId};
    let placed = placed();
    let id = placed_order_id();
    let causality =
        Causality { correlation_id: CorrelationId::new("c"), causation_id: CausationId::new("c"), trace_id: None };
    let next = |event: domain::OrderEvent, version| {
        event.into_new_event(causality.clone(), chrono::Utc::now()).into_envelope(placed.stream_id.clone(), version)
    };
    let lines = vec![ReservedLine { sku: "SKU-TEA-001".into(), quantity: 2 }];
    let events = vec![
        placed.clone(),
        next(domain::OrderEvent::OrderValidated(domain::OrderValidated { order_id: id }), 2),
        next(domain::OrderEvent::FraudCleared(FraudCleared { order_id: id, score: 0 }), 3),
        next(domain::OrderEvent::StockReserved(StockReserved { order_id: id, lines }), 4),
    ];
    (id, events)
}

fn callback_api(events: Vec<EventEnvelope>) -> TestApi {
    test_api(InMemoryEventStore::with_events(events), InMemoryOrderViews::default())
        .with_payment_webhook_secret(b"provider-secret".to_vec())
}

#[tokio::test]
async fn a_signed_payment_callback_settles_the_waiting_order() {
    let (id, events) = reserved_order();
    let api = callback_api(events);
    let body = format!(r#"{{"orderId":"{id}","outcome":"authorized","authorizationId":"prov-1"}}"#);
    let response = api
        .handle(callback_request(&body, chrono::Utc::now().timestamp(), b"provider-secret"), &Invocation::local())
        .await;
    assert_eq!(response.status(), 200, "{:?}", response_json(&response));
    let stream = api_store(&api).load(&order_stream(), 0).await.unwrap();
    assert_eq!(stream.last().map(|e| e.event_type.as_str()), Some("PaymentAuthorized"));
    // The provider retries its callback: nothing more happens.
    let again = api
        .handle(callback_request(&body, chrono::Utc::now().timestamp(), b"provider-secret"), &Invocation::local())
        .await;
    assert_eq!(response_json(&again)["applied"], false);
    assert_eq!(api_store(&api).load(&order_stream(), 0).await.unwrap().len(), 5);
}

#[tokio::test]
async fn a_forged_or_stale_payment_callback_gets_401_and_stores_nothing() {
    let (id, events) = reserved_order();
    let api = callback_api(events);
    let body = format!(r#"{{"orderId":"{id}","outcome":"authorized"}}"#);
    let forged = api
        .handle(callback_request(&body, chrono::Utc::now().timestamp(), b"guessed-secret"), &Invocation::local())
        .await;
    assert_eq!(forged.status(), 401);
    let stale = api
        .handle(
            callback_request(&body, chrono::Utc::now().timestamp() - 3_600, b"provider-secret"),
            &Invocation::local(),
        )
        .await;
    assert_eq!(stale.status(), 401);
    assert!(response_json(&stale)["error"].as_str().unwrap().contains("timestamp"));
    assert_eq!(api_store(&api).load(&order_stream(), 0).await.unwrap().len(), 4, "nothing stored");
}

#[tokio::test]
async fn an_oversized_callback_is_refused_before_its_signature_is_checked_and_floods_are_limited() {
    let (id, events) = reserved_order();
    let first = callback_api(events);
    let huge = format!(r#"{{"orderId":"{id}","outcome":"declined","reason":"{}"}}"#, "x".repeat(6 * 1024 * 1024));
    let answer = first.handle(callback_request(&huge, 0, b"guessed-secret"), &Invocation::local()).await;
    assert_eq!(answer.status(), 413, "not 401: its size is refused first");
    // One simulated second: the source's 51st call is refused.
    let api = callback_api(reserved_order().1);
    let _clock = toolkit::clock::simulate(chrono::Utc::now(), 7);
    let body = format!(r#"{{"orderId":"{id}","outcome":"authorized"}}"#);
    let mut statuses = Vec::new();
    for _ in 0..=services::handlers::api::UNAUTHENTICATED_PER_SECOND {
        let forged = callback_request(&body, toolkit::clock::now().timestamp(), b"guessed-secret");
        statuses.push(api.handle(forged, &Invocation::local()).await.status().as_u16());
    }
    assert!(statuses[..statuses.len() - 1].iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429));
    assert_eq!(api_store(&api).load(&order_stream(), 0).await.unwrap().len(), 4, "nothing stored");
}

// ------------------------------------------------------------------ access and idempotency

fn post_order_with(headers: &[(&str, &str)]) -> lambda_http::Request {
    let mut event: serde_json::Value = sample("aws/apigw-v2-post-order.json");
    for (name, value) in headers {
        match value {
            &"" => event["headers"].as_object_mut().unwrap().remove(*name),
            _ => event["headers"].as_object_mut().unwrap().insert(name.to_string(), serde_json::json!(value)),
        };
    }
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

#[tokio::test]
async fn api_answers_401_without_a_key_and_403_with_an_unknown_one_and_stores_nothing() {
    let api = test_api(InMemoryEventStore::default(), InMemoryOrderViews::default());
    let missing = api.handle(post_order_with(&[("x-api-key", "")]), &Invocation::local()).await;
    assert_eq!(missing.status(), 401);
    assert_eq!(response_json(&missing)["error"], "missing x-api-key header");
    let forged = api.handle(post_order_with(&[("x-api-key", "guessed-key")]), &Invocation::local()).await;
    assert_eq!(forged.status(), 403);
    assert!(api_store(&api).all_events().is_empty());
}

#[tokio::test]
async fn api_answers_429_over_the_keys_rate_and_serves_other_keys_meanwhile() {
    let api = test_api(InMemoryEventStore::default(), InMemoryOrderViews::default());
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            api.handle(post_order_with(&[("x-api-key", "throttled-key")]), &Invocation::local())
                .await
                .status()
                .as_u16(),
        );
    }
    // Two per second: unless the second turned during the loop, exactly two got in.
    let admitted = statuses.iter().filter(|s| **s == 202).count();
    assert!((2..=4).contains(&admitted) && statuses.contains(&429), "{statuses:?}");
    let limited = api.handle(post_order_with(&[("x-api-key", "throttled-key")]), &Invocation::local()).await;
    if limited.status() == 429 {
        assert_eq!(limited.headers()["retry-after"], "1");
    }
    assert_eq!(
        api.handle(post_order_with(&[]), &Invocation::local()).await.status(),
        202,
        "the sample key has its own budget"
    );
}

#[tokio::test]
async fn api_places_an_order_once_per_idempotency_key() {
    let api = test_api(InMemoryEventStore::default(), InMemoryOrderViews::default());
    let first = api.handle(post_order_with(&[("idempotency-key", "order-a")]), &Invocation::local()).await;
    let again = api.handle(post_order_with(&[("idempotency-key", "order-a")]), &Invocation::local()).await;
    assert_eq!((first.status().as_u16(), again.status().as_u16()), (202, 202));
    assert_eq!(response_json(&first)["orderId"], response_json(&again)["orderId"]);
    assert_eq!(api_store(&api).all_events().len(), 1, "one order placed");
}

#[tokio::test]
async fn api_answers_422_when_an_idempotency_key_comes_back_with_another_body() {
    let api = test_api(InMemoryEventStore::default(), InMemoryOrderViews::default());
    api.handle(post_order_with(&[("idempotency-key", "order-a")]), &Invocation::local()).await;
    let mut event: serde_json::Value = sample("aws/apigw-v2-post-order.json");
    event["headers"]["idempotency-key"] = serde_json::json!("order-a");
    event["body"] = serde_json::json!(event["body"].as_str().unwrap().replace("\"quantity\": 2", "\"quantity\": 3"));
    let response = api.handle(lambda_http::request::from_str(&event.to_string()).unwrap(), &Invocation::local()).await;
    assert_eq!(response.status(), 422, "{}", response_json(&response));
    assert_eq!(response_json(&response)["field"], "Idempotency-Key");
    assert_eq!(api_store(&api).all_events().len(), 1);
}

#[tokio::test]
async fn api_answers_422_for_a_key_reused_with_another_body_after_its_record_expired() {
    let first = test_api(InMemoryEventStore::default(), InMemoryOrderViews::default());
    let placed = first.handle(post_order_with(&[("idempotency-key", "order-a")]), &Invocation::local()).await;
    assert_eq!(placed.status(), 202);
    // A day later: the idempotency record expired, the order it placed is still stored.
    let later =
        test_api(InMemoryEventStore::with_events(api_store(&first).all_events()), InMemoryOrderViews::default());
    let mut event: serde_json::Value = sample("aws/apigw-v2-post-order.json");
    event["headers"]["idempotency-key"] = serde_json::json!("order-a");
    event["body"] = serde_json::json!(event["body"].as_str().unwrap().replace("\"quantity\": 2", "\"quantity\": 3"));
    let other = later.handle(lambda_http::request::from_str(&event.to_string()).unwrap(), &Invocation::local()).await;
    assert_eq!(other.status(), 422, "{}", response_json(&other));
    assert!(response_json(&other)["error"].as_str().unwrap().contains("already placed order"));
    let same = later.handle(post_order_with(&[("idempotency-key", "order-a")]), &Invocation::local()).await;
    assert_eq!(same.status(), 202, "the same order again is its repeat");
    assert_eq!(response_json(&same)["orderId"], response_json(&placed)["orderId"]);
    assert_eq!(api_store(&later).all_events().len(), 1, "nothing more stored");
}

fn add_stock(sku: &str) -> lambda_http::Request {
    let mut event: serde_json::Value = sample("aws/apigw-v2-post-order.json");
    let route = "POST /inventory/{sku}/stock";
    event["routeKey"] = serde_json::json!(route);
    event["requestContext"]["routeKey"] = serde_json::json!(route);
    event["rawPath"] = serde_json::json!(format!("/inventory/{sku}/stock"));
    event["pathParameters"] = serde_json::json!({ "sku": sku });
    event["body"] = serde_json::json!(r#"{"quantity": 5}"#);
    event["headers"]["x-api-key"] = serde_json::json!(support::ADMIN_API_KEY);
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

fn add_stock_as(sku: &str, key: &str, quantity: u64, idempotency_key: Option<&str>) -> lambda_http::Request {
    let mut event: serde_json::Value =
        serde_json::from_str(&support::sample_text("aws/apigw-v2-post-order.json")).unwrap();
    let route = "POST /inventory/{sku}/stock";
    event["routeKey"] = serde_json::json!(route);
    event["requestContext"]["routeKey"] = serde_json::json!(route);
    event["rawPath"] = serde_json::json!(format!("/inventory/{sku}/stock"));
    event["pathParameters"] = serde_json::json!({ "sku": sku });
    event["body"] = serde_json::json!(format!(r#"{{"quantity": {quantity}}}"#));
    event["headers"]["x-api-key"] = serde_json::json!(key);
    if let Some(idempotency_key) = idempotency_key {
        event["headers"]["idempotency-key"] = serde_json::json!(idempotency_key);
    }
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

#[tokio::test]
async fn stock_is_added_once_per_idempotency_key_even_after_its_record_is_gone() {
    let first = test_api(InMemoryEventStore::default(), InMemoryOrderViews::default());
    let local = Invocation::local();
    let request = || add_stock_as("SKU-1", support::ADMIN_API_KEY, 5, Some("restock-1"));
    assert_eq!(first.handle(request(), &local).await.status(), 200);
    assert_eq!(first.handle(request(), &local).await.status(), 200, "a repeat gets the answer");
    assert_eq!(api_store(&first).all_events().len(), 1);
    let answer = first.handle(add_stock_as("SKU-1", support::ADMIN_API_KEY, 5, Some("restock-2")), &local).await;
    assert_eq!(response_json(&answer)["onHand"], 10, "another key is another addition");
}

#[tokio::test]
async fn a_stock_retry_after_a_lost_answer_and_a_released_claim_adds_nothing() {
    use services::access::InMemoryRateLimiter;
    use services::notify::InMemoryNotificationLog;
    use toolkit::idempotency::InMemoryIdempotencyStore;
    let store = std::sync::Arc::new(InMemoryEventStore::default());
    // Each API instance has idempotency records of its own: the second sees none of the first's.
    let api = || {
        services::handlers::api::Api::new(
            store.clone(),
            InMemoryOrderViews::default(),
            InMemoryAnalytics::default(),
            InMemoryNotificationLog::default(),
            InMemoryIdempotencyStore::default(),
            InMemoryRateLimiter::default(),
        )
        .with_api_keys(support::test_keys())
    };
    let local = Invocation::local();
    let request = || add_stock_as("SKU-1", support::ADMIN_API_KEY, 5, Some("restock-1"));
    assert_eq!(api().handle(request(), &local).await.status(), 200);
    let retried = api().handle(request(), &local).await;
    assert_eq!(retried.status(), 200, "{}", response_json(&retried));
    assert_eq!(response_json(&retried)["onHand"], 5, "added once");
    assert_eq!(store.all_events().len(), 1);
}

#[tokio::test]
async fn only_an_admin_key_adds_stock_or_reads_analytics() {
    let api = test_api(InMemoryEventStore::default(), InMemoryOrderViews::default());
    let local = Invocation::local();
    let refused = api.handle(add_stock_as("SKU-1", support::SAMPLE_API_KEY, 5, None), &local).await;
    assert_eq!(refused.status(), 403, "{}", response_json(&refused));
    assert!(api_store(&api).all_events().is_empty(), "nothing stored");
    let mut event: serde_json::Value = sample("aws/apigw-v2-get-order.json");
    for route in ["/analytics/sales", "/analytics/orders"] {
        event["routeKey"] = serde_json::json!(format!("GET {route}"));
        event["requestContext"]["routeKey"] = serde_json::json!(format!("GET {route}"));
        event["rawPath"] = serde_json::json!(route);
        event["pathParameters"] = serde_json::json!({});
        let answer = api.handle(lambda_http::request::from_str(&event.to_string()).unwrap(), &local).await;
        assert_eq!(answer.status(), 403, "{route}: {}", response_json(&answer));
    }
}

#[tokio::test]
async fn stock_that_would_overflow_the_shelf_is_refused_naming_the_quantity() {
    let api = test_api(InMemoryEventStore::default(), InMemoryOrderViews::default());
    let local = Invocation::local();
    let max = u64::from(u32::MAX);
    assert_eq!(api.handle(add_stock_as("SKU-1", support::ADMIN_API_KEY, max, None), &local).await.status(), 200);
    let refused = api.handle(add_stock_as("SKU-1", support::ADMIN_API_KEY, max, None), &local).await;
    assert_eq!(refused.status(), 400, "{}", response_json(&refused));
    assert_eq!(response_json(&refused)["field"], "quantity");
    assert!(response_json(&refused)["error"].as_str().unwrap().contains("at most 0 more units"));
    assert_eq!(api_store(&api).all_events().len(), 1, "the second addition stored nothing");
}

#[tokio::test]
async fn api_refuses_new_orders_with_503_and_retry_after_while_the_saga_is_behind() {
    use toolkit::admission::{Admission, FixedBacklog};
    let backlog = FixedBacklog::new(100);
    let admission = Admission::new(&backlog, 100).fresh_for(std::time::Duration::ZERO);
    let api = test_api(InMemoryEventStore::default(), InMemoryOrderViews::default()).with_admission(admission);
    let local = Invocation::local();
    let accepted = api.handle(post_order_with(&[("idempotency-key", "order-a")]), &local).await;
    assert_eq!(accepted.status(), 202, "at the limit: {}", response_json(&accepted));

    backlog.set(250);
    let refused = api.handle(post_order_with(&[("idempotency-key", "order-b")]), &local).await;
    assert_eq!(refused.status(), 503, "{}", response_json(&refused));
    assert_eq!(refused.headers()["retry-after"], "4", "one second plus one per half limit above it");
    assert!(response_json(&refused)["error"].as_str().unwrap().contains("250 messages"), "names the backlog");
    let repeat = api.handle(post_order_with(&[("idempotency-key", "order-a")]), &local).await;
    assert_eq!(repeat.status(), 202, "a repeat of an accepted order gets its answer");
    assert_eq!(response_json(&repeat)["orderId"], response_json(&accepted)["orderId"]);
    assert_eq!(api.handle(add_stock("SKU-1"), &local).await.status(), 200, "stock additions keep working");
    let mut invalid_event: serde_json::Value = sample("aws/apigw-v2-post-order-invalid.json");
    invalid_event["headers"]["x-api-key"] = serde_json::json!(support::SAMPLE_API_KEY);
    let bad = api.handle(lambda_http::request::from_str(&invalid_event.to_string()).unwrap(), &local).await;
    assert_eq!(bad.status(), 400, "a bad order is told what is wrong, busy or not");

    backlog.set(40);
    let order_b = api.handle(post_order_with(&[("idempotency-key", "order-b")]), &local).await;
    assert_eq!(order_b.status(), 202, "the refused order goes through once the saga caught up");
    let stored = api.ports().0.all_events().len();
    assert_eq!(stored, 3, "order a, the stock addition, order b: nothing from refusals");
}

#[tokio::test]
async fn api_refuses_new_orders_with_503_while_the_relay_is_behind_though_the_queues_are_empty() {
    use toolkit::admission::{Admission, BacklogGauge, FixedBacklog, InMemoryAdmissionTable};
    // Records written two hours ago: the relay is behind.
    let waits = InMemoryAdmissionTable::default();
    let relay = relay().with_wait_report(&waits);
    relay.ports().0.refuse(placed().event_id);
    let late = || {
        let mut event = sample::<StreamEvent>("aws/dynamodb-stream-order-validated.json");
        let written = chrono::Utc::now() - chrono::Duration::hours(2);
        event.records.iter_mut().for_each(|r| r.change.approximate_creation_date_time = written);
        event
    };
    for _ in 0..2 {
        let response = relay.handle(late()).await;
        assert_eq!(response.batch_item_failures.len(), 1, "the bus refuses the first record");
    }
    let reported = waits.reported();
    assert_eq!(reported.len(), 1, "{reported:?}");
    assert_eq!(reported[0].consumer, "outbox-relay");
    assert!(reported[0].waited > Duration::from_secs(3_600), "{reported:?}");
    // The same records handed over again days later (a redrive of old letters) are no lag.
    let redriven = InMemoryAdmissionTable::default();
    let relay_again = self::relay().with_wait_report(&redriven);
    relay_again.handle(sample::<StreamEvent>("aws/dynamodb-stream-order-validated.json")).await;
    assert!(redriven.reported().is_empty(), "a record past the stream's 24 hours: {:?}", redriven.reported());

    let gauge = FixedBacklog::new(0).with_table(&waits);
    let admission = Admission::new(&gauge, 100).refusing_waits_over(Duration::from_secs(60)).fresh_for(Duration::ZERO);
    let api = test_api(InMemoryEventStore::default(), InMemoryOrderViews::default()).with_admission(admission);
    let local = Invocation::local();
    let refused = api.handle(post_order_with(&[]), &local).await;
    assert_eq!(refused.status(), 503, "{}", response_json(&refused));
    assert_eq!(refused.headers()["retry-after"], "30", "far behind: the longest retry");
    let error = response_json(&refused)["error"].as_str().unwrap().to_string();
    assert!(error.contains("for outbox-relay (limit 60 s)"), "names who is behind and the limit: {error}");
    assert!(api.ports().0.all_events().is_empty(), "a refused order is not stored");

    waits.clear();
    assert_eq!(api.handle(post_order_with(&[]), &local).await.status(), 202, "caught up: accepted");
}

#[tokio::test]
async fn a_saga_step_reports_how_long_its_oldest_new_message_waited_and_nothing_when_it_keeps_up() {
    use toolkit::admission::InMemoryAdmissionTable;
    let waits = InMemoryAdmissionTable::default();
    let validator = validator_with(vec![placed()]).with_wait_report(&waits);
    let mut fresh = sample::<SqsEvent>("aws/sqs-order-placed.json");
    let now = chrono::Utc::now().timestamp_millis().to_string();
    fresh.records.iter_mut().for_each(|m| _ = m.attributes.insert("SentTimestamp".into(), now.clone()));
    assert!(validator.handle(fresh, &Invocation::local()).await.batch_item_failures.is_empty());
    assert!(waits.reported().is_empty(), "a step that keeps up reports nothing: {:?}", waits.reported());

    // The sample was sent days before the test runs: on a redelivery that is the failure's
    // doing (a visibility timeout), not the queue's.
    let mut retried = sample::<SqsEvent>("aws/sqs-order-placed.json");
    retried.records.iter_mut().for_each(|m| _ = m.attributes.insert("ApproximateReceiveCount".into(), "2".into()));
    assert!(validator.handle(retried, &Invocation::local()).await.batch_item_failures.is_empty());
    assert!(waits.reported().is_empty(), "a redelivery's age is not the queue's wait: {:?}", waits.reported());
    let late = validator.handle(sample::<SqsEvent>("aws/sqs-order-placed.json"), &Invocation::local()).await;
    assert!(late.batch_item_failures.is_empty());
    let reported = waits.reported();
    assert_eq!(reported.len(), 1, "{reported:?}");
    assert_eq!(reported[0].consumer, "order-validator");
    assert!(reported[0].waited > Duration::from_secs(3_600), "{reported:?}");
}

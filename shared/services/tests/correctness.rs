//! One test per defect the correctness review found that the simulation does not reach
//! (it drives the saga, not every edge): each failed before its fix.

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::event::sqs::SqsEvent;
use domain::analytics::{Sale, Tally};
use serde::de::DeserializeOwned;
use services::analytics::{AnalyticsError, AnalyticsStore, InMemoryAnalytics};
use services::handlers::analytics::AnalyticsConsumer;
use services::handlers::api::Api;
use services::handlers::outbox_relay::OutboxRelay;
use services::views::InMemoryOrderViews;
use std::collections::BTreeMap;
use toolkit::bus::InMemoryBus;
use toolkit::deadletter::InMemoryDeadLetters;
use toolkit::envelope::{EventEnvelope, EventId};
use toolkit::invocation::Invocation;
use toolkit::store::{EventStore, InMemoryEventStore};

mod support;

use support::sample_text;

fn sample<T: DeserializeOwned>(name: &str) -> T {
    serde_json::from_str(&sample_text(name)).unwrap_or_else(|e| panic!("events/{name}: {e}"))
}

fn body_json(response: &lambda_http::Response<lambda_http::Body>) -> serde_json::Value {
    serde_json::from_slice(response.body().as_ref()).unwrap_or_default()
}

fn post_order(body: serde_json::Value) -> lambda_http::Request {
    let mut event: serde_json::Value = serde_json::from_str(&sample_text("aws/apigw-v2-post-order.json")).unwrap();
    event["body"] = serde_json::json!(body.to_string());
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

#[tokio::test]
async fn an_order_whose_total_is_zero_is_refused_at_the_door_naming_its_lines() {
    let api = support::test_api(InMemoryEventStore::default(), InMemoryOrderViews::default());
    let body = serde_json::json!({
        "customerId": "c-1", "currency": "EUR",
        "lines": [{ "sku": "FREE-1", "quantity": 2, "unitPriceMinor": 0 }]
    });
    let response = api.handle(post_order(body), &Invocation::local()).await;
    assert_eq!(response.status(), 400);
    assert_eq!(body_json(&response)["field"], "lines");
    assert!(body_json(&response)["error"].as_str().unwrap().contains("greater than 0"));
    assert!(api.ports().0.all_events().is_empty(), "nothing stored");
}

/// An analytics store whose table is unreachable, with an SDK-like error chain.
struct DownAnalytics;

impl AnalyticsStore for DownAnalytics {
    async fn record(&self, _: EventId, _: &Tally) -> Result<bool, AnalyticsError> {
        Err(AnalyticsError::Unavailable("dispatch failure: io error: Connection refused (os error 111)".into()))
    }
    async fn sales(
        &self,
        _: chrono::DateTime<chrono::Utc>,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Sale>, AnalyticsError> {
        Err(AnalyticsError::Unavailable("dispatch failure: io error: Connection refused (os error 111)".into()))
    }
    async fn status_counts(&self) -> Result<BTreeMap<String, i64>, AnalyticsError> {
        Err(AnalyticsError::Unavailable("dispatch failure".into()))
    }
}

#[tokio::test]
async fn an_analytics_outage_is_a_503_that_names_no_internals() {
    let keys =
        services::access::ApiKeys::parse(&format!("s:{}:10:admin", services::access::key_hash("sample-api-key")), 10)
            .unwrap();
    let api = Api::new(
        InMemoryEventStore::default(),
        InMemoryOrderViews::default(),
        DownAnalytics,
        services::notify::InMemoryNotificationLog::default(),
        toolkit::idempotency::InMemoryIdempotencyStore::default(),
        services::access::InMemoryRateLimiter::default(),
    )
    .with_api_keys(keys);
    let mut event: serde_json::Value = serde_json::from_str(&sample_text("aws/apigw-v2-get-order.json")).unwrap();
    event["routeKey"] = serde_json::json!("GET /analytics/sales");
    event["requestContext"]["routeKey"] = serde_json::json!("GET /analytics/sales");
    event["rawPath"] = serde_json::json!("/analytics/sales");
    event["pathParameters"] = serde_json::json!({});
    event["headers"]["x-api-key"] = serde_json::json!("sample-api-key");
    let response = api.handle(lambda_http::request::from_str(&event.to_string()).unwrap(), &Invocation::local()).await;
    assert_eq!(response.status(), 503);
    let text = body_json(&response).to_string();
    assert!(!text.contains("dispatch") && !text.contains("os error"), "{text}");
}

#[tokio::test]
async fn a_sales_range_longer_than_the_store_reads_is_a_400_naming_from_not_an_outage() {
    let keys =
        services::access::ApiKeys::parse(&format!("s:{}:10:admin", services::access::key_hash("sample-api-key")), 10)
            .unwrap();
    let api = support::test_api(InMemoryEventStore::default(), InMemoryOrderViews::default()).with_api_keys(keys);
    let mut event: serde_json::Value = serde_json::from_str(&sample_text("aws/apigw-v2-get-order.json")).unwrap();
    event["routeKey"] = serde_json::json!("GET /analytics/sales");
    event["requestContext"]["routeKey"] = serde_json::json!("GET /analytics/sales");
    event["rawPath"] = serde_json::json!("/analytics/sales");
    event["rawQueryString"] = serde_json::json!("from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z");
    event["queryStringParameters"] =
        serde_json::json!({ "from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z" });
    event["pathParameters"] = serde_json::json!({});
    event["headers"]["x-api-key"] = serde_json::json!("sample-api-key");
    let response = api.handle(lambda_http::request::from_str(&event.to_string()).unwrap(), &Invocation::local()).await;
    assert_eq!(response.status(), 400);
    let body = body_json(&response);
    assert_eq!(body["field"], "from", "{body}");
    assert!(body["error"].as_str().unwrap().contains("31 days"), "{body}");
}

#[tokio::test]
async fn a_payment_callback_with_an_oversized_reason_is_refused_before_anything_is_stored() {
    let api = support::test_api(InMemoryEventStore::default(), InMemoryOrderViews::default())
        .with_payment_webhook_secret(b"provider-secret".to_vec());
    let reason = "x".repeat(300_000);
    let body = format!(r#"{{"orderId":"{}","outcome":"declined","reason":"{reason}"}}"#, uuid::Uuid::nil());
    let request = support::callback_request(&body, chrono::Utc::now().timestamp(), b"provider-secret");
    let response = api.handle(request, &Invocation::local()).await;
    assert_eq!(response.status(), 413);
    assert!(api.ports().0.all_events().is_empty());
}

#[tokio::test]
async fn the_relay_parks_an_event_the_bus_refuses_for_good_with_its_whole_record_and_redrive_publishes_it() {
    let relay = OutboxRelay::new(InMemoryBus::default(), InMemoryDeadLetters::default())
        .with_retry_delay(std::time::Duration::ZERO);
    let validated: EventEnvelope = sample("domain/order-validated.json");
    relay.ports().0.refuse_forever(validated.event_id);
    let response = relay.handle(sample::<StreamEvent>("aws/dynamodb-stream-order-validated.json")).await;
    assert!(response.batch_item_failures.is_empty(), "the shard moves on");
    let letters = relay.ports().1.letters();
    assert_eq!(letters.len(), 1);
    assert!(letters[0].reason.contains("ValidationException"), "{}", letters[0].reason);

    // `dlq redrive` hands the parked stream record back to the relay, once the cause is gone.
    relay.ports().0.accept(validated.event_id);
    let record: EventRecord = serde_json::from_value(letters[0].record.clone()).expect("the whole stream record");
    let mut redriven = StreamEvent::default();
    redriven.records = vec![record];
    let response = relay.handle(redriven).await;
    assert!(response.batch_item_failures.is_empty());
    assert!(relay.ports().0.published().iter().any(|e| e.event_id == validated.event_id));
}

fn sale(sku: &str, currency: &str, revenue_minor: i64) -> Sale {
    Sale { minute: "2030-01-01T00:00".into(), sku: sku.into(), units: 1, revenue_minor, currency: currency.into() }
}

#[tokio::test]
async fn analytics_counts_a_hundred_skus_in_one_event_and_keeps_currencies_apart() {
    let analytics = InMemoryAnalytics::default();
    let many = Tally { status_deltas: vec![], sales: (0..100).map(|n| sale(&format!("S{n}"), "EUR", 100)).collect() };
    assert!(analytics.record(EventId(uuid::Uuid::from_u128(1)), &many).await.expect("chunked under the limit"));
    assert!(!analytics.record(EventId(uuid::Uuid::from_u128(1)), &many).await.unwrap(), "applied once");
    let usd = Tally { status_deltas: vec![], sales: vec![sale("S0", "USD", 7)] };
    analytics.record(EventId(uuid::Uuid::from_u128(2)), &usd).await.unwrap();
    let from = chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z").unwrap().to_utc();
    let sales = analytics.sales(from, from).await.unwrap();
    assert_eq!(sales.len(), 101);
    let s0: Vec<(String, i64)> =
        sales.iter().filter(|s| s.sku == "S0").map(|s| (s.currency.clone(), s.revenue_minor)).collect();
    assert_eq!(s0, vec![("EUR".to_string(), 100), ("USD".to_string(), 7)]);
}

#[tokio::test]
async fn an_order_with_two_lines_of_one_sku_is_one_sale_of_that_sku() {
    use domain::saga::PaymentAuthorized;
    use domain::{EventCodec, OrderEvent};
    let placed: EventEnvelope = sample("domain/order-placed.json");
    let mut event = OrderEvent::from_envelope(&placed).unwrap();
    let OrderEvent::OrderPlaced(order) = &mut event else { unreachable!() };
    let line = order.lines[0].clone();
    order.lines.push(line.clone());
    let mut order_before = domain::Order::replay(&[event.clone()]).unwrap().unwrap();
    order_before.status = domain::OrderStatus::Reserved;
    let paid = OrderEvent::PaymentAuthorized(PaymentAuthorized {
        order_id: order_before.id,
        authorization_id: "a".into(),
        amount: order_before.total.clone(),
    });
    let after = domain::Order::apply(Some(order_before.clone()), &paid).unwrap();
    let tally = domain::analytics::tally(Some(&order_before), &after, &paid, chrono::Utc::now());
    let skus: Vec<&str> = tally.sales.iter().filter(|s| s.sku == line.sku).map(|s| s.sku.as_str()).collect();
    assert_eq!(skus.len(), 1, "one counter per SKU: {:?}", tally.sales);
    let analytics = InMemoryAnalytics::default();
    assert!(analytics.record(EventId(uuid::Uuid::from_u128(3)), &tally).await.is_ok());
}

#[tokio::test]
async fn an_envelope_of_version_zero_is_parked_not_a_panic() {
    let mut sqs: SqsEvent = sample("aws/sqs-order-placed.json");
    let mut body: serde_json::Value = serde_json::from_str(sqs.records[0].body.as_deref().unwrap()).unwrap();
    body["detail"]["version"] = serde_json::json!(0);
    sqs.records[0].body = Some(body.to_string());
    let placed: EventEnvelope = sample("domain/order-placed.json");
    let store = InMemoryEventStore::default();
    let consumer = AnalyticsConsumer::new(store, InMemoryAnalytics::default(), InMemoryDeadLetters::default());
    let response = consumer.handle(sqs, &Invocation::local()).await;
    assert!(response.batch_item_failures.is_empty());
    let letters = consumer.ports().2.letters();
    assert_eq!(letters.len(), 1);
    assert!(letters[0].reason.contains("v0"), "{}", letters[0].reason);
    assert!(consumer.ports().0.load(&placed.stream_id, 0).await.unwrap().is_empty());
}

fn get(route: &str, path: &str, key: &str, parameters: serde_json::Value) -> lambda_http::Request {
    let mut event: serde_json::Value = serde_json::from_str(&sample_text("aws/apigw-v2-get-order.json")).unwrap();
    event["routeKey"] = serde_json::json!(route);
    event["requestContext"]["routeKey"] = serde_json::json!(route);
    event["rawPath"] = serde_json::json!(path);
    event["pathParameters"] = parameters;
    event["headers"]["x-api-key"] = serde_json::json!(key);
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

#[tokio::test]
async fn a_key_reads_only_the_orders_it_placed_and_an_admin_key_reads_them_all() {
    use services::access::{ApiKeys, InMemoryRateLimiter, key_hash};
    use services::views::OrderViews;
    let keys = format!("shop:{}, other:{}, ops:{}::admin", key_hash("k-shop"), key_hash("k-other"), key_hash("k-ops"));
    let api = Api::new(
        InMemoryEventStore::default(),
        InMemoryOrderViews::default(),
        InMemoryAnalytics::default(),
        services::notify::InMemoryNotificationLog::default(),
        toolkit::idempotency::InMemoryIdempotencyStore::default(),
        InMemoryRateLimiter::default(),
    )
    .with_api_keys(ApiKeys::parse(&keys, 100).unwrap());
    let mut placing: serde_json::Value = serde_json::from_str(&sample_text("aws/apigw-v2-post-order.json")).unwrap();
    placing["headers"]["x-api-key"] = serde_json::json!("k-shop");
    let placed = api.handle(lambda_http::request::from_str(&placing.to_string()).unwrap(), &Invocation::local()).await;
    assert_eq!(placed.status(), 202);
    let order_id = body_json(&placed)["orderId"].as_str().unwrap().to_string();
    let stored = api.ports().0.all_events();
    assert_eq!(stored[0].payload["placedBy"], "shop", "the order records its owner");
    let view = services::views::OrderView::replay(&stored).unwrap().unwrap();
    api.ports().1.save(&view, 0).await.unwrap();

    let order = |key: &str| {
        get("GET /orders/{orderId}", &format!("/orders/{order_id}"), key, serde_json::json!({ "orderId": order_id }))
    };
    assert_eq!(api.handle(order("k-shop"), &Invocation::local()).await.status(), 200);
    assert_eq!(
        api.handle(order("k-other"), &Invocation::local()).await.status(),
        404,
        "another key's order is not found"
    );
    assert_eq!(api.handle(order("k-ops"), &Invocation::local()).await.status(), 200, "an admin key reads every order");
    let notes = |key: &str| {
        get(
            "GET /orders/{orderId}/notifications",
            &format!("/orders/{order_id}/notifications"),
            key,
            serde_json::json!({ "orderId": order_id }),
        )
    };
    assert_eq!(api.handle(notes("k-other"), &Invocation::local()).await.status(), 404);
    assert_eq!(api.handle(notes("k-shop"), &Invocation::local()).await.status(), 200);
    let customer = view.customer_id.clone();
    let orders_of = |key: &str| {
        get(
            "GET /customers/{customerId}/orders",
            &format!("/customers/{customer}/orders"),
            key,
            serde_json::json!({ "customerId": customer }),
        )
    };
    let seen = |response: lambda_http::Response<lambda_http::Body>| {
        body_json(&response)["orders"].as_array().map_or(0, Vec::len)
    };
    assert_eq!(seen(api.handle(orders_of("k-shop"), &Invocation::local()).await), 1);
    assert_eq!(seen(api.handle(orders_of("k-other"), &Invocation::local()).await), 0, "not another key's customers");
}

/// An order view of `customer` placed by the key `owner`, validated, `minutes` ago.
fn view_of(owner: &str, customer: &str, n: u128, minutes: i64) -> services::views::OrderView {
    let placed: EventEnvelope = sample("domain/order-placed.json");
    let view = services::views::OrderView::replay(std::slice::from_ref(&placed)).unwrap().unwrap();
    services::views::OrderView {
        order_id: domain::OrderId(uuid::Uuid::from_u128(n)),
        customer_id: customer.to_string(),
        placed_by: Some(owner.to_string()),
        status: domain::OrderStatus::Validated,
        placed_at: chrono::Utc::now() - chrono::Duration::minutes(minutes),
        ..view
    }
}

#[tokio::test]
async fn another_keys_orders_under_the_same_customer_id_never_count_for_velocity() {
    use services::views::OrderViews;
    let views = InMemoryOrderViews::default();
    for n in 0..6 {
        views.save(&view_of("other", "alice", 100 + n, 1), 0).await.unwrap();
    }
    let since = chrono::Utc::now() - chrono::Duration::minutes(10);
    assert_eq!(views.count_by_customer_since("shop", "alice", since).await.unwrap(), 0, "the shop's alice");
    assert_eq!(views.count_by_customer_since("other", "alice", since).await.unwrap(), 6);
}

#[tokio::test]
async fn a_keys_listing_pages_through_its_own_orders_whatever_other_keys_placed() {
    use services::access::{ApiKeys, InMemoryRateLimiter, key_hash};
    use services::views::OrderViews;
    let keys = format!("shop:{}, other:{}, ops:{}::admin", key_hash("k-shop"), key_hash("k-other"), key_hash("k-ops"));
    let views = InMemoryOrderViews::default();
    for n in 0..60 {
        views.save(&view_of("other", "alice", 200 + n, n as i64), 0).await.unwrap();
    }
    for n in 0..55 {
        views.save(&view_of("shop", "alice", 300 + n, 100 + n as i64), 0).await.unwrap();
    }
    let api = Api::new(
        InMemoryEventStore::default(),
        views,
        InMemoryAnalytics::default(),
        services::notify::InMemoryNotificationLog::default(),
        toolkit::idempotency::InMemoryIdempotencyStore::default(),
        InMemoryRateLimiter::default(),
    )
    .with_api_keys(ApiKeys::parse(&keys, 100).unwrap());
    let page = |key: &str, cursor: Option<&str>| {
        let mut request = get(
            "GET /customers/{customerId}/orders",
            "/customers/alice/orders",
            key,
            serde_json::json!({ "customerId": "alice" }),
        );
        if let Some(cursor) = cursor {
            use lambda_http::RequestExt;
            request = request.with_query_string_parameters(std::collections::HashMap::from([(
                "cursor".to_string(),
                cursor.to_string(),
            )]));
        }
        request
    };
    let first = body_json(&api.handle(page("k-shop", None), &Invocation::local()).await);
    let orders = first["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 50, "a full page of the shop's own orders");
    assert!(orders.iter().all(|o| o["placedBy"] == "shop"));
    let cursor = first["nextCursor"].as_str().expect("a next page");
    let second = body_json(&api.handle(page("k-shop", Some(cursor)), &Invocation::local()).await);
    assert_eq!(second["orders"].as_array().unwrap().len(), 5);
    assert!(second["nextCursor"].is_null(), "the last page");
    let mut seen: Vec<String> =
        orders.iter().chain(second["orders"].as_array().unwrap()).map(|o| o["orderId"].to_string()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 55, "every order once");
    let admin = body_json(&api.handle(page("k-ops", None), &Invocation::local()).await);
    assert_eq!(admin["orders"].as_array().unwrap().len(), 50, "an admin pages through every key's");
    let bad = api.handle(page("k-shop", Some("not-a-cursor")), &Invocation::local()).await;
    assert_eq!(bad.status(), 400);
    assert_eq!(body_json(&bad)["field"], "cursor");
}

#[tokio::test]
async fn a_path_parameter_is_checked_like_a_body_field() {
    let api = support::test_api(InMemoryEventStore::default(), InMemoryOrderViews::default());
    for bad in ["x".repeat(5_000), "a\u{0}b".to_string(), String::new()] {
        let request = get(
            "GET /customers/{customerId}/orders",
            "/customers/x/orders",
            support::SAMPLE_API_KEY,
            serde_json::json!({ "customerId": bad }),
        );
        let response = api.handle(request, &Invocation::local()).await;
        assert_eq!(response.status(), 400, "{bad:?}");
        assert_eq!(body_json(&response)["field"], "customerId");
    }
}

#[tokio::test]
async fn velocity_counts_only_orders_that_passed_validation() {
    use domain::OrderStatus;
    use services::views::OrderViews;
    let views = InMemoryOrderViews::default();
    let placed: EventEnvelope = sample("domain/order-placed.json");
    let view = services::views::OrderView::replay(std::slice::from_ref(&placed)).unwrap().unwrap();
    for (n, status) in [OrderStatus::Rejected, OrderStatus::Placed, OrderStatus::Validated, OrderStatus::Completed]
        .into_iter()
        .enumerate()
    {
        let order_id = domain::OrderId(uuid::Uuid::from_u128(n as u128 + 10));
        views.save(&services::views::OrderView { order_id, status, ..view.clone() }, 0).await.unwrap();
    }
    let since = view.placed_at - chrono::Duration::minutes(1);
    assert_eq!(
        views
            .count_by_customer_since(view.placed_by.as_deref().unwrap_or_default(), &view.customer_id, since)
            .await
            .unwrap(),
        2,
        "rejected and unvalidated orders do not count"
    );
}

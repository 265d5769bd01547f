//! What the API handler tests share: the API over in-memory fakes, with the keys the
//! `events/aws/apigw-v2-*` samples present.

// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use services::access::{ApiKeys, InMemoryRateLimiter, key_hash};
use services::analytics::InMemoryAnalytics;
use services::handlers::api::Api;
use services::notify::InMemoryNotificationLog;
use services::views::InMemoryOrderViews;
use toolkit::idempotency::InMemoryIdempotencyStore;
use toolkit::store::InMemoryEventStore;

pub type TestApi = Api<
    InMemoryEventStore,
    InMemoryOrderViews,
    InMemoryAnalytics,
    InMemoryNotificationLog,
    InMemoryIdempotencyStore,
    InMemoryRateLimiter,
>;

/// The key the `events/aws/apigw-v2-*` samples present, allowed 100 requests per second.
pub const SAMPLE_API_KEY: &str = "sample-api-key";
/// An admin key of the test API: it adds stock and reads analytics.
pub const ADMIN_API_KEY: &str = "sample-admin-key";

/// The keys the test API knows: the samples', a throttled one and an admin one.
pub fn test_keys() -> ApiKeys {
    let keys = format!(
        "samples:{}:100,throttled:{}:2,ops:{}:100:admin",
        key_hash(SAMPLE_API_KEY),
        key_hash("throttled-key"),
        key_hash(ADMIN_API_KEY)
    );
    ApiKeys::parse(&keys, 10).unwrap()
}

pub fn test_api(store: InMemoryEventStore, views: InMemoryOrderViews) -> TestApi {
    Api::new(
        store,
        views,
        InMemoryAnalytics::default(),
        InMemoryNotificationLog::default(),
        InMemoryIdempotencyStore::default(),
        InMemoryRateLimiter::default(),
    )
    .with_api_keys(test_keys())
}

/// A sample event's text (`events/<name>`).
pub fn sample_text(name: &str) -> String {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The payment provider's callback carrying `body`, signed with `secret` at `timestamp`.
pub fn callback_request(body: &str, timestamp: i64, secret: &[u8]) -> lambda_http::Request {
    let mut event: serde_json::Value = serde_json::from_str(&sample_text("aws/apigw-v2-post-order.json")).unwrap();
    event["routeKey"] = serde_json::json!("POST /webhooks/payments");
    event["requestContext"]["routeKey"] = serde_json::json!("POST /webhooks/payments");
    event["rawPath"] = serde_json::json!("/webhooks/payments");
    event["body"] = serde_json::json!(body);
    event["headers"]["x-orderflow-timestamp"] = serde_json::json!(timestamp.to_string());
    event["headers"]["x-orderflow-signature"] =
        serde_json::json!(services::notify::webhook::sign(secret, timestamp, body.as_bytes()));
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

//! What the API handler tests share: the API over in-memory fakes, with the keys the
//! `events/aws/apigw-v2-*` samples present.

use shared::access::{ApiKeys, InMemoryRateLimiter, key_hash};
use shared::analytics::InMemoryAnalytics;
use shared::handlers::api::Api;
use shared::idempotency::InMemoryIdempotencyStore;
use shared::notify::InMemoryNotificationLog;
use shared::store::InMemoryEventStore;
use shared::views::InMemoryOrderViews;

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

pub fn test_api(store: InMemoryEventStore, views: InMemoryOrderViews) -> TestApi {
    let keys = format!("samples:{}:100,throttled:{}:2", key_hash(SAMPLE_API_KEY), key_hash("throttled-key"));
    Api::new(
        store,
        views,
        InMemoryAnalytics::default(),
        InMemoryNotificationLog::default(),
        InMemoryIdempotencyStore::default(),
        InMemoryRateLimiter::default(),
    )
    .with_api_keys(ApiKeys::parse(&keys, 10).unwrap())
}

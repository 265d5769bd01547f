//! `api-ingress`: the HTTP API (commands and queries). Logic: `shared::handlers::api`.
#![recursion_limit = "256"]
use shared::analytics::DynamoAnalytics;
use shared::handlers::api::Api;
use shared::notify::DynamoNotificationLog;
use shared::store::DynamoEventStore;
use shared::views::DynamoOrderViews;
use shared::{aws, config, observability};
use std::convert::Infallible;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    observability::init_logging();
    let (store_table, view_table, analytics_table) =
        (config::event_store_table()?, config::order_view_table()?, config::analytics_table()?);
    let (notifications_table, payment_secret) = (config::notifications_table()?, config::payment_webhook_secret()?);
    let sdk = aws::sdk_config().await;
    let dynamodb = aws::dynamodb(&sdk);
    let api = Api::new(
        DynamoEventStore::new(dynamodb.clone(), store_table),
        DynamoOrderViews::new(dynamodb.clone(), view_table),
        DynamoAnalytics::new(dynamodb.clone(), analytics_table),
        DynamoNotificationLog::new(dynamodb, notifications_table),
    )
    .with_payment_webhook_secret(payment_secret.into_bytes());
    let api = &api;
    lambda_http::run(lambda_http::service_fn(
        move |request| async move { Ok::<_, Infallible>(api.handle(request).await) },
    ))
    .await
}

//! `api-ingress`: the HTTP API (commands and queries). Logic: `services::handlers::api`.
use lambda_http::RequestExt;
use services::access::DynamoRateLimiter;
use services::analytics::DynamoAnalytics;
use services::config;
use services::handlers::api::Api;
use services::notify::DynamoNotificationLog;
use services::views::DynamoOrderViews;
use std::convert::Infallible;
use toolkit::admission::{Admission, BacklogGauge, DynamoAdmissionTable, SqsBacklog};
use toolkit::idempotency::DynamoIdempotencyStore;
use toolkit::invocation::Invocation;
use toolkit::store::DynamoEventStore;
use toolkit::{aws, observability};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    observability::init_logging();
    let (store_table, view_table, analytics_table) =
        (config::event_store_table()?, config::order_view_table()?, config::analytics_table()?);
    let (notifications_table, payment_secret) = (config::notifications_table()?, config::payment_webhook_secret()?);
    let (idempotency_table, rate_limit_table, api_keys) =
        (config::idempotency_table()?, config::rate_limit_table()?, config::api_keys()?);
    let admission_config = config::admission()?;
    let sdk = aws::sdk_config().await;
    let dynamodb = aws::dynamodb(&sdk);
    // Off (a limit nobody reaches) unless the template sets a limit and the saga's queues.
    let backlog_limited = admission_config.is_some();
    let (limit, queues) = admission_config.unwrap_or((u64::MAX, Vec::new()));
    let backlog = SqsBacklog::new(aws::sqs(&sdk), queues)
        .with_table(config::waits_table().map(|table| DynamoAdmissionTable::new(dynamodb.clone(), table)));
    let mut admission = Admission::new(backlog, limit);
    if backlog_limited {
        // Only with a backlog limit: otherwise each admission's count would be a write for nothing.
        admission = admission.counting_admitted_for(config::ADMISSION_IN_TRANSIT);
    }
    if let Some(wait_limit) = config::admission_wait_limit()? {
        admission = admission.refusing_waits_over(wait_limit);
    }
    // Stock additions record their keys beside the idempotency records, with no expiry.
    let store = DynamoEventStore::new(dynamodb.clone(), store_table).with_once_table(idempotency_table.clone());
    let api = Api::new(
        store,
        DynamoOrderViews::new(dynamodb.clone(), view_table),
        DynamoAnalytics::new(dynamodb.clone(), analytics_table),
        DynamoNotificationLog::new(dynamodb.clone(), notifications_table),
        DynamoIdempotencyStore::new(dynamodb.clone(), idempotency_table).with_retention(config::dedup_retention()),
        DynamoRateLimiter::new(dynamodb, rate_limit_table),
    )
    .with_api_keys(api_keys)
    .with_payment_webhook_secret(payment_secret.into_bytes())
    .with_admission(admission);
    let api = &api;
    lambda_http::run(lambda_http::service_fn(move |request: lambda_http::Request| async move {
        let invocation = request.lambda_context_ref().map_or_else(Invocation::local, Invocation::from_context);
        Ok::<_, Infallible>(api.handle(request, &invocation).await)
    }))
    .await
}

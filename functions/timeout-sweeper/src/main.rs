//! `timeout-sweeper`: on a schedule, times out orders stuck too long. Logic: `services::handlers::sweeper`.
use lambda_runtime::{Error, LambdaEvent, service_fn};
use services::config;
use services::handlers::sweeper::TimeoutSweeper;
use services::views::DynamoOrderViews;
use toolkit::store::DynamoEventStore;
use toolkit::{aws, observability};

#[tokio::main]
async fn main() -> Result<(), Error> {
    observability::init_logging();
    let (store_table, view_table, timeout) =
        (config::event_store_table()?, config::order_view_table()?, config::order_timeout()?);
    let sdk = aws::sdk_config().await;
    let dynamodb = aws::dynamodb(&sdk);
    let sweeper = TimeoutSweeper::new(
        DynamoEventStore::new(dynamodb.clone(), store_table),
        DynamoOrderViews::new(dynamodb, view_table),
        timeout,
    );
    let sweeper = &sweeper;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        // "aws.events" from the schedule; a direct invocation (an operator, a test) has none.
        let trigger = event.payload.get("source").and_then(serde_json::Value::as_str).unwrap_or("direct");
        tracing::info!(trigger, "sweeping");
        sweeper.sweep(chrono::Utc::now()).await.map_err(Error::from)
    }))
    .await
}

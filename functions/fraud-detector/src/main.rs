//! `fraud-detector`: OrderValidated → FraudCleared / FraudSuspected. Logic: `shared::handlers::steps`.
#![recursion_limit = "256"]
use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::deadletter::SqsDeadLetters;
use shared::events::SqsEvent;
use shared::handlers::saga::OrderSaga;
use shared::handlers::steps::FraudScreening;
use shared::store::DynamoEventStore;
use shared::views::DynamoOrderViews;
use shared::{aws, config, observability};

#[tokio::main]
async fn main() -> Result<(), Error> {
    observability::init_logging();
    let (store_table, view_table, dlq_url) =
        (config::event_store_table()?, config::order_view_table()?, config::dead_letter_queue_url()?);
    let (policy, window) = (config::fraud_policy()?, config::fraud_velocity_window()?);
    let sdk = aws::sdk_config().await;
    let dynamodb = aws::dynamodb(&sdk);
    let step = FraudScreening { views: DynamoOrderViews::new(dynamodb.clone(), view_table), policy, window };
    let saga = OrderSaga::new(
        DynamoEventStore::new(dynamodb, store_table),
        SqsDeadLetters::new(aws::sqs(&sdk), dlq_url),
        step,
    );
    let saga = &saga;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(saga.handle(event.payload).await)
    }))
    .await
}

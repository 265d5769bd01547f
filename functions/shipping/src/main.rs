//! `shipping`: PaymentAuthorized → ShipmentScheduled. Logic: `shared::handlers::steps`.
#![recursion_limit = "256"]
use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::deadletter::SqsDeadLetters;
use shared::events::SqsEvent;
use shared::handlers::saga::OrderSaga;
use shared::handlers::steps::Shipping;
use shared::store::DynamoEventStore;
use shared::{aws, config, observability};

#[tokio::main]
async fn main() -> Result<(), Error> {
    observability::init_logging();
    let (store_table, dlq_url) = (config::event_store_table()?, config::dead_letter_queue_url()?);
    let sdk = aws::sdk_config().await;
    let saga = OrderSaga::new(
        DynamoEventStore::new(aws::dynamodb(&sdk), store_table),
        SqsDeadLetters::new(aws::sqs(&sdk), dlq_url),
        Shipping,
    );
    let saga = &saga;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(saga.handle(event.payload).await)
    }))
    .await
}

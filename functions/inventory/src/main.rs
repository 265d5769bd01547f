//! `inventory`: FraudCleared → StockReserved / OutOfStock; PaymentDeclined → StockReleased. Logic: `shared::handlers::steps`.
#![recursion_limit = "256"]
use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::deadletter::SqsDeadLetters;
use shared::events::SqsEvent;
use shared::handlers::saga::OrderSaga;
use shared::handlers::steps::StockKeeping;
use shared::store::DynamoEventStore;
use shared::{aws, config, observability};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    observability::init_logging();
    let (store_table, dlq_url) = (config::event_store_table()?, config::dead_letter_queue_url()?);
    let sdk = aws::sdk_config().await;
    let store = Arc::new(DynamoEventStore::new(aws::dynamodb(&sdk), store_table));
    let saga = OrderSaga::new(store.clone(), SqsDeadLetters::new(aws::sqs(&sdk), dlq_url), StockKeeping { store });
    let saga = &saga;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(saga.handle(event.payload).await)
    }))
    .await
}

//! The wiring every saga function shares, so each `main.rs` only names its step.

use crate::config;
use crate::handlers::step_runner::{OrderSaga, Step};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;
use toolkit::admission::DynamoAdmissionTable;
use toolkit::deadletter::SqsDeadLetters;
use toolkit::events::SqsEvent;
use toolkit::invocation::Invocation;
use toolkit::store::DynamoEventStore;
use toolkit::{aws, observability};

/// Runs a saga step as a Lambda function: logging, configuration from the environment
/// (`EVENT_STORE_TABLE`, `DEAD_LETTER_QUEUE_URL`, and `WAITS_TABLE` where batches report
/// their waits), clients built once, then one
/// [`OrderSaga`] for every SQS batch. `step` builds the step from the SDK configuration
/// and the shared event store (for steps that also write other streams).
pub async fn run_saga_step<P, F>(step: F) -> Result<(), Error>
where
    P: Step + 'static,
    F: FnOnce(&aws_config::SdkConfig, Arc<DynamoEventStore>) -> Result<P, Error>,
{
    observability::init_logging();
    let (store_table, dlq_url) = (config::event_store_table()?, config::dead_letter_queue_url()?);
    let sdk = aws::sdk_config().await;
    let store = Arc::new(DynamoEventStore::new(aws::dynamodb(&sdk), store_table));
    let step = step(&sdk, store.clone())?;
    let waits = config::waits_table().map(|table| DynamoAdmissionTable::new(aws::dynamodb(&sdk), table));
    let saga = OrderSaga::new(store, SqsDeadLetters::new(aws::sqs(&sdk), dlq_url), step).with_wait_report(waits);
    let saga = &saga;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let invocation = Invocation::from_context(&event.context);
        Ok::<_, Error>(saga.handle(event.payload, &invocation).await)
    }))
    .await
}

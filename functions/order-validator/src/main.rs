//! `order-validator`: OrderPlaced (bus → SQS) → OrderValidated / OrderRejected. Logic: `shared::handlers::validator`.
#![recursion_limit = "256"]
use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::deadletter::SqsDeadLetters;
use shared::events::SqsEvent;
use shared::handlers::validator::{OrderValidator, Validation};
use shared::store::DynamoEventStore;
use shared::{aws, config, observability};

#[tokio::main]
async fn main() -> Result<(), Error> {
    observability::init_logging();
    let (store_table, dlq_url, policy) =
        (config::event_store_table()?, config::dead_letter_queue_url()?, config::validation_policy()?);
    let sdk = aws::sdk_config().await;
    let validator = OrderValidator::new(
        DynamoEventStore::new(aws::dynamodb(&sdk), store_table),
        SqsDeadLetters::new(aws::sqs(&sdk), dlq_url),
        Validation(policy),
    );
    let validator = &validator;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(validator.handle(event.payload).await)
    }))
    .await
}

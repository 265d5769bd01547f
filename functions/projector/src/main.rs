//! `projector`: event store stream → order read model. Logic: `services::handlers::projector`.
// rustc computes the layout of main's future (runtime, SDK and handler futures nested)
// deeper than its default query depth of 128: "queries overflow the depth limit".
#![recursion_limit = "256"]
use lambda_runtime::{Error, LambdaEvent, service_fn};
use services::config;
use services::handlers::projector::Projector;
use services::views::DynamoOrderViews;
use toolkit::deadletter::SqsDeadLetters;
use toolkit::events::StreamEvent;
use toolkit::store::DynamoEventStore;
use toolkit::{aws, observability};

#[tokio::main]
async fn main() -> Result<(), Error> {
    observability::init_logging();
    let (store_table, view_table, dlq_url) =
        (config::event_store_table()?, config::order_view_table()?, config::dead_letter_queue_url()?);
    let sdk = aws::sdk_config().await;
    let dynamodb = aws::dynamodb(&sdk);
    let projector = Projector::new(
        DynamoEventStore::new(dynamodb.clone(), store_table),
        DynamoOrderViews::new(dynamodb, view_table),
        SqsDeadLetters::new(aws::sqs(&sdk), dlq_url),
    );
    let projector = &projector;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<StreamEvent>| async move {
        Ok::<_, Error>(projector.handle(event.payload).await)
    }))
    .await
}

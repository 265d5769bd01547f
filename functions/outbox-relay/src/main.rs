//! `outbox-relay`: event store stream → EventBridge bus. Logic: `services::handlers::outbox_relay`.
// rustc computes the layout of main's future (runtime, SDK and handler futures nested)
// deeper than its default query depth of 128: "queries overflow the depth limit".
#![recursion_limit = "256"]
use lambda_runtime::{Error, LambdaEvent, service_fn};
use services::config;
use services::handlers::outbox_relay::OutboxRelay;
use toolkit::admission::DynamoAdmissionTable;
use toolkit::bus::EventBridgeBus;
use toolkit::deadletter::SqsDeadLetters;
use toolkit::events::StreamEvent;
use toolkit::{aws, observability};

#[tokio::main]
async fn main() -> Result<(), Error> {
    observability::init_logging();
    let (bus_name, dlq_url) = (config::event_bus_name()?, config::dead_letter_queue_url()?);
    let sdk = aws::sdk_config().await;
    let waits = config::waits_table().map(|table| DynamoAdmissionTable::new(aws::dynamodb(&sdk), table));
    let relay = OutboxRelay::new(
        EventBridgeBus::new(aws::eventbridge(&sdk), bus_name),
        SqsDeadLetters::new(aws::sqs(&sdk), dlq_url),
    )
    .with_wait_report(waits);
    let relay = &relay;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<StreamEvent>| async move {
        Ok::<_, Error>(relay.handle(event.payload).await)
    }))
    .await
}

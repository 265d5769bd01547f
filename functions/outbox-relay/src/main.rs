//! `outbox-relay`: event store stream → EventBridge bus. Logic: `shared::handlers::outbox_relay`.
#![recursion_limit = "256"]
use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::bus::EventBridgeBus;
use shared::deadletter::SqsDeadLetters;
use shared::events::StreamEvent;
use shared::handlers::outbox_relay::OutboxRelay;
use shared::{aws, config, observability};

#[tokio::main]
async fn main() -> Result<(), Error> {
    observability::init_logging();
    let (bus_name, dlq_url) = (config::event_bus_name()?, config::dead_letter_queue_url()?);
    let sdk = aws::sdk_config().await;
    let relay = OutboxRelay::new(
        EventBridgeBus::new(aws::eventbridge(&sdk), bus_name),
        SqsDeadLetters::new(aws::sqs(&sdk), dlq_url),
    );
    let relay = &relay;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<StreamEvent>| async move {
        Ok::<_, Error>(relay.handle(event.payload).await)
    }))
    .await
}

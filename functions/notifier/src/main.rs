//! `notifier`: the email, SMS and webhook channel queues (SNS subscriptions) → customers told, once. Logic: `services::handlers::notifier`.
// rustc computes the layout of main's future (runtime, SDK and handler futures nested)
// deeper than its default query depth of 128: "queries overflow the depth limit".
#![recursion_limit = "256"]
use lambda_runtime::{Error, LambdaEvent, service_fn};
use services::config;
use services::handlers::notifier::Notifier;
use services::notify::DynamoNotificationLog;
use services::notify::webhook::WebhookSender;
use toolkit::deadletter::SqsDeadLetters;
use toolkit::events::SqsEvent;
use toolkit::idempotency::DynamoIdempotencyStore;
use toolkit::invocation::Invocation;
use toolkit::store::DynamoEventStore;
use toolkit::{aws, observability};

#[tokio::main]
async fn main() -> Result<(), Error> {
    observability::init_logging();
    let (table, dlq_url, webhook) =
        (config::notifications_table()?, config::dead_letter_queue_url()?, config::webhook()?);
    let store_table = config::event_store_table()?;
    let idempotency_table = config::idempotency_table()?;
    let sdk = aws::sdk_config().await;
    let webhook = webhook.map(|(url, secret)| WebhookSender::new(url, secret.into_bytes())).transpose()?;
    let notifier = Notifier::new(
        DynamoEventStore::new(aws::dynamodb(&sdk), store_table),
        DynamoNotificationLog::new(aws::dynamodb(&sdk), table),
        SqsDeadLetters::new(aws::sqs(&sdk), dlq_url),
        DynamoIdempotencyStore::new(aws::dynamodb(&sdk), idempotency_table).with_retention(config::dedup_retention()),
        webhook,
    );
    let notifier = &notifier;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let invocation = Invocation::from_context(&event.context);
        Ok::<_, Error>(notifier.handle(event.payload, &invocation).await)
    }))
    .await
}

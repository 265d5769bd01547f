//! `analytics`: every order event → counts per status and sales per product per minute. Logic: `services::handlers::analytics`.
// rustc computes the layout of main's future (runtime, SDK and handler futures nested)
// deeper than its default query depth of 128: "queries overflow the depth limit".
#![recursion_limit = "256"]
use lambda_runtime::{Error, LambdaEvent, service_fn};
use services::analytics::DynamoAnalytics;
use services::config;
use services::handlers::analytics::AnalyticsConsumer;
use toolkit::deadletter::SqsDeadLetters;
use toolkit::events::SqsEvent;
use toolkit::invocation::Invocation;
use toolkit::store::DynamoEventStore;
use toolkit::{aws, observability};

#[tokio::main]
async fn main() -> Result<(), Error> {
    observability::init_logging();
    let (store_table, analytics_table, dlq_url) =
        (config::event_store_table()?, config::analytics_table()?, config::dead_letter_queue_url()?);
    let sdk = aws::sdk_config().await;
    let dynamodb = aws::dynamodb(&sdk);
    let consumer = AnalyticsConsumer::new(
        DynamoEventStore::new(dynamodb.clone(), store_table),
        DynamoAnalytics::new(dynamodb, analytics_table),
        SqsDeadLetters::new(aws::sqs(&sdk), dlq_url),
    );
    let consumer = &consumer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let invocation = Invocation::from_context(&event.context);
        Ok::<_, Error>(consumer.handle(event.payload, &invocation).await)
    }))
    .await
}

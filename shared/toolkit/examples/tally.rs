//! A whole Lambda function on the toolkit, in one file: an SQS consumer whose messages say
//! "add `by` to counter `counter`". Each counter is an event-sourced stream in DynamoDB;
//! each message counts once however often SQS delivers it; a message that can never be
//! counted is parked in a dead-letter queue with its reason, and the rest of its batch goes
//! on. It logs JSON lines with the request id and writes EMF metrics.
//!
//! Environment: `EVENT_STORE_TABLE` (partition key `streamId`, sort key `version`),
//! `IDEMPOTENCY_TABLE` (partition key `id`, TTL on `expiration`: the layout of Powertools), `DEAD_LETTER_QUEUE_URL`.
//! The project's test command runs it against the local emulator's tables and queues.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use orderflow_toolkit::batch::{RecordError, process_sqs_batch};
use orderflow_toolkit::config;
use orderflow_toolkit::deadletter::SqsDeadLetters;
use orderflow_toolkit::envelope::{Causality, CausationId, CorrelationId, EventId, NewEvent, StreamId};
use orderflow_toolkit::events::SqsEvent;
use orderflow_toolkit::idempotency::{DynamoIdempotencyStore, run_once};
use orderflow_toolkit::invocation::Invocation;
use orderflow_toolkit::store::{Decision, DynamoEventStore, EventStore, decide_and_append, load_stream};
use orderflow_toolkit::{aws, clock, observability};
use serde::{Deserialize, Serialize};

/// What one message asks.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Add {
    counter: String,
    by: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    observability::init_logging();
    let store_table = config::required("EVENT_STORE_TABLE", "the DynamoDB table of the counters' events")?;
    let idempotency_table = config::required("IDEMPOTENCY_TABLE", "the DynamoDB table of messages counted")?;
    let dlq_url = config::required("DEAD_LETTER_QUEUE_URL", "the SQS queue for messages never countable")?;
    let sdk = aws::sdk_config().await;
    let store = DynamoEventStore::new(aws::dynamodb(&sdk), store_table);
    let idempotency = DynamoIdempotencyStore::new(aws::dynamodb(&sdk), idempotency_table);
    let dead_letters = SqsDeadLetters::new(aws::sqs(&sdk), dlq_url);
    let (store, idempotency, dead_letters) = (&store, &idempotency, &dead_letters);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let invocation = &Invocation::from_context(&event.context);
        // Each message on its own: failures are reported per message, poison is parked.
        let response = process_sqs_batch("tally", dead_letters, event.payload, |message| async move {
            let body = message.body.as_deref().unwrap_or_default();
            let add: Add = serde_json::from_str(body).map_err(RecordError::poison)?;
            let key = format!("tally#{}", message.message_id.as_deref().unwrap_or_default());
            let total = run_once(idempotency, invocation, &key, &add, || count(store, &add)).await?;
            tracing::info!(counter = %add.counter, total, "counted");
            Ok(())
        })
        .await;
        Ok::<_, Error>(response)
    }))
    .await
}

/// Appends `Added` to the counter's stream with the new total, against the version it
/// was computed from (retried when another writer got there first).
async fn count(store: &impl EventStore, add: &Add) -> Result<u64, RecordError> {
    let stream = StreamId::new(format!("tally-{}", add.counter));
    let decide = |history: Vec<_>| async move {
        let total = total_of(&history) + add.by;
        Ok::<_, RecordError>(Decision::append(vec![added(add, total)], total))
    };
    Ok(decide_and_append(store, &stream, 3, || load_stream(store, &stream), decide).await?)
}

fn total_of(history: &[orderflow_toolkit::envelope::EventEnvelope]) -> u64 {
    history.last().and_then(|event| event.payload["total"].as_u64()).unwrap_or(0)
}

fn added(add: &Add, total: u64) -> NewEvent {
    NewEvent {
        event_id: EventId::generate(),
        event_type: "Added".into(),
        schema_version: 1,
        occurred_at: clock::now(),
        causality: Causality::of_request(CorrelationId::new(&add.counter), CausationId::new("tally"), None),
        payload: serde_json::json!({ "by": add.by, "total": total }),
    }
}

//! Dead-letter queues of a stack: what is in them, why, and sending it back.
//!
//! A consumer that gives up parks a message as a [`DeadLetter`] (consumer, reason and the
//! record as received). A message SQS moved by itself after `maxReceiveCount` (the
//! function crashed or timed out every time) has no such wrapper; its source is the queue
//! whose `RedrivePolicy` targets this DLQ. Redrive unwraps a letter and sends the original
//! back: an SQS record to its source queue, a DynamoDB stream record to its consumer
//! function (streams cannot be written to).

use crate::stacks::stack::StackInfo;
use crate::stacks::target::Clients;
use crate::{CliError, Result};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use std::collections::BTreeSet;
use toolkit::deadletter::DeadLetter;

/// Messages read per queue at most, so a huge DLQ cannot make `show` or `redrive` endless.
pub const MAX_MESSAGES: usize = 1_000;
/// How long `show` hides what it reads at most (it releases them when done).
const PEEK_SECONDS: i32 = 10;
/// How long `redrive` holds a message it is sending back.
const REDRIVE_SECONDS: i32 = 60;

/// A dead-letter queue: its name in the stack's outputs and its URL.
#[derive(Debug, Clone)]
pub struct Dlq {
    pub name: String,
    pub url: String,
}

/// A stack's dead-letter queues, by output name (`PaymentDeadLetterQueue`, …).
pub fn queues(stack: &StackInfo) -> Vec<Dlq> {
    stack
        .queues()
        .into_iter()
        .filter(|(name, _)| name.ends_with("DeadLetterQueue"))
        .map(|(name, url)| Dlq { name: name.to_string(), url: url.to_string() })
        .collect()
}

/// The DLQ `wanted` names: its full name or a case-insensitive unique part (`payment`).
pub fn find(stack: &StackInfo, wanted: &str) -> Result<Dlq> {
    let all = queues(stack);
    let lower = wanted.to_lowercase();
    let matching: Vec<&Dlq> = match all.iter().find(|q| q.name.eq_ignore_ascii_case(wanted)) {
        Some(exact) => vec![exact],
        None => all.iter().filter(|q| q.name.to_lowercase().contains(&lower)).collect(),
    };
    let names = || all.iter().map(|q| q.name.as_str()).collect::<Vec<_>>().join(", ");
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(CliError::Usage(format!("no dead-letter queue matches `{wanted}`; the stack has: {}", names()))),
        many => Err(CliError::Usage(format!(
            "`{wanted}` matches {}; name one of them",
            many.iter().map(|q| q.name.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// One message of a DLQ, explained.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Letter {
    pub message_id: String,
    /// The consumer that gave up, when it parked the message itself.
    pub consumer: Option<String>,
    pub reason: String,
    /// Where the record came from: the source queue's or stream's ARN.
    pub source: Option<String>,
    pub event_type: Option<String>,
    pub event_id: Option<String>,
    pub correlation_id: Option<String>,
    pub sent_at: Option<String>,
    /// The FIFO message group it was sent with (a redrive keeps it, and so its order).
    #[serde(skip)]
    group: Option<String>,
    #[serde(skip)]
    receipt_handle: String,
    #[serde(skip)]
    body: String,
}

impl Letter {
    /// Whether the message, as received, contains `marker` (an id, a correlation id, …).
    pub fn mentions(&self, marker: &str) -> bool {
        self.body.contains(marker)
    }
}

/// Every message of the DLQ (up to [`MAX_MESSAGES`]), left in place: each is hidden while
/// the queue is read (so the next receive returns the next ones), then made visible again.
pub async fn show(clients: &Clients, dlq: &Dlq) -> Result<Vec<Letter>> {
    show_at_most(clients, dlq, MAX_MESSAGES).await
}

/// As [`show`], reading at most `max` messages.
pub async fn show_at_most(clients: &Clients, dlq: &Dlq, max: usize) -> Result<Vec<Letter>> {
    let letters = receive_all(clients, dlq, PEEK_SECONDS, max).await?;
    for letter in &letters {
        // Best effort: a message not released here reappears after PEEK_SECONDS anyway.
        let _ = clients
            .sqs()
            .change_message_visibility()
            .queue_url(&dlq.url)
            .receipt_handle(&letter.receipt_handle)
            .visibility_timeout(0)
            .send()
            .await;
    }
    Ok(letters)
}

/// Reads until a long poll finds nothing new: a short poll samples only some of SQS's
/// servers, so one empty answer does not mean an empty queue.
async fn receive_all(clients: &Clients, dlq: &Dlq, hide_seconds: i32, max: usize) -> Result<Vec<Letter>> {
    let mut letters = Vec::new();
    let mut seen = BTreeSet::new();
    while letters.len() < max {
        let output = clients
            .sqs()
            .receive_message()
            .queue_url(&dlq.url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(hide_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .map_err(|e| CliError::aws("ReceiveMessage", e))?;
        let fresh: Vec<Letter> = output
            .messages()
            .iter()
            .filter(|m| m.message_id().is_some_and(|id| seen.insert(id.to_string())))
            .map(letter_of)
            .collect();
        if fresh.is_empty() {
            break;
        }
        letters.extend(fresh);
    }
    Ok(letters)
}

fn letter_of(message: &aws_sdk_sqs::types::Message) -> Letter {
    let body = message.body().unwrap_or_default().to_string();
    let sent_at = message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
        .and_then(|ms| ms.parse::<i64>().ok())
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let parked: Option<DeadLetter> = serde_json::from_str(&body).ok();
    let (consumer, reason, record) = match parked {
        Some(letter) => (Some(letter.consumer), letter.reason, letter.record),
        None => (
            None,
            "moved by SQS after maxReceiveCount: the consumer crashed or timed out on every attempt".to_string(),
            serde_json::json!({ "body": body }),
        ),
    };
    let source = record.get("eventSourceARN").and_then(|v| v.as_str()).map(str::to_string);
    let event = event_in(&record);
    Letter {
        message_id: message.message_id().unwrap_or_default().to_string(),
        consumer,
        reason,
        source,
        event_type: event.as_ref().and_then(|e| text(e, "eventType")),
        event_id: event.as_ref().and_then(|e| text(e, "eventId")),
        correlation_id: event.as_ref().and_then(|e| text(e, "correlationId")),
        sent_at,
        group: message.attributes().and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId)).cloned(),
        receipt_handle: message.receipt_handle().unwrap_or_default().to_string(),
        body,
    }
}

fn text(value: &serde_json::Value, key: &str) -> Option<String> {
    value.get(key).and_then(|v| v.as_str()).map(str::to_string)
}

/// The event envelope inside a record: an SQS body (an EventBridge event) or a stream image.
fn event_in(record: &serde_json::Value) -> Option<serde_json::Value> {
    if let Some(body) = record.get("body").and_then(|b| b.as_str()) {
        let body: serde_json::Value = serde_json::from_str(body).ok()?;
        return Some(body.get("detail").cloned().unwrap_or(body));
    }
    let image = record.pointer("/dynamodb/NewImage")?;
    let plain = |key: &str| image.pointer(&format!("/{key}/S")).cloned();
    Some(serde_json::json!({
        "eventType": plain("eventType"),
        "eventId": plain("eventId"),
        "correlationId": plain("correlationId")
    }))
}

/// What a redrive did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Redriven {
    pub sent_back: usize,
    pub failed: Vec<String>,
}

/// Sends every message of the DLQ back to where it came from and deletes it from the DLQ;
/// a message that cannot be sent back stays, and is reported.
pub async fn redrive(clients: &Clients, stack: &StackInfo, dlq: &Dlq) -> Result<Redriven> {
    let letters = receive_all(clients, dlq, REDRIVE_SECONDS, MAX_MESSAGES).await?;
    let mut outcome = Redriven::default();
    for letter in letters {
        match send_back(clients, stack, dlq, &letter).await {
            Ok(destination) => {
                clients
                    .sqs()
                    .delete_message()
                    .queue_url(&dlq.url)
                    .receipt_handle(&letter.receipt_handle)
                    .send()
                    .await
                    .map_err(|e| CliError::aws("DeleteMessage", e))?;
                println!("  {}  sent back to {destination}", letter.message_id);
                outcome.sent_back += 1;
            }
            Err(error) => {
                println!("  {}  stays: {error}", letter.message_id);
                outcome.failed.push(format!("{}: {error}", letter.message_id));
            }
        }
    }
    Ok(outcome)
}

async fn send_back(clients: &Clients, stack: &StackInfo, dlq: &Dlq, letter: &Letter) -> Result<String> {
    let parked: Option<DeadLetter> = serde_json::from_str(&letter.body).ok();
    match parked {
        Some(parked) if is_stream(letter.source.as_deref()) => reinvoke(clients, stack, &parked).await,
        Some(parked) => {
            let source =
                letter.source.as_deref().and_then(queue_name_of).ok_or_else(|| {
                    CliError::Failed("the parked record names no source queue (eventSourceARN)".into())
                })?;
            let url = queue_url(clients, source).await?;
            let body = parked.record.get("body").and_then(|b| b.as_str()).unwrap_or_default();
            let group = parked.record.pointer("/attributes/MessageGroupId").and_then(|g| g.as_str());
            send(clients, &url, body, group).await?;
            Ok(source.to_string())
        }
        None if dlq.name == BUS_DELIVERY_DLQ => put_back_on_the_bus(clients, stack, &letter.body).await,
        None => {
            let url = source_of(clients, stack, dlq).await?;
            send(clients, &url, &letter.body, letter.group.as_deref()).await?;
            Ok(url)
        }
    }
}

/// The queue where the bus keeps what it could not deliver to a rule's target.
const BUS_DELIVERY_DLQ: &str = "BusDeliveryDeadLetterQueue";

/// An event the bus gave up delivering goes back on the bus, where every rule sees it
/// again (consumers deduplicate on the event id, so a rule that did deliver it does no harm).
async fn put_back_on_the_bus(clients: &Clients, stack: &StackInfo, body: &str) -> Result<String> {
    let event: serde_json::Value = serde_json::from_str(body)
        .map_err(|e| CliError::Failed(format!("the letter is not an EventBridge event: {e}")))?;
    let field = |name: &str| {
        event
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or_else(|| CliError::Failed(format!("the letter is not an EventBridge event: it has no `{name}`")))
    };
    let bus = stack.output("EventBusName")?;
    let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(field("source")?)
        .detail_type(field("detail-type")?)
        .detail(event.get("detail").map(ToString::to_string).unwrap_or_default())
        .build();
    let output =
        clients.eventbridge().put_events().entries(entry).send().await.map_err(|e| CliError::aws("PutEvents", e))?;
    if output.failed_entry_count() > 0 {
        let reason = output.entries().first().and_then(|e| e.error_message()).unwrap_or("refused");
        return Err(CliError::Failed(format!("the bus refused it: {reason}")));
    }
    Ok(format!("the bus {bus}"))
}

fn is_stream(source: Option<&str>) -> bool {
    source.is_some_and(|arn| arn.contains(":table/"))
}

fn queue_name_of(arn: &str) -> Option<&str> {
    arn.rsplit(':').next().filter(|name| !name.is_empty())
}

async fn queue_url(clients: &Clients, name: &str) -> Result<String> {
    let output =
        clients.sqs().get_queue_url().queue_name(name).send().await.map_err(|e| CliError::aws("GetQueueUrl", e))?;
    output.queue_url().map(str::to_string).ok_or_else(|| CliError::Failed(format!("queue {name} has no URL")))
}

async fn send(clients: &Clients, url: &str, body: &str, group: Option<&str>) -> Result<()> {
    let mut request = clients.sqs().send_message().queue_url(url).message_body(body);
    if url.ends_with(".fifo") {
        // Its own group keeps its order with the messages of the same group; a new
        // deduplication id, as the original's would be dropped as a duplicate.
        let group = group.ok_or_else(|| {
            CliError::Failed(format!("a message for the FIFO queue {url} carries no message group; not sent"))
        })?;
        request = request.message_group_id(group).message_deduplication_id(uuid::Uuid::new_v4().to_string());
    }
    request.send().await.map_err(|e| CliError::aws("SendMessage", e))?;
    Ok(())
}

/// The one queue of the stack whose redrive policy targets this DLQ.
async fn source_of(clients: &Clients, stack: &StackInfo, dlq: &Dlq) -> Result<String> {
    let dlq_arn = queue_arn(clients, &dlq.url).await?;
    let mut sources = Vec::new();
    for (_, url) in stack.queues() {
        let output = clients
            .sqs()
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|e| CliError::aws("GetQueueAttributes", e))?;
        let policy = output.attributes().and_then(|a| a.get(&QueueAttributeName::RedrivePolicy));
        if policy.is_some_and(|p| p.contains(&dlq_arn)) {
            sources.push(url.to_string());
        }
    }
    match sources.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(CliError::Failed(format!("no queue of the stack sends its dead letters to {}", dlq.name))),
        _ => Err(CliError::Failed(format!(
            "{} serves several queues and the message does not say which it came from",
            dlq.name
        ))),
    }
}

async fn queue_arn(clients: &Clients, url: &str) -> Result<String> {
    let output = clients
        .sqs()
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| CliError::aws("GetQueueAttributes", e))?;
    output
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| CliError::Failed(format!("queue {url} has no ARN")))
}

/// Hands a parked stream record back to its consumer, as the stream would have; a letter
/// parked by reference (its record was too large for a message) is read from the store.
async fn reinvoke(clients: &Clients, stack: &StackInfo, parked: &DeadLetter) -> Result<String> {
    let function = stack.function_name(&parked.consumer);
    let record = match (&parked.record, &parked.stored) {
        (serde_json::Value::Null, Some(stored)) => stored_record(clients, stack, stored).await?,
        (record, _) => record.clone(),
    };
    // Handed over now, as republish does: its original time would read as the relay's wait
    // (days, for an old letter) and shut admission's door while the redrive runs.
    let mut record = record;
    if let Some(change) = record.get_mut("dynamodb").and_then(serde_json::Value::as_object_mut) {
        change.insert("ApproximateCreationDateTime".into(), serde_json::json!(chrono::Utc::now().timestamp()));
    }
    match crate::ops::republish::invoke_with_records(clients, &function, &[record]).await? {
        Some(_) => Err(CliError::Failed(format!("{function} could not process it"))),
        None => Ok(function),
    }
}

/// The stream record of the stored event a letter names.
async fn stored_record(
    clients: &Clients,
    stack: &StackInfo,
    stored: &toolkit::deadletter::StoredEvent,
) -> Result<serde_json::Value> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let table = stack.output("EventStoreTableName")?;
    let output = clients
        .dynamodb()
        .get_item()
        .table_name(table)
        .key("streamId", AttributeValue::S(stored.stream_id.as_str().to_string()))
        .key("version", AttributeValue::N(stored.version.to_string()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| CliError::aws("GetItem", e))?;
    let item = output.item().ok_or_else(|| {
        CliError::Failed(format!("{} v{} is not in the event store", stored.stream_id, stored.version))
    })?;
    Ok(crate::ops::republish::stream_record(item))
}

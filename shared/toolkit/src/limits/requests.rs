//! The same walls on an emulator: a request AWS would refuse for its size or count,
//! refused before it is sent. MiniStack enforces none of SQS's, EventBridge's or
//! DynamoDB's size limits, so without this an end-to-end test passes where AWS fails.
//!
//! The request is read as it goes on the wire (the JSON protocol's `x-amz-target` and
//! body), so one check covers every client, whatever built the request.

use super::{ITEM_BYTES, MESSAGE_BYTES, PUT_EVENTS_ENTRIES, TRANSACTION_ITEMS};
use serde_json::Value;

/// Messages in one `SendMessageBatch` call.
pub const SEND_BATCH_ENTRIES: usize = 10;
/// Requests in one `BatchWriteItem` call.
pub const BATCH_WRITE_REQUESTS: usize = 25;
/// All of one `TransactWriteItems` call: 4 MB.
pub const TRANSACTION_BYTES: usize = 4 * 1024 * 1024;

/// Why AWS would refuse this request (`x-amz-target` and JSON body), or `None`.
pub fn refusal(target: &str, body: &Value) -> Option<String> {
    let operation = target.rsplit_once('.').map_or(target, |(_, operation)| operation);
    let why = match operation {
        "SendMessage" => message_over(operation, sqs_message_bytes(body)),
        "SendMessageBatch" => sqs_batch(body),
        "PutEvents" => put_events(body),
        "PutItem" => item_over(operation, &body["Item"]),
        "BatchWriteItem" => batch_write(body),
        "TransactWriteItems" => transaction(body),
        _ => None,
    }?;
    Some(format!("{operation} refused before sending, as AWS would: {why}"))
}

fn message_over(what: &str, bytes: usize) -> Option<String> {
    (bytes > MESSAGE_BYTES).then(|| format!("{what} takes {bytes} bytes; at most {MESSAGE_BYTES} are accepted"))
}

/// A message's size as SQS counts it: the body and every attribute's name, type and value.
fn sqs_message_bytes(message: &Value) -> usize {
    let body = text_len(&message["MessageBody"]);
    let attributes = message["MessageAttributes"].as_object().into_iter().flatten();
    body + attributes
        .map(|(name, value)| {
            name.len()
                + text_len(&value["DataType"])
                + text_len(&value["StringValue"])
                + base64_len(&value["BinaryValue"])
        })
        .sum::<usize>()
}

fn sqs_batch(body: &Value) -> Option<String> {
    let entries = entries(body, "Entries");
    if entries.len() > SEND_BATCH_ENTRIES {
        return Some(format!("{} messages in one batch; at most {SEND_BATCH_ENTRIES}", entries.len()));
    }
    message_over("the batch", entries.iter().map(sqs_message_bytes).sum())
}

/// An entry's size as EventBridge counts it: its time, source, detail type, detail and resources.
fn event_entry_bytes(entry: &Value) -> usize {
    let time = if entry.get("Time").is_some() { 14 } else { 0 };
    let resources: usize = entries(entry, "Resources").iter().map(text_len).sum();
    time + text_len(&entry["Source"]) + text_len(&entry["DetailType"]) + text_len(&entry["Detail"]) + resources
}

fn put_events(body: &Value) -> Option<String> {
    let entries = entries(body, "Entries");
    if entries.len() > PUT_EVENTS_ENTRIES {
        return Some(format!("{} entries in one call; at most {PUT_EVENTS_ENTRIES}", entries.len()));
    }
    for (index, entry) in entries.iter().enumerate() {
        if let Some(why) = message_over(&format!("entry {index}"), event_entry_bytes(entry)) {
            return Some(why);
        }
    }
    message_over("the call's entries", entries.iter().map(event_entry_bytes).sum())
}

fn item_over(what: &str, item: &Value) -> Option<String> {
    let bytes = item_bytes(item);
    (bytes > ITEM_BYTES).then(|| format!("{what}'s item takes {bytes} bytes; an item may take at most {ITEM_BYTES}"))
}

fn batch_write(body: &Value) -> Option<String> {
    let tables = body["RequestItems"].as_object().into_iter().flatten();
    let requests: Vec<&Value> = tables.flat_map(|(_, requests)| entries(requests, "")).collect();
    if requests.len() > BATCH_WRITE_REQUESTS {
        return Some(format!("{} requests in one batch; at most {BATCH_WRITE_REQUESTS}", requests.len()));
    }
    requests.iter().find_map(|request| item_over("a put", &request["PutRequest"]["Item"]))
}

fn transaction(body: &Value) -> Option<String> {
    let items = entries(body, "TransactItems");
    if items.len() > TRANSACTION_ITEMS {
        return Some(format!("{} items in one transaction; at most {TRANSACTION_ITEMS}", items.len()));
    }
    if let Some(why) =
        items.iter().enumerate().find_map(|(i, item)| item_over(&format!("put {i}"), &item["Put"]["Item"]))
    {
        return Some(why);
    }
    let bytes: usize = items.iter().map(|item| item_bytes(&item["Put"]["Item"])).sum();
    (bytes > TRANSACTION_BYTES).then(|| format!("the transaction takes {bytes} bytes; at most {TRANSACTION_BYTES}"))
}

/// An item's size as DynamoDB counts it: each attribute's name and value.
pub fn item_bytes(item: &Value) -> usize {
    item.as_object().into_iter().flatten().map(|(name, value)| name.len() + value_bytes(value)).sum()
}

/// A value's size in DynamoDB's wire form (`{"S": ..}`, `{"N": ..}`, `{"M": ..}`, ...).
fn value_bytes(value: &Value) -> usize {
    let Some((kind, inner)) = value.as_object().and_then(|v| v.iter().next()) else { return 0 };
    match kind.as_str() {
        "S" => text_len(inner),
        // About one byte per two significant digits, plus one.
        "N" => inner.as_str().map_or(0, |n| n.len().div_ceil(2) + 1),
        "B" => base64_len(inner),
        "BOOL" | "NULL" => 1,
        "SS" => entries(inner, "").iter().map(text_len).sum(),
        "NS" => entries(inner, "").iter().map(|n| n.as_str().map_or(0, |n| n.len().div_ceil(2) + 1)).sum(),
        "BS" => entries(inner, "").iter().map(base64_len).sum(),
        // Three bytes of overhead, one per element.
        "L" => 3 + entries(inner, "").iter().map(|v| 1 + value_bytes(v)).sum::<usize>(),
        "M" => 3 + inner.as_object().into_iter().flatten().map(|(n, v)| 1 + n.len() + value_bytes(v)).sum::<usize>(),
        _ => 0,
    }
}

/// The array at `field` (the value itself when `field` is empty), or none.
fn entries<'a>(value: &'a Value, field: &str) -> &'a [Value] {
    let array = if field.is_empty() { value } else { &value[field] };
    array.as_array().map_or(&[], Vec::as_slice)
}

fn text_len(value: &Value) -> usize {
    value.as_str().map_or(0, str::len)
}

/// The decoded length of a base64 string.
fn base64_len(value: &Value) -> usize {
    value.as_str().map_or(0, |b| b.trim_end_matches('=').len() * 3 / 4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_message_over_256_kib_is_refused_and_one_at_the_limit_is_not() {
        let at_limit = json!({ "QueueUrl": "q", "MessageBody": "x".repeat(MESSAGE_BYTES) });
        assert_eq!(refusal("AmazonSQS.SendMessage", &at_limit), None);
        let over = json!({ "QueueUrl": "q", "MessageBody": "x".repeat(MESSAGE_BYTES - 10),
            "MessageAttributes": { "reason": { "DataType": "String", "StringValue": "y".repeat(20) } } });
        let why = refusal("AmazonSQS.SendMessage", &over).expect("refused");
        assert!(why.contains("SendMessage") && why.contains("262144"), "{why}");
    }

    #[test]
    fn batches_are_refused_past_their_count_or_their_total() {
        let entry = |n: usize| json!({ "Id": "1", "MessageBody": "x".repeat(n) });
        let eleven = json!({ "Entries": (0..11).map(|_| entry(1)).collect::<Vec<_>>() });
        assert!(refusal("AmazonSQS.SendMessageBatch", &eleven).expect("refused").contains("11 messages"));
        let heavy = json!({ "Entries": [entry(MESSAGE_BYTES / 2), entry(MESSAGE_BYTES / 2 + 1)] });
        assert!(refusal("AmazonSQS.SendMessageBatch", &heavy).is_some());
        let events = |n: usize| json!({ "Entries": (0..n).map(|_| json!({ "Source": "s", "DetailType": "t", "Detail": "{}" })).collect::<Vec<_>>() });
        assert_eq!(refusal("AWSEvents.PutEvents", &events(10)), None);
        assert!(refusal("AWSEvents.PutEvents", &events(11)).expect("refused").contains("11 entries"));
        let big = json!({ "Entries": [{ "Source": "s", "DetailType": "t", "Detail": "x".repeat(MESSAGE_BYTES) }] });
        assert!(refusal("AWSEvents.PutEvents", &big).expect("refused").contains("entry 0"));
    }

    #[test]
    fn an_item_over_400_kib_is_refused_wherever_it_is_written() {
        let item = |n: usize| json!({ "pk": { "S": "k" }, "payload": { "S": "x".repeat(n) } });
        assert_eq!(refusal("DynamoDB_20120810.PutItem", &json!({ "Item": item(ITEM_BYTES - 20) })), None);
        assert!(refusal("DynamoDB_20120810.PutItem", &json!({ "Item": item(ITEM_BYTES) })).is_some());
        let put = |n: usize| json!({ "Put": { "TableName": "t", "Item": item(n) } });
        let transaction = json!({ "TransactItems": [put(1), put(ITEM_BYTES)] });
        assert!(refusal("DynamoDB_20120810.TransactWriteItems", &transaction).expect("refused").contains("put 1"));
        let many = json!({ "TransactItems": (0..101).map(|_| put(1)).collect::<Vec<_>>() });
        assert!(refusal("DynamoDB_20120810.TransactWriteItems", &many).expect("refused").contains("101 items"));
        let batch = json!({ "RequestItems": { "t": [{ "PutRequest": { "Item": item(ITEM_BYTES) } }] } });
        assert!(refusal("DynamoDB_20120810.BatchWriteItem", &batch).is_some());
    }

    #[test]
    fn nested_values_count_their_names_and_overheads() {
        let item =
            json!({ "m": { "M": { "ab": { "N": "12345" }, "l": { "L": [{ "BOOL": true }, { "NULL": true }] } } } });
        // "m" + 3 + (1 + "ab" + 4) + (1 + "l" + 3 + (1 + 1) + (1 + 1))
        assert_eq!(item_bytes(&item), 1 + 3 + 7 + 9);
        assert_eq!(refusal("DynamoDB_20120810.Query", &json!({})), None);
    }
}

//! The toolkit's README example (`shared/toolkit/examples/tally.rs`) runs as a Lambda
//! function would: its binary, a Runtime API handing it SQS batches, the emulator's
//! DynamoDB tables and SQS queue. A redelivered message counts once, a malformed one is
//! parked with its reason and does not hold back its batch.

use aws_sdk_dynamodb::types::AttributeValue;
use e2e::Harness;
use orderflow::bench::runtime_api::RuntimeApi;
use std::path::PathBuf;
use std::time::Duration;

/// Where `cargo test` put the example's binary: `<target>/debug/examples/tally`.
fn example_binary() -> PathBuf {
    let test_binary = std::env::current_exe().expect("the test binary's path");
    let profile_dir = test_binary.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps");
    profile_dir.join("examples").join("tally")
}

fn sqs_event(messages: &[(&str, &str)]) -> String {
    let records: Vec<_> = messages
        .iter()
        .map(|(id, body)| {
            serde_json::json!({
                "messageId": id, "receiptHandle": id, "body": body,
                "attributes": { "ApproximateReceiveCount": "1", "SentTimestamp": chrono::Utc::now().timestamp_millis().to_string() },
                "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:tally", "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::json!({ "Records": records }).to_string()
}

#[tokio::test]
#[ignore = "needs the deployed stack: run by `cargo run -p orderflow -- test`"]
async fn the_toolkit_example_counts_each_message_once_and_parks_what_it_cannot_read() {
    let harness = Harness::connect().await;
    let binary = example_binary();
    assert!(binary.exists(), "{} was not built (cargo test builds examples)", binary.display());
    let counter = Harness::correlation_id("tally");
    let add = |by: u64| serde_json::json!({ "counter": counter, "by": by }).to_string();
    let malformed = format!("{{\"counter\": \"{counter}\", \"by\": \"three\"}}");
    let batches = vec![
        sqs_event(&[("m-1", &add(2)), ("m-2", &add(3))]),
        // SQS delivers m-2 again (at least once), with a malformed message.
        sqs_event(&[("m-2", &add(3)), (&format!("bad-{counter}"), &malformed)]),
    ];
    let runtime = RuntimeApi::start(batches).await.expect("a local Runtime API");
    let endpoint = std::env::var("ORDERFLOW_ENDPOINT").expect("set by `orderflow test`");
    let output = |name: &str| harness.stack.output(name).unwrap_or_else(|_| panic!("stack output {name}")).to_string();
    let mut function = tokio::process::Command::new(&binary)
        .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "tally")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "e2e")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/tally")
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("EVENT_STORE_TABLE", output("EventStoreTableName"))
        .env("IDEMPOTENCY_TABLE", output("IdempotencyTableName"))
        .env("DEAD_LETTER_QUEUE_URL", output("AnalyticsDeadLetterQueueUrl"))
        .kill_on_drop(true)
        .spawn()
        .expect("the example runs");
    let answered = runtime.wait_for(2, Duration::from_secs(60)).await;
    let _ = function.kill().await;
    let timeline = runtime.timeline().await;
    assert!(answered && timeline.errors == 0, "the example answered both batches: {timeline:?}");

    let table = output("EventStoreTableName");
    let stream = format!("tally-{counter}");
    let items = harness
        .clients
        .dynamodb()
        .query()
        .table_name(&table)
        .key_condition_expression("streamId = :s")
        .expression_attribute_values(":s", AttributeValue::S(stream.clone()))
        .consistent_read(true)
        .send()
        .await
        .expect("the counter's stream can be read");
    let totals: Vec<String> = items
        .items()
        .iter()
        .map(|item| toolkit::store::time_index::envelope_from_item(item.clone()).expect("a stored event"))
        .filter_map(|envelope| envelope.payload.get("total").map(ToString::to_string))
        .collect();
    assert_eq!(totals, ["2", "5"], "{stream}: m-2 counted once, in order");

    let letter =
        harness.wait_for_letter("AnalyticsDeadLetterQueue", &format!("bad-{counter}"), Duration::from_secs(60)).await;
    assert_eq!(letter.consumer.as_deref(), Some("tally"), "parked by the example with its reason: {letter:?}");
}

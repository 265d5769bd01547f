//! That every refused API request is logged. In its own test binary: `tracing` caches
//! per call site whether anyone listens, and other tests running first without a subscriber
//! would make this one's scoped subscriber miss the lines.

use services::views::InMemoryOrderViews;
use support::test_api;
use toolkit::invocation::Invocation;
use toolkit::store::InMemoryEventStore;

mod support;

fn post_order_with(headers: &[(&str, &str)]) -> lambda_http::Request {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/aws/apigw-v2-post-order.json");
    let mut event: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (name, value) in headers {
        match value {
            &"" => event["headers"].as_object_mut().unwrap().remove(*name),
            _ => event["headers"].as_object_mut().unwrap().insert(name.to_string(), serde_json::json!(value)),
        };
    }
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

/// Collects what the handlers log, as the JSON lines the functions write.
#[derive(Clone, Default)]
struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn api_logs_every_refused_request_with_its_route_source_and_reason() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt().json().with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let api = test_api(InMemoryEventStore::default(), InMemoryOrderViews::default());
    api.handle(post_order_with(&[("x-api-key", "guessed-key")]), &Invocation::local()).await;
    api.handle(post_order_with(&[("x-api-key", "")]), &Invocation::local()).await;
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let refused: Vec<&str> = text.lines().filter(|line| line.contains("request refused")).collect();
    assert_eq!(refused.len(), 2, "{text}");
    assert!(refused[0].contains("the x-api-key is not a valid API key") && refused[0].contains("POST /orders"));
    assert!(refused[0].contains("\"status\":403") && refused[1].contains("\"status\":401"), "{refused:?}");
}

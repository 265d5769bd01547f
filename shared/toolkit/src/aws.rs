//! SDK set-up shared by every function: built once per process, reused for every event.

/// Loads region, credentials and endpoint from the environment. `AWS_ENDPOINT_URL`
/// (set by the template on the emulator) points every client at the emulator.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https_client()).load().await
}

/// The roots AWS service endpoints' certificates chain to: Amazon Root CA 1 to 4 (Amazon
/// Trust Services), as Debian's ca-certificates ship them.
const AMAZON_ROOTS: &[u8] = include_bytes!("amazon-roots.pem");

/// The SDK's HTTPS client on rustls with ring, trusting Amazon's four roots.
///
/// Ring rather than the default aws-lc-rs: 2.2 MB less in a function's binary (0.7 MB
/// zipped; docs/performance.md, P4) for the same TLS. Amazon's roots rather than the
/// machine's store: the client only talks to AWS endpoints, and reading and parsing the
/// store (hundreds of files on a Debian host) was most of a function's start-up, 5.1 ms
/// against 2.3 ms spawn to first request (docs/performance.md, P1).
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let builder = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring));
    let amazon = TrustStore::empty().with_native_roots(false).with_pem_certificate(AMAZON_ROOTS);
    match TlsContext::builder().with_trust_store(amazon).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        // Only when the TLS provider refuses a trust store: the machine's store then.
        Err(_) => builder.build_https(),
    }
}

/// A DynamoDB client on the shared configuration.
#[cfg(feature = "dynamodb")]
pub fn dynamodb(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    let mut builder = aws_sdk_dynamodb::config::Builder::from(config);
    if let Some(checks) = RequestChecks::of_this_process() {
        builder = builder.interceptor(checks);
    }
    aws_sdk_dynamodb::Client::from_conf(builder.build())
}

/// An EventBridge client on the shared configuration.
#[cfg(feature = "eventbridge")]
pub fn eventbridge(config: &aws_config::SdkConfig) -> aws_sdk_eventbridge::Client {
    let mut builder = aws_sdk_eventbridge::config::Builder::from(config);
    if let Some(checks) = RequestChecks::of_this_process() {
        builder = builder.interceptor(checks);
    }
    aws_sdk_eventbridge::Client::from_conf(builder.build())
}

/// An SQS client on the shared configuration.
#[cfg(feature = "sqs")]
pub fn sqs(config: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    let mut builder = aws_sdk_sqs::config::Builder::from(config);
    if let Some(checks) = RequestChecks::of_this_process() {
        builder = builder.interceptor(checks);
    }
    aws_sdk_sqs::Client::from_conf(builder.build())
}

/// The whole source chain: SDK errors hide the useful part (e.g. "connection refused") in sources.
pub use crate::error::error_text;

/// An SDK error as a person wants to read it: the service's code and message when the
/// service answered, else the whole chain (e.g. "connection refused").
#[cfg(feature = "dynamodb")]
pub fn sdk_error_text<E, R>(error: &aws_sdk_dynamodb::error::SdkError<E, R>) -> String
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error {
        aws_sdk_dynamodb::error::SdkError::ServiceError(service) => {
            let err = service.err();
            match (err.code(), err.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_string(),
                _ => error_text(error),
            }
        }
        other => error_text(other),
    }
}

/// Which calls clients log (`RECORD_AWS_CALLS`; template parameter `RecordAwsCalls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recording {
    /// Nothing logged (the default).
    Off,
    /// Each distinct (action, resource) once per process: what least privilege is checked on.
    Distinct,
    /// Every request, retries included: what `orderflow bench` counts per order.
    Every,
}

/// The recording this process was configured with.
/// Read once per process: the interceptor asks on every request.
pub fn recording() -> Recording {
    static RECORDING: std::sync::OnceLock<Recording> = std::sync::OnceLock::new();
    *RECORDING.get_or_init(|| {
        match crate::config::optional("RECORD_AWS_CALLS").map(|v| v.to_ascii_lowercase()).as_deref() {
            Some("distinct") => Recording::Distinct,
            Some("every") => Recording::Every,
            _ => Recording::Off,
        }
    })
}

/// Whether this process talks to an emulator: the template sets `AWS_ENDPOINT_URL` only there.
fn on_an_emulator() -> bool {
    crate::config::optional("AWS_ENDPOINT_URL").is_some()
}

/// The log line's message of a recorded call.
pub const AWS_CALL: &str = "aws call";

/// What a client does with each request it is about to send, read as it goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestChecks {
    /// Log it as `aws call` with the function and `calls`: the IAM action and resource of
    /// each thing the request does ([`iam_calls`]), `;`-separated.
    pub record: bool,
    /// Refuse one AWS would refuse for its size or count ([`crate::limits::requests`]).
    /// Emulators take them, so without it a test passes where AWS fails; on AWS the
    /// service itself refuses.
    pub refuse_over_limits: bool,
}

impl RequestChecks {
    /// This process's: recording as configured, the limits on an emulator; `None` for neither.
    pub fn of_this_process() -> Option<Self> {
        let checks = Self { record: recording() != Recording::Off, refuse_over_limits: on_an_emulator() };
        (checks.record || checks.refuse_over_limits).then_some(checks)
    }

    /// Only the limits: what a client of an emulator adds.
    pub fn over_limits() -> Self {
        Self { record: false, refuse_over_limits: true }
    }

    fn log_calls(target: &str, body: &serde_json::Value) {
        static SEEN: std::sync::Mutex<std::collections::BTreeSet<String>> =
            std::sync::Mutex::new(std::collections::BTreeSet::new());
        let calls = iam_calls(target, body).join(";");
        if recording() == Recording::Distinct && !SEEN.lock().is_ok_and(|mut seen| seen.insert(calls.clone())) {
            return;
        }
        let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
        tracing::info!(calls, function, "{AWS_CALL}");
    }
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for RequestChecks {
    fn name(&self) -> &'static str {
        "RequestChecks"
    }

    fn read_before_transmit(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let request = context.request();
        let target = request.headers().get("x-amz-target").unwrap_or("unknown");
        let body: serde_json::Value =
            request.body().bytes().and_then(|bytes| serde_json::from_slice(bytes).ok()).unwrap_or_default();
        if self.record {
            Self::log_calls(target, &body);
        }
        match crate::limits::requests::refusal(target, &body).filter(|_| self.refuse_over_limits) {
            Some(why) => Err(why.into()),
            None => Ok(()),
        }
    }
}

/// What a JSON-protocol request (its `x-amz-target` and body) does, as IAM authorizes it:
/// `<action> <resource>` pairs, the resource as its ARN ends: `table/<name>`,
/// `table/<name>/index/<index>`, `queue/<name>`, `event-bus/<name>`. A transaction is the
/// item actions it holds (IAM has no `TransactWriteItems` action). Sorted, no repeats.
pub fn iam_calls(target: &str, body: &serde_json::Value) -> Vec<String> {
    let (service, operation) = target.split_once('.').unwrap_or(("unknown", target));
    let prefix = match service {
        s if s.starts_with("DynamoDB") => "dynamodb",
        "AmazonSQS" => "sqs",
        "AWSEvents" => "events",
        other => other,
    };
    let mut calls = std::collections::BTreeSet::new();
    let table = |name: &str| format!("table/{name}");
    match operation {
        "TransactWriteItems" | "TransactGetItems" => {
            for item in body["TransactItems"].as_array().into_iter().flatten() {
                for (kind, action) in [
                    ("Put", "PutItem"),
                    ("Update", "UpdateItem"),
                    ("Delete", "DeleteItem"),
                    ("ConditionCheck", "ConditionCheckItem"),
                    ("Get", "GetItem"),
                ] {
                    if let Some(name) = item[kind]["TableName"].as_str() {
                        calls.insert(format!("dynamodb:{action} {}", table(name)));
                    }
                }
            }
        }
        _ => {
            let mut resources = Vec::new();
            if let Some(name) = body["TableName"].as_str() {
                resources.push(match body["IndexName"].as_str() {
                    Some(index) => format!("table/{name}/index/{index}"),
                    None => table(name),
                });
            }
            resources
                .extend(body["RequestItems"].as_object().into_iter().flat_map(|items| items.keys()).map(|n| table(n)));
            if let Some(url) = body["QueueUrl"].as_str() {
                resources.push(format!("queue/{}", url.rsplit('/').next().unwrap_or(url)));
            }
            for entry in body["Entries"].as_array().into_iter().flatten().filter(|e| e.get("Source").is_some()) {
                resources.push(format!("event-bus/{}", entry["EventBusName"].as_str().unwrap_or("default")));
            }
            if resources.is_empty() {
                resources.push("*".into());
            }
            calls.extend(resources.into_iter().map(|resource| format!("{prefix}:{operation} {resource}")));
        }
    }
    calls.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::iam_calls;
    use serde_json::json;

    #[test]
    fn the_amazon_roots_are_four_certificates() {
        let pem = std::str::from_utf8(super::AMAZON_ROOTS).expect("PEM is text");
        assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), 4);
    }

    #[test]
    fn a_request_is_the_iam_actions_and_resources_it_needs() {
        let query = json!({ "TableName": "store", "IndexName": "byTime" });
        assert_eq!(iam_calls("DynamoDB_20120810.Query", &query), ["dynamodb:Query table/store/index/byTime"]);
        let transaction = json!({ "TransactItems": [
            { "Put": { "TableName": "store" } }, { "Update": { "TableName": "analytics" } }, { "Put": { "TableName": "store" } }
        ] });
        assert_eq!(
            iam_calls("DynamoDB_20120810.TransactWriteItems", &transaction),
            ["dynamodb:PutItem table/store", "dynamodb:UpdateItem table/analytics"]
        );
        let batch = json!({ "RequestItems": { "views": [] } });
        assert_eq!(iam_calls("DynamoDB_20120810.BatchWriteItem", &batch), ["dynamodb:BatchWriteItem table/views"]);
        let send = json!({ "QueueUrl": "http://127.0.0.1:4566/000000000000/orderflow-payment-dlq" });
        assert_eq!(iam_calls("AmazonSQS.SendMessage", &send), ["sqs:SendMessage queue/orderflow-payment-dlq"]);
        let events =
            json!({ "Entries": [{ "Source": "orderflow.orders", "EventBusName": "orders" }, { "Source": "s" }] });
        assert_eq!(
            iam_calls("AWSEvents.PutEvents", &events),
            ["events:PutEvents event-bus/default", "events:PutEvents event-bus/orders"]
        );
        assert_eq!(iam_calls("AmazonSQS.ListQueues", &json!({})), ["sqs:ListQueues *"]);
    }
}

//! SDK set-up shared by every function: built once per process, reused for every event.

/// Loads region, credentials and endpoint from the environment. `AWS_ENDPOINT_URL`
/// (set by the template on the emulator) points every client at the emulator.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// A DynamoDB client on the shared configuration.
#[cfg(feature = "dynamodb")]
pub fn dynamodb(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// An EventBridge client on the shared configuration.
#[cfg(feature = "eventbridge")]
pub fn eventbridge(config: &aws_config::SdkConfig) -> aws_sdk_eventbridge::Client {
    aws_sdk_eventbridge::Client::new(config)
}

/// An SQS client on the shared configuration.
#[cfg(feature = "sqs")]
pub fn sqs(config: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
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

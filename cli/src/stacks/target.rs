//! Where commands act: an emulator on an endpoint (default: the one `up` manages on
//! 127.0.0.1), or real AWS with the usual profile and region settings.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

pub const DEFAULT_PORT: u16 = 4566;
pub const DEFAULT_REGION: &str = "us-east-1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An AWS emulator. `managed_port` is set when it is the one this tool starts and stops.
    Emulator { endpoint: String, managed_port: Option<u16> },
    /// Real AWS: credentials and region from the profile or the environment.
    Aws { profile: Option<String>, region: Option<String> },
}

impl Target {
    /// The emulator this tool manages on `port`.
    pub fn managed(port: u16) -> Self {
        Target::Emulator { endpoint: format!("http://127.0.0.1:{port}"), managed_port: Some(port) }
    }

    /// An emulator someone else runs (given by `--endpoint` or `AWS_ENDPOINT_URL`).
    pub fn external(endpoint: &str) -> Self {
        Target::Emulator { endpoint: endpoint.trim_end_matches('/').to_string(), managed_port: None }
    }

    pub fn endpoint(&self) -> Option<&str> {
        match self {
            Target::Emulator { endpoint, .. } => Some(endpoint),
            Target::Aws { .. } => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Target::Emulator { endpoint, .. } => format!("the emulator at {endpoint}"),
            Target::Aws { profile: Some(p), .. } => format!("AWS (profile {p})"),
            Target::Aws { .. } => "AWS".to_string(),
        }
    }

    pub async fn sdk_config(&self) -> SdkConfig {
        match self {
            Target::Emulator { endpoint, .. } => {
                let region = std::env::var("AWS_REGION").unwrap_or_else(|_| DEFAULT_REGION.to_string());
                // Emulators accept any credentials; fixed ones keep a user's real keys out of it.
                let credentials =
                    aws_sdk_sts::config::Credentials::new("test", "test", None, None, "orderflow-emulator");
                aws_config::defaults(BehaviorVersion::latest())
                    .endpoint_url(endpoint)
                    .region(Region::new(region))
                    .credentials_provider(credentials)
                    .load()
                    .await
            }
            Target::Aws { profile, region } => {
                let mut loader = aws_config::defaults(BehaviorVersion::latest());
                if let Some(profile) = profile {
                    loader = loader.profile_name(profile);
                }
                if let Some(region) = region {
                    loader = loader.region(Region::new(region.clone()));
                }
                loader.load().await
            }
        }
    }
}

/// Ready-made clients for one target, built once per command.
#[derive(Clone)]
pub struct Clients {
    pub target: Target,
    pub config: SdkConfig,
    /// When set, every client notes the IAM action of each request it sends.
    pub recorder: Option<CallRecorder>,
}

/// Builds one service's client on the shared configuration, with the recorder if any.
macro_rules! client {
    ($clients:expr, $sdk:ident) => {{
        let builder = $sdk::config::Builder::from(&$clients.config);
        $sdk::Client::from_conf($clients.with_recorder(builder).build())
    }};
}

/// A client of a service whose requests AWS limits in size or count: on an emulator,
/// which takes any size, it refuses what AWS would (`toolkit::aws::RequestChecks`).
macro_rules! limited_client {
    ($clients:expr, $sdk:ident) => {{
        let mut builder = $sdk::config::Builder::from(&$clients.config);
        if $clients.target.endpoint().is_some() {
            builder = builder.interceptor(toolkit::aws::RequestChecks::over_limits());
        }
        $sdk::Client::from_conf($clients.with_recorder(builder).build())
    }};
}

impl Clients {
    pub async fn new(target: Target) -> Self {
        let config = target.sdk_config().await;
        Self { target, config, recorder: None }
    }

    /// Clients that note the IAM action of every request they send (see [`CallRecorder`]).
    pub async fn recording(target: Target) -> Self {
        Self { recorder: Some(CallRecorder::default()), ..Self::new(target).await }
    }

    /// The same clients without recording: for calls made only because the target is an
    /// emulator, which are no part of what a deploy to AWS needs.
    pub fn unrecorded(&self) -> Self {
        Self { recorder: None, ..self.clone() }
    }

    fn with_recorder<B: Interceptable>(&self, builder: B) -> B {
        match &self.recorder {
            Some(recorder) => builder.with_interceptor(recorder.clone()),
            None => builder,
        }
    }

    pub fn cloudformation(&self) -> aws_sdk_cloudformation::Client {
        client!(self, aws_sdk_cloudformation)
    }

    /// Path-style addressing: emulators serve buckets on one host.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let builder =
            aws_sdk_s3::config::Builder::from(&self.config).force_path_style(self.target.endpoint().is_some());
        aws_sdk_s3::Client::from_conf(self.with_recorder(builder).build())
    }

    pub fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        client!(self, aws_sdk_secretsmanager)
    }

    pub fn lambda(&self) -> aws_sdk_lambda::Client {
        client!(self, aws_sdk_lambda)
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        limited_client!(self, aws_sdk_sqs)
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        limited_client!(self, aws_sdk_dynamodb)
    }

    pub fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        limited_client!(self, aws_sdk_eventbridge)
    }

    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        client!(self, aws_sdk_cloudwatchlogs)
    }

    pub fn sts(&self) -> aws_sdk_sts::Client {
        client!(self, aws_sdk_sts)
    }
}

/// A service config builder that takes an interceptor (each SDK crate has its own type).
pub trait Interceptable {
    fn with_interceptor(self, recorder: CallRecorder) -> Self;
}

macro_rules! interceptable {
    ($($sdk:ident),*) => {$(
        impl Interceptable for $sdk::config::Builder {
            fn with_interceptor(self, recorder: CallRecorder) -> Self {
                self.interceptor(recorder)
            }
        }
    )*};
}

interceptable!(
    aws_sdk_cloudformation,
    aws_sdk_s3,
    aws_sdk_secretsmanager,
    aws_sdk_lambda,
    aws_sdk_sqs,
    aws_sdk_dynamodb,
    aws_sdk_eventbridge,
    aws_sdk_cloudwatchlogs,
    aws_sdk_sts
);

/// The IAM actions the requests of recording [`Clients`] needed, such as
/// `cloudformation:CreateChangeSet`: what the deploying user's policy is derived from.
#[derive(Clone, Debug, Default)]
pub struct CallRecorder(Arc<Mutex<BTreeSet<String>>>);

impl CallRecorder {
    /// Every distinct action recorded so far.
    pub fn actions(&self) -> BTreeSet<String> {
        self.0.lock().map(|actions| actions.clone()).unwrap_or_default()
    }
}

impl Intercept for CallRecorder {
    fn name(&self) -> &'static str {
        "CallRecorder"
    }

    /// Not `read_before_execution`: a client's interceptors run that before the operation's
    /// configuration (where its name is) is applied.
    fn read_before_serialization(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(operation), Ok(mut actions)) = (cfg.load::<Metadata>(), self.0.lock()) {
            actions.insert(iam_action(operation.service(), operation.name()));
        }
        Ok(())
    }
}

/// The IAM action an SDK operation needs: the operation's own name under the service's
/// prefix, except where IAM names it otherwise (S3's heads and listings).
pub fn iam_action(service: &str, operation: &str) -> String {
    let prefix = match service {
        "CloudWatch Logs" => "logs".to_string(),
        "EventBridge" => "events".to_string(),
        other => other.to_ascii_lowercase().replace(' ', ""),
    };
    let action = match (prefix.as_str(), operation) {
        ("s3", "HeadBucket" | "ListObjectsV2" | "ListObjects") => "ListBucket",
        ("s3", "HeadObject") => "GetObject",
        ("s3", "DeleteObjects") => "DeleteObject",
        ("s3", "PutBucketEncryption") => "PutEncryptionConfiguration",
        ("s3", "PutPublicAccessBlock") => "PutBucketPublicAccessBlock",
        (_, other) => other,
    };
    format!("{prefix}:{action}")
}

#[cfg(test)]
mod tests {
    use super::iam_action;

    #[test]
    fn an_operation_is_the_iam_action_that_authorizes_it() {
        assert_eq!(iam_action("CloudFormation", "CreateChangeSet"), "cloudformation:CreateChangeSet");
        assert_eq!(iam_action("Secrets Manager", "GetSecretValue"), "secretsmanager:GetSecretValue");
        assert_eq!(iam_action("S3", "HeadBucket"), "s3:ListBucket");
        assert_eq!(iam_action("S3", "HeadObject"), "s3:GetObject");
        assert_eq!(iam_action("S3", "PutObject"), "s3:PutObject");
        assert_eq!(iam_action("CloudWatch Logs", "FilterLogEvents"), "logs:FilterLogEvents");
    }
}

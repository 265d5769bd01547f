//! Where commands act: an emulator on an endpoint (default: the one `up` manages on
//! 127.0.0.1), or real AWS with the usual profile and region settings.

use aws_config::{BehaviorVersion, Region, SdkConfig};

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
}

impl Clients {
    pub async fn new(target: Target) -> Self {
        let config = target.sdk_config().await;
        Self { target, config }
    }

    pub fn cloudformation(&self) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.config)
    }

    /// Path-style addressing: emulators serve buckets on one host.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let config =
            aws_sdk_s3::config::Builder::from(&self.config).force_path_style(self.target.endpoint().is_some()).build();
        aws_sdk_s3::Client::from_conf(config)
    }

    pub fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.config)
    }

    pub fn lambda(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&self.config)
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.config)
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.config)
    }

    pub fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        aws_sdk_eventbridge::Client::new(&self.config)
    }

    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::new(&self.config)
    }

    pub fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.config)
    }
}

//! One module per subcommand, each with a `run`.

pub mod api_key;
pub mod bench;
pub mod capacity;
pub mod catalog;
pub mod dashboard;
pub mod demo;
pub mod deploy;
pub mod dlq;
pub mod graph;
pub mod invoke;
pub mod lambda_env;
pub mod new;
pub mod privileges;
pub mod rebuild;
pub mod replay;
pub mod republish;
pub mod schema;
pub mod status;
pub mod test;
pub mod trace;
pub mod up;

use crate::Result;
use crate::context::Context;
use crate::project::Project;
use crate::stacks::stack::DEFAULT_STACK;
use crate::stacks::target::{Clients, DEFAULT_PORT, Target};

/// Options every subcommand takes: where to act and on which stack.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Use the AWS emulator at this URL instead of starting one (nothing is started or stopped).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL", conflicts_with = "aws")]
    pub endpoint: Option<String>,
    /// Port of the emulator `up` starts on 127.0.0.1.
    #[arg(long, global = true, env = "ORDERFLOW_PORT", default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// The endpoint the deployed functions call (default: the emulator's). LocalStack
    /// runs functions in containers: there, http://localhost.localstack.cloud:4566.
    #[arg(long, global = true, env = "ORDERFLOW_FUNCTION_ENDPOINT")]
    pub function_endpoint: Option<String>,
    /// CloudFormation stack name.
    #[arg(long, global = true, env = "ORDERFLOW_STACK", default_value = DEFAULT_STACK)]
    pub stack: String,
    /// Act on real AWS (credentials and region from the environment or --profile/--region).
    #[arg(long, global = true)]
    pub aws: bool,
    /// AWS profile (with --aws).
    #[arg(long, global = true, requires = "aws")]
    pub profile: Option<String>,
    /// AWS region (with --aws).
    #[arg(long, global = true, requires = "aws")]
    pub region: Option<String>,
    /// A template parameter for deploys, `Name=Value` (repeatable), e.g.
    /// `--parameter PaymentWebhookSecret=...` or `--parameter OrderTimeoutSeconds=300`.
    #[arg(long = "parameter", global = true, value_parser = parse_parameter)]
    pub parameters: Vec<(String, String)>,
    /// The key presented to the HTTP API (default: the checkout's, in .orderflow/api-key).
    #[arg(long, global = true, env = "ORDERFLOW_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

fn parse_parameter(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("`{text}` is not Name=Value")),
    }
}

impl Global {
    pub fn target(&self) -> Target {
        if self.aws {
            Target::Aws { profile: self.profile.clone(), region: self.region.clone() }
        } else if let Some(endpoint) = self.endpoint.as_deref().filter(|e| !e.is_empty()) {
            Target::external(endpoint)
        } else {
            Target::managed(self.port)
        }
    }
}

impl Global {
    /// The context the commands act in: the checkout, this stack, clients for the target.
    pub async fn context(&self) -> Result<Context> {
        Ok(Context {
            project: Project::locate()?,
            stack: self.stack.clone(),
            api_key: self.api_key.clone(),
            clients: Clients::new(self.target()).await,
        })
    }
}

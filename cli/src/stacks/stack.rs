//! A deployed stack as the tools see it: its status and outputs, and the HTTP API's URL
//! on the target it runs on.

use crate::stacks::target::{Clients, Target};
use crate::{CliError, Result};
use std::collections::BTreeMap;

pub const DEFAULT_STACK: &str = "orderflow";

#[derive(Debug, Clone)]
pub struct StackInfo {
    pub name: String,
    pub status: String,
    pub outputs: BTreeMap<String, String>,
}

impl StackInfo {
    /// The stack, or `None` when it does not exist.
    pub async fn find(clients: &Clients, name: &str) -> Result<Option<StackInfo>> {
        let result = clients.cloudformation().describe_stacks().stack_name(name).send().await;
        let output = match result {
            Ok(output) => output,
            Err(e) if toolkit::aws::sdk_error_text(&e).contains("does not exist") => {
                return Ok(None);
            }
            Err(e) => return Err(CliError::aws("DescribeStacks", e)),
        };
        let Some(stack) = output.stacks().first() else {
            return Ok(None);
        };
        let outputs = stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect();
        Ok(Some(StackInfo {
            name: name.to_string(),
            status: stack.stack_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            outputs,
        }))
    }

    /// The names of the parameters the stack was deployed with.
    pub async fn parameter_keys(clients: &Clients, name: &str) -> Result<std::collections::BTreeSet<String>> {
        let output = clients
            .cloudformation()
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| CliError::aws("DescribeStacks", e))?;
        let stack = output.stacks().first();
        Ok(stack
            .map(|s| s.parameters().iter().filter_map(|p| p.parameter_key().map(str::to_string)).collect())
            .unwrap_or_default())
    }

    /// The stack, or an error telling how to deploy it.
    pub async fn require(clients: &Clients, name: &str) -> Result<StackInfo> {
        Self::find(clients, name)
            .await?
            .ok_or_else(|| CliError::StackMissing { stack: name.to_string(), target: clients.target.describe() })
    }

    pub fn output(&self, key: &str) -> Result<&str> {
        self.outputs
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| CliError::Failed(format!("stack {} has no output {key}; redeploy it", self.name)))
    }

    /// The value of the secret whose ARN is the output `key` (e.g. `PaymentWebhookSecretArn`).
    pub async fn secret(&self, clients: &Clients, key: &str) -> Result<String> {
        let output = clients
            .secrets()
            .get_secret_value()
            .secret_id(self.output(key)?)
            .send()
            .await
            .map_err(|e| CliError::aws("GetSecretValue", e))?;
        output
            .secret_string()
            .map(str::to_string)
            .ok_or_else(|| CliError::Failed(format!("secret {key} holds no string")))
    }

    /// Base URL of the HTTP API: the emulator's execute-api path, or the AWS URL.
    pub fn api_url(&self, target: &Target) -> Result<String> {
        match target {
            Target::Emulator { endpoint, .. } => {
                Ok(format!("{endpoint}/_aws/execute-api/{}/$default", self.output("ApiId")?))
            }
            Target::Aws { .. } => Ok(self.output("ApiUrl")?.to_string()),
        }
    }

    /// The physical name of a function of this stack, e.g. `orderflow-api-ingress`.
    pub fn function_name(&self, function: &str) -> String {
        format!("{}-{function}", self.name)
    }

    /// Every queue of the stack, by output name (`…QueueUrl`).
    pub fn queues(&self) -> Vec<(&str, &str)> {
        self.outputs
            .iter()
            .filter(|(k, _)| k.ends_with("QueueUrl"))
            .map(|(k, v)| (k.trim_end_matches("Url"), v.as_str()))
            .collect()
    }
}

//! What most commands and the operations library start from: the checkout, the stack's
//! name, the key for its HTTP API, and SDK clients for the target.

use crate::project::Project;
use crate::stacks::stack::StackInfo;
use crate::stacks::target::Clients;
use crate::{CliError, Result};

pub struct Context {
    pub project: Project,
    /// The CloudFormation stack acted on.
    pub stack: String,
    /// The key given on the command line, if any (else the checkout's).
    pub api_key: Option<String>,
    pub clients: Clients,
}

impl Context {
    /// The key this CLI presents to the stack's HTTP API.
    pub fn api_key(&self) -> Result<String> {
        match &self.api_key {
            Some(key) => Ok(key.clone()),
            None => crate::stacks::api_key::load_or_create(&self.project),
        }
    }

    /// Fails early, with a hint, when the target emulator does not answer.
    pub async fn require_reachable(&self) -> Result<()> {
        if let Some(endpoint) = self.clients.target.endpoint() {
            crate::local::emulator::check_health(endpoint)
                .await
                .map_err(|reason| CliError::EmulatorUnreachable { endpoint: endpoint.to_string(), reason })?;
        }
        Ok(())
    }

    /// The deployed stack, or an error saying it is not there.
    pub async fn stack_info(&self) -> Result<StackInfo> {
        StackInfo::require(&self.clients, &self.stack).await
    }
}

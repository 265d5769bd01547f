//! `orderflow api-key`: the `ApiKeys` template parameter for the checkout's key (or
//! `--api-key`), so that deploys by other tools (`sam deploy --guided`) need no
//! hand-computed hash. Only the key's SHA-256 is printed; the key stays in .orderflow/api-key.

use crate::project::Project;
use crate::{CliError, Result};

/// The arguments of `orderflow api-key`.
#[derive(Debug, clap::Args)]
pub struct ApiKeyArgs {
    /// The caller's name in the parameter (it appears in the API's logs).
    #[arg(long, default_value = "cli")]
    pub name: String,
    /// Requests per second for this caller (default: the template's `RateLimitPerSecond`).
    #[arg(long)]
    pub rate_limit: Option<u32>,
}

impl ApiKeyArgs {
    /// Runs the command.
    pub fn run(self, global: super::Global) -> Result<()> {
        if self.name.is_empty() || self.name.contains([':', ',']) {
            return Err(CliError::Usage(format!("--name {:?}: a name without `:` or `,`", self.name)));
        }
        let key = match global.api_key {
            Some(key) => key,
            None => crate::stacks::api_key::load_or_create(&Project::locate()?)?,
        };
        println!("{}", crate::stacks::api_key::parameter_entry(&self.name, &key, self.rate_limit));
        Ok(())
    }
}

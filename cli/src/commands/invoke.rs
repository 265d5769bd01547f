//! `orderflow invoke <function> <payload.json>`: one Lambda Invoke with a sample payload.

use crate::context::Context;
use crate::project::read_json_file;
use crate::{CliError, Result};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::LogType;
use std::path::Path;

pub async fn run(context: &Context, function: &str, payload_path: &Path) -> Result<()> {
    let payload = read_json_file(payload_path)?;
    context.require_reachable().await?;
    let stack = context.stack_info().await?;
    let template =
        std::fs::read_to_string(context.project.template()).map_err(|e| CliError::io(context.project.template(), e))?;
    let functions = crate::stacks::build::template_functions(&template);
    if !functions.iter().any(|f| f == function) {
        return Err(CliError::Usage(format!(
            "no function `{function}` in the template; the functions are: {}",
            functions.join(", ")
        )));
    }
    let output = context
        .clients
        .lambda()
        .invoke()
        .function_name(stack.function_name(function))
        .payload(Blob::new(serde_json::to_vec(&payload).unwrap_or_default()))
        .log_type(LogType::Tail)
        .send()
        .await
        .map_err(|e| CliError::aws("Invoke", e))?;
    let body = output.payload().map(|p| p.as_ref().to_vec()).unwrap_or_default();
    let pretty = serde_json::from_slice::<serde_json::Value>(&body)
        .map(|v| serde_json::to_string_pretty(&v).unwrap_or_default())
        .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
    println!("{pretty}");
    if let Some(error) = output.function_error() {
        return Err(CliError::Failed(format!("{function} returned an error ({error}); the response is above")));
    }
    Ok(())
}

/// The arguments of `orderflow invoke`.
#[derive(Debug, clap::Args)]
pub struct InvokeArgs {
    pub function: String,
    pub payload: std::path::PathBuf,
}

impl InvokeArgs {
    /// Runs the command.
    pub async fn run(self, global: super::Global) -> crate::Result<()> {
        run(&global.context().await?, &self.function, &self.payload).await
    }
}

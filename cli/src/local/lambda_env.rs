//! The cargo-lambda inner loop against a deployed stack: one env file per function
//! (`.orderflow/env/<function>.env`) holding the environment the stack gave that function
//! (its tables, queues, bus, secrets by dynamic reference, the emulator's endpoint), plus
//! the region and the emulator's credentials, so that
//! `cargo lambda watch -p <function> --env-file .orderflow/env/<function>.env` runs the
//! code being edited against the stack, and `cargo lambda invoke` feeds it samples.

use crate::project::Project;
use crate::stacks::stack::StackInfo;
use crate::stacks::target::{Clients, Target};
use crate::{CliError, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where the env files go, under the state directory (git-ignored: they can hold secrets).
pub const ENV_DIR: &str = "env";

/// Writes every function's env file (or only `only`'s); returns the files written.
pub async fn write(
    clients: &Clients,
    stack: &StackInfo,
    project: &Project,
    only: Option<&str>,
) -> Result<Vec<PathBuf>> {
    let template = std::fs::read_to_string(project.template()).map_err(|e| CliError::io(project.template(), e))?;
    let functions = crate::stacks::build::template_functions(&template);
    if let Some(wanted) = only.filter(|w| !functions.iter().any(|f| f == *w)) {
        return Err(CliError::Usage(format!(
            "no function `{wanted}` in the template; the functions are: {}",
            functions.join(", ")
        )));
    }
    let dir = project.state_dir().join(ENV_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| CliError::io(&dir, e))?;
    let mut written = Vec::new();
    for function in functions.iter().filter(|f| only.is_none_or(|o| o == f.as_str())) {
        let variables = environment(clients, &stack.function_name(function)).await?;
        let file = dir.join(format!("{function}.env"));
        crate::stacks::api_key::write_private(&file, &env_file(function, &variables, clients))?;
        written.push(file);
    }
    Ok(written)
}

/// The variables the deployed function runs with.
async fn environment(clients: &Clients, deployed_name: &str) -> Result<BTreeMap<String, String>> {
    let configuration = clients
        .lambda()
        .get_function_configuration()
        .function_name(deployed_name)
        .send()
        .await
        .map_err(|e| CliError::aws("GetFunctionConfiguration", e))?;
    let variables = configuration.environment().and_then(|e| e.variables()).cloned().unwrap_or_default();
    Ok(variables.into_iter().collect())
}

/// The file's text: the function's variables, then what the Lambda service would have
/// given it (its name, the region) and, on an emulator, the credentials it accepts.
fn env_file(function: &str, variables: &BTreeMap<String, String>, clients: &Clients) -> String {
    let mut all = variables.clone();
    all.insert("AWS_LAMBDA_FUNCTION_NAME".into(), function.into());
    let region = clients.config.region().map_or(crate::stacks::target::DEFAULT_REGION.to_string(), ToString::to_string);
    all.entry("AWS_REGION".into()).or_insert(region);
    if let Target::Emulator { .. } = clients.target {
        all.entry("AWS_ACCESS_KEY_ID".into()).or_insert_with(|| "test".into());
        all.entry("AWS_SECRET_ACCESS_KEY".into()).or_insert_with(|| "test".into());
    }
    let mut text =
        format!("# {function}'s environment on the stack, written by `orderflow lambda-env`. Not for git.\n");
    for (name, value) in all {
        text.push_str(&format!("{name}={}\n", quoted(&value)));
    }
    text
}

/// A value as dotenv reads it: bare when plain, else in double quotes with `\` and `"` escaped.
fn quoted(value: &str) -> String {
    let plain = value.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:@,+=".contains(c));
    match plain && !value.is_empty() {
        true => value.to_string(),
        false => format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn a_value_is_quoted_only_when_dotenv_would_misread_it() {
        assert_eq!(quoted("orderflow-EventStoreTable-1A2B"), "orderflow-EventStoreTable-1A2B");
        assert_eq!(quoted("http://127.0.0.1:4566"), "http://127.0.0.1:4566");
        assert_eq!(quoted("a b"), "\"a b\"");
        assert_eq!(quoted("say \"hi\" # not a comment"), "\"say \\\"hi\\\" # not a comment\"");
        assert_eq!(quoted(""), "\"\"");
    }
}

//! `orderflow deploy`: build the functions and deploy the template to the target.

use super::Context;
use crate::build::{self, Profile};
use crate::deploy::{DeployRequest, deploy};
use crate::stack::StackInfo;
use crate::target::Target;
use crate::{CliError, Result};
use std::collections::BTreeMap;

pub async fn run(context: &Context, profile: Profile) -> Result<StackInfo> {
    context.require_reachable().await?;
    if profile == Profile::Debug && context.clients.target.endpoint().is_none() {
        return Err(CliError::Usage(
            "debug builds are host binaries for the emulator; deploy to AWS with the release build (the default)"
                .into(),
        ));
    }
    let zips = build::build(&context.project, profile)?;
    let template_path = context.project.template();
    let template = std::fs::read_to_string(&template_path).map_err(|e| CliError::io(template_path, e))?;
    let request = DeployRequest {
        stack: &context.global.stack,
        template: &template,
        zips: &zips,
        parameters: parameters(context)?,
    };
    let stack = deploy(&context.clients, request).await?;
    print_endpoints(context, &stack)?;
    Ok(stack)
}

/// Template parameters: on an emulator, the endpoint the functions' SDK must call; the
/// hash of the CLI's API key (unless `--parameter ApiKeys=...` names the callers).
fn parameters(context: &Context) -> Result<BTreeMap<String, String>> {
    let mut parameters = BTreeMap::new();
    let key = context.api_key()?;
    parameters.insert("ApiKeys".to_string(), crate::api_key::parameter_entry("cli", &key, None));
    if let Target::Emulator { endpoint, .. } = &context.clients.target {
        let for_functions = context.global.function_endpoint.clone().unwrap_or_else(|| endpoint.clone());
        parameters.insert("EmulatorEndpoint".to_string(), for_functions);
    }
    parameters.extend(context.global.parameters.iter().cloned());
    Ok(parameters)
}

pub fn print_endpoints(context: &Context, stack: &StackInfo) -> Result<()> {
    println!("stack      {} ({}) on {}", stack.name, stack.status, context.clients.target.describe());
    println!("http api   {}", stack.api_url(&context.clients.target)?);
    println!("           POST /orders, GET /orders/{{orderId}}, GET /customers/{{customerId}}/orders,");
    println!("           POST /inventory/{{sku}}/stock, GET /inventory/{{sku}}");
    if let Some(endpoint) = context.clients.target.endpoint() {
        println!("endpoint   {endpoint} (AWS_ENDPOINT_URL for the aws CLI and SDKs)");
    }
    Ok(())
}

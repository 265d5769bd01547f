//! `orderflow deploy`: build the functions and deploy the template to the target.

use super::Global;
use crate::context::Context;
use crate::stacks::build::{self, Arch, Profile};
use crate::stacks::deploy::{BUS_PUBLISHERS_PARAMETER, DeployRequest, deploy};
use crate::stacks::stack::StackInfo;
use crate::stacks::target::Target;
use crate::{CliError, Result};
use std::collections::BTreeMap;

/// Builds what the target needs (`profile`, else the debug build for the emulator `up`
/// runs on this machine and the release build for anything else) and deploys it.
pub async fn run(context: &Context, global: &Global, profile: Option<Profile>) -> Result<StackInfo> {
    let (template, zips, parameters, first_deploy) = prepare(context, global, profile).await?;
    let stack_name = &context.stack;
    let request = DeployRequest { stack: stack_name, template: &template, zips: &zips, parameters, first_deploy };
    let stack = deploy(&context.clients, request).await?;
    print_endpoints(context, &stack)?;
    Ok(stack)
}

/// Prints what a deploy would change (resources added, modified, replaced, removed) and
/// changes nothing.
pub async fn dry_run(context: &Context, global: &Global, profile: Option<Profile>) -> Result<()> {
    let (template, zips, parameters, first_deploy) = prepare(context, global, profile).await?;
    let stack = &context.stack;
    let request = DeployRequest { stack, template: &template, zips: &zips, parameters, first_deploy };
    let changes = crate::stacks::deploy::plan(&context.clients, request).await?;
    if changes.is_empty() {
        println!("stack {stack}: no changes");
    }
    for change in &changes {
        let replaced = match change.replacement.as_deref() {
            Some("True") => "  (replaced)",
            Some("Conditional") => "  (may be replaced)",
            _ => "",
        };
        println!("{:<8} {:<40} {}{replaced}", change.action, change.logical_id, change.resource_type);
    }
    if !changes.is_empty() {
        println!(
            "{} changes to stack {stack}; nothing executed (deploy without --dry-run to apply them)",
            changes.len()
        );
    }
    Ok(())
}

type Prepared = (String, BTreeMap<String, std::path::PathBuf>, BTreeMap<String, String>, BTreeMap<String, String>);

/// The template, the zips built for the target and the parameters of a deploy.
async fn prepare(context: &Context, global: &Global, profile: Option<Profile>) -> Result<Prepared> {
    context.require_reachable().await?;
    let on_emulator = context.clients.target.endpoint().is_some();
    let profile = profile.unwrap_or(default_profile(&context.clients.target));
    eprintln!("{}", build_note(profile, on_emulator));
    if profile == Profile::Debug && !on_emulator {
        return Err(CliError::Usage(
            "debug builds are host binaries for the emulator; deploy to AWS with the release build (the default)"
                .into(),
        ));
    }
    let (mut parameters, first_deploy) = parameters(context, global)?;
    if !on_emulator && !parameters.contains_key(BUS_PUBLISHERS_PARAMETER) {
        // The bus denies everyone but the relay: the deploying operator may still replay.
        let publishers = crate::stacks::deploy::deploying_principal(&context.clients).await?;
        parameters.insert(BUS_PUBLISHERS_PARAMETER.to_string(), publishers.join(","));
    }
    let arch = architecture(context, &parameters)?;
    parameters.insert(Arch::PARAMETER.to_string(), arch.parameter().to_string());
    let zips = build::build_for(&context.project, profile, arch)?;
    let template_path = context.project.template();
    let template = std::fs::read_to_string(&template_path).map_err(|e| CliError::io(template_path, e))?;
    Ok((template, zips, parameters, first_deploy))
}

/// Host debug binaries only run where the functions are processes of this machine: the
/// emulator `up` manages. An emulator started elsewhere may run them in Linux containers
/// (LocalStack, MiniStack's Docker image), which take the cargo-lambda build, as AWS does.
fn default_profile(target: &Target) -> Profile {
    match target {
        Target::Emulator { managed_port: Some(_), .. } => Profile::Debug,
        _ => Profile::Release,
    }
}

fn build_note(profile: Profile, on_emulator: bool) -> &'static str {
    match (profile, on_emulator) {
        (Profile::Debug, _) => {
            "deploying the debug build (host binaries: what the local emulator runs; `--build release` for the optimized one)"
        }
        (Profile::Release, true) => {
            "deploying the release build (cargo-lambda, fat LTO: minutes to build; an emulator running functions as host processes needs only `--build debug`)"
        }
        (Profile::Release, false) => "deploying the release build (cargo-lambda, optimized, for AWS)",
    }
}

/// The emulator runs the functions as host processes: this machine's architecture. AWS
/// gets arm64 (Graviton: cheaper per GB-second) unless `--parameter Architecture=x86_64`.
fn architecture(context: &Context, parameters: &BTreeMap<String, String>) -> Result<Arch> {
    let on_aws = matches!(context.clients.target, Target::Aws { .. });
    choose_architecture(on_aws, parameters.get(Arch::PARAMETER).map(String::as_str), Arch::host())
}

fn choose_architecture(on_aws: bool, chosen: Option<&str>, host: Arch) -> Result<Arch> {
    let chosen = chosen.map(Arch::from_parameter).transpose()?;
    match (on_aws, chosen) {
        (true, chosen) => Ok(chosen.unwrap_or(Arch::Arm64)),
        (false, Some(arch)) if arch != host => Err(CliError::Usage(format!(
            "the emulator runs functions as processes of this machine ({}); Architecture={} is for AWS",
            host.parameter(),
            arch.parameter()
        ))),
        (false, _) => Ok(host),
    }
}

/// Template parameters: on an emulator, the endpoint the functions' SDK must call and the
/// emulator's admission limit, and what `--parameter` gives; the second map holds what a new stack starts with: the hash
/// of the CLI's API key (a redeploy keeps the stack's `ApiKeys` unless one is given).
fn parameters(context: &Context, global: &Global) -> Result<(BTreeMap<String, String>, BTreeMap<String, String>)> {
    let mut parameters = BTreeMap::new();
    let key = context.api_key()?;
    let first_deploy: BTreeMap<String, String> =
        BTreeMap::from([("ApiKeys".to_string(), crate::stacks::api_key::admin_parameter_entry("cli", &key, None))]);
    if let Target::Emulator { endpoint, .. } = &context.clients.target {
        let for_functions = global.function_endpoint.clone().unwrap_or_else(|| endpoint.clone());
        parameters.insert("EmulatorEndpoint".to_string(), for_functions);
        let limit = crate::stacks::deploy::EMULATOR_ADMISSION_BACKLOG_LIMIT.to_string();
        parameters.insert(crate::stacks::deploy::ADMISSION_PARAMETER.to_string(), limit);
    }
    parameters.extend(global.parameters.iter().cloned());
    let mut first_deploy = first_deploy;
    for set in [&mut parameters, &mut first_deploy] {
        stage_above_keys(set)?;
    }
    Ok((parameters, first_deploy))
}

/// Where `ApiKeys` is set and the stage's throttle is not, the throttle becomes twice the
/// sum of the keys' limits (at least the template's default rate per key).
fn stage_above_keys(parameters: &mut BTreeMap<String, String>) -> Result<()> {
    const STAGE: &str = "StageRateLimitPerSecond";
    let Some(keys) = parameters.get("ApiKeys") else { return Ok(()) };
    if parameters.contains_key(STAGE) {
        return Ok(());
    }
    let default_per_key = parameters.get("RateLimitPerSecond").and_then(|r| r.parse().ok()).unwrap_or(50);
    let keys = services::access::ApiKeys::parse(keys, default_per_key)
        .map_err(|e| CliError::Usage(format!("--parameter ApiKeys: {e}")))?;
    parameters.insert(STAGE.to_string(), (2 * keys.total_per_second()).max(100).to_string());
    Ok(())
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

/// The arguments of `orderflow deploy`.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// What to deploy: `debug` (host binaries, built in seconds; what the emulator `up`
    /// runs on this machine needs) or `release` (cargo-lambda, optimized: AWS, and
    /// emulators that run functions in containers). Default: debug on the emulator `up`
    /// manages, release elsewhere.
    #[arg(long, value_enum)]
    pub build: Option<Profile>,
    /// Print what the deploy would change (resources added, modified, replaced, removed)
    /// and change nothing, as `sam deploy --no-execute-changeset` does.
    #[arg(long)]
    pub dry_run: bool,
}

impl DeployArgs {
    /// Runs the command.
    pub async fn run(self, global: super::Global) -> crate::Result<()> {
        let context = global.context().await?;
        match self.dry_run {
            true => dry_run(&context, &global, self.build).await,
            false => run(&context, &global, self.build).await.map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stage_throttle_is_twice_the_keys_limits_unless_given() {
        let hash = services::access::key_hash("k");
        let mut parameters = BTreeMap::from([("ApiKeys".to_string(), format!("a:{hash}:300, b:{hash}"))]);
        stage_above_keys(&mut parameters).unwrap();
        assert_eq!(parameters["StageRateLimitPerSecond"], "700", "(300 + 50 by default) x 2");
        parameters.insert("StageRateLimitPerSecond".into(), "5000".into());
        stage_above_keys(&mut parameters).unwrap();
        assert_eq!(parameters["StageRateLimitPerSecond"], "5000");
        let mut bad = BTreeMap::from([("ApiKeys".to_string(), "a:nothex".to_string())]);
        assert!(stage_above_keys(&mut bad).unwrap_err().to_string().contains("ApiKeys"));
    }

    #[test]
    fn aws_gets_arm64_unless_told_and_the_emulator_gets_the_hosts_architecture() {
        assert_eq!(choose_architecture(true, None, Arch::X86_64).unwrap(), Arch::Arm64);
        assert_eq!(choose_architecture(true, Some("x86_64"), Arch::X86_64).unwrap(), Arch::X86_64);
        assert_eq!(choose_architecture(false, None, Arch::X86_64).unwrap(), Arch::X86_64);
        assert_eq!(choose_architecture(false, Some("x86_64"), Arch::X86_64).unwrap(), Arch::X86_64);
        let error = choose_architecture(false, Some("arm64"), Arch::X86_64).unwrap_err().to_string();
        assert!(error.contains("Architecture=arm64 is for AWS"), "{error}");
        let error = choose_architecture(true, Some("sparc"), Arch::X86_64).unwrap_err().to_string();
        assert!(error.contains("x86_64 or arm64, not `sparc`"), "{error}");
    }
}

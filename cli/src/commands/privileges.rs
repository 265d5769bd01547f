//! `orderflow privileges [--since-minutes N]`: the AWS calls each function recorded (deploy
//! with `--parameter RecordAwsCalls=distinct`, then run traffic) against the policy the
//! template grants it, both ways; fails on a call the policy does not allow or a grant no
//! call used (unless the function's `Metadata: UnexercisedGrants` explains it).
//! `--lint`: every policy we ship through parliament, offline.

use crate::stacks::least_privilege::{self, Findings};
use crate::stacks::stack::StackInfo;
use crate::{CliError, Result};

/// The arguments of `orderflow privileges`.
#[derive(Debug, clap::Args)]
pub struct PrivilegesArgs {
    /// Read the calls recorded in the last N minutes.
    #[arg(long, default_value_t = 60)]
    pub since_minutes: u32,
    /// Lint every policy offline with parliament instead (no stack needed).
    #[arg(long)]
    pub lint: bool,
}

impl PrivilegesArgs {
    /// Runs the command.
    pub async fn run(self, global: super::Global) -> Result<()> {
        if self.lint {
            return lint(&crate::project::Project::locate()?);
        }
        let context = global.context().await?;
        context.require_reachable().await?;
        let stack = context.stack_info().await?;
        let since = chrono::Utc::now() - chrono::Duration::minutes(i64::from(self.since_minutes));
        check(&context.clients, &stack, &context.project, since.timestamp_millis()).await
    }
}

/// Lints every function's policy and the deploying user's with parliament.
pub fn lint(project: &crate::project::Project) -> Result<()> {
    eprintln!("\n== IAM policy lint: parliament over each function's policy and the deploying user's");
    let parliament = crate::local::emulator::ensure_checkov(project)?.with_file_name("parliament");
    let linted = crate::stacks::iam_lint::lint(project, &parliament)?;
    println!("{linted} policies linted, no findings");
    Ok(())
}

/// Checks the calls recorded since `since_ms`; prints what it found.
pub async fn check(
    clients: &crate::stacks::target::Clients,
    stack: &StackInfo,
    project: &crate::project::Project,
    since_ms: i64,
) -> Result<()> {
    let template = std::fs::read_to_string(project.template()).map_err(|e| CliError::io(project.template(), e))?;
    let policies = least_privilege::policies(&template)?;
    let names = least_privilege::physical_names(clients, stack).await?;
    let recorded = least_privilege::recorded_calls(clients, stack, policies.keys(), since_ms).await?;
    let findings = least_privilege::check(&policies, &names, &recorded);
    report(&findings, policies.len())
}

fn report(findings: &Findings, functions: usize) -> Result<()> {
    println!("{} distinct calls of {functions} functions checked against their policies", findings.checked);
    for denied in &findings.denied {
        println!("  not allowed by its policy: {denied}");
    }
    for unused in &findings.unused {
        println!("  granted, never called (use it, drop it, or say why under Metadata: UnexercisedGrants): {unused}");
    }
    for stale in &findings.stale {
        println!("  UnexercisedGrants no longer true: {stale}");
    }
    if findings.checked == 0 {
        return Err(CliError::Failed(
            "no recorded calls: deploy with --parameter RecordAwsCalls=distinct and send traffic first".into(),
        ));
    }
    match findings.denied.is_empty() && findings.unused.is_empty() && findings.stale.is_empty() {
        true => Ok(()),
        false => Err(CliError::Failed(format!(
            "least privilege: {} calls outside their policy, {} grants never used, {} stale marks",
            findings.denied.len(),
            findings.unused.len(),
            findings.stale.len()
        ))),
    }
}

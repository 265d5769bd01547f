//! `orderflow up` and `orderflow down`: the local emulator's life cycle.

use super::Global;
use crate::context::Context;
use crate::local::emulator::{ManagedEmulator, Started, check_health};
use crate::project::Project;
use crate::stacks::build::Profile;
use crate::stacks::stack::StackInfo;
use crate::stacks::target::Target;
use crate::{CliError, Result};

/// Installs what is missing, starts the emulator (unless one is given), builds, deploys.
pub async fn up(global: Global, profile: Option<Profile>) -> Result<(Context, StackInfo)> {
    let project = Project::locate()?;
    match global.target() {
        Target::Emulator { managed_port: Some(port), .. } => start_managed(&project, port).await?,
        Target::Emulator { endpoint, .. } => {
            check_health(&endpoint)
                .await
                .map_err(|reason| CliError::EmulatorUnreachable { endpoint: endpoint.clone(), reason })?;
            eprintln!("using the emulator at {endpoint} (started elsewhere; `down` will not stop it)");
        }
        Target::Aws { .. } => {
            return Err(CliError::Usage(
                "`up` runs the local emulator; to deploy to AWS use `orderflow deploy --aws`".into(),
            ));
        }
    }
    let context = global.context().await?;
    let stack = super::deploy::run(&context, &global, profile).await?;
    Ok((context, stack))
}

async fn start_managed(project: &Project, port: u16) -> Result<()> {
    let emulator = ManagedEmulator::new(project, port);
    match emulator.start().await? {
        Started::Now { pid } => {
            eprintln!("emulator started on {} (pid {pid}, log {})", emulator.endpoint(), emulator.log_file().display());
        }
        Started::AlreadyRunning { pid: Some(pid) } => {
            eprintln!("emulator already running on {} (pid {pid})", emulator.endpoint());
        }
        Started::AlreadyRunning { pid: None } => {
            eprintln!(
                "an emulator already answers on {} (not started by this tool; `down` will not stop it)",
                emulator.endpoint()
            );
        }
    }
    Ok(())
}

/// Stops the emulator `up` started on the port (its state is not kept); with `--aws`,
/// removes the stack `deploy` made there and its artifact bucket.
pub async fn down(global: &Global) -> Result<()> {
    match global.target() {
        Target::Emulator { managed_port: Some(port), endpoint } => {
            match ManagedEmulator::new(&Project::locate()?, port).stop()? {
                true => println!("emulator on {endpoint} stopped"),
                false => println!("no emulator started by orderflow runs on {endpoint}"),
            }
            Ok(())
        }
        Target::Emulator { endpoint, .. } => Err(CliError::Usage(format!(
            "the emulator at {endpoint} was not started by orderflow; stop it where it was started"
        ))),
        Target::Aws { .. } => destroy_aws_stack(global).await,
    }
}

async fn destroy_aws_stack(global: &Global) -> Result<()> {
    let context = global.context().await?;
    let destroyed = crate::stacks::destroy::destroy(&context.clients, &global.stack).await?;
    println!("stack {} deleted", global.stack);
    match destroyed.bucket {
        Some((bucket, objects)) => println!("artifact bucket {bucket} emptied ({objects} objects) and deleted"),
        None => println!("no artifact bucket to delete"),
    }
    Ok(())
}

/// The arguments of `orderflow up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// What to deploy: `debug` (host binaries, built in seconds; what the emulator `up`
    /// runs on this machine needs) or `release` (cargo-lambda, optimized: AWS, and
    /// emulators that run functions in containers). Default: debug on the emulator `up`
    /// manages, release elsewhere.
    #[arg(long, value_enum)]
    pub build: Option<Profile>,
}

impl UpArgs {
    /// Runs the command.
    pub async fn run(self, global: super::Global) -> crate::Result<()> {
        super::up::up(global, self.build).await.map(drop)
    }
}

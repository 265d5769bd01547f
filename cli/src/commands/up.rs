//! `orderflow up` and `orderflow down`: the local emulator's life cycle.

use super::{Context, Global};
use crate::build::Profile;
use crate::emulator::{ManagedEmulator, Started, check_health};
use crate::project::Project;
use crate::stack::StackInfo;
use crate::target::Target;
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
    let context = Context::new(global).await?;
    let stack = super::deploy::run(&context, profile).await?;
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

/// Stops the emulator `up` started on the port. Its state is not kept.
pub fn down(global: &Global) -> Result<()> {
    let project = Project::locate()?;
    match global.target() {
        Target::Emulator { managed_port: Some(port), endpoint } => {
            if ManagedEmulator::new(&project, port).stop()? {
                println!("emulator on {endpoint} stopped");
            } else {
                println!("no emulator started by orderflow runs on {endpoint}");
            }
            Ok(())
        }
        Target::Emulator { endpoint, .. } => Err(CliError::Usage(format!(
            "the emulator at {endpoint} was not started by orderflow; stop it where it was started"
        ))),
        Target::Aws { .. } => Err(CliError::Usage(
            "`down` stops the local emulator; to remove the AWS stack use `aws cloudformation delete-stack`".into(),
        )),
    }
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

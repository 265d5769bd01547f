//! `orderflow bench [--build] [--spawns N] [--orders N | --no-emulator] [--compare bench/<file>.json]`.

use crate::bench;
use crate::project::Project;
use crate::{CliError, Result};
use std::path::Path;

/// Figures more than this much worse than the compared run are regressions.
const TOLERANCE: f64 = 0.10;

pub async fn run(plan: &bench::Plan, compare: Option<&Path>, build: bool) -> Result<()> {
    let project = Project::locate()?;
    if build {
        crate::stacks::build::build(&project, crate::stacks::build::Profile::Release)?;
        crate::stacks::build::build_floor(&project)?;
    }
    let previous = compare.map(bench::read).transpose()?;
    if plan.orders == Some(0) {
        return Err(CliError::Usage("--orders must be at least 1 (or use --no-emulator)".into()));
    }
    let report = bench::run(&project, plan).await?;
    print!("{}", bench::table(&report));
    let path = bench::write(&report, &project.root().join("bench"))?;
    println!("\nwritten to {}", path.strip_prefix(project.root()).unwrap_or(&path).display());
    if let Some(previous) = previous {
        let regressions = bench::regressions(&previous, &report, TOLERANCE);
        for regression in &regressions {
            println!("  regression: {regression}");
        }
        if !regressions.is_empty() {
            return Err(CliError::Failed(format!("{} figures regressed by more than 10 %", regressions.len())));
        }
        println!("no regression against {} (tolerance 10 %)", previous.date);
    }
    Ok(())
}

/// The arguments of `orderflow bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Cold starts per function.
    #[arg(long, default_value_t = 20)]
    pub spawns: usize,
    /// Orders in the saga burst on the private emulator.
    #[arg(long, default_value_t = 1000)]
    pub orders: usize,
    /// Skip the emulator figures (P3, P5, P6).
    #[arg(long)]
    pub no_emulator: bool,
    /// An earlier report (bench/<date>.json): fail on figures more than 10 % worse.
    #[arg(long)]
    pub compare: Option<std::path::PathBuf>,
    /// Build the release deploy zips first, and the cold-start floor (cargo lambda build --release).
    #[arg(long)]
    pub build: bool,
}

impl BenchArgs {
    /// Runs the command.
    pub async fn run(self, _global: super::Global) -> crate::Result<()> {
        let plan = crate::bench::Plan { spawns: self.spawns, orders: (!self.no_emulator).then_some(self.orders) };
        run(&plan, self.compare.as_deref(), self.build).await
    }
}

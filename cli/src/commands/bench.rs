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
        crate::build::build(&project, crate::build::Profile::Release)?;
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

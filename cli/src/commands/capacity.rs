//! `orderflow capacity [--report bench/<file>.json] [--write]`: the capacity model of the
//! stack on AWS (docs/capacity.md) from a bench report and the published quotas and prices.

use crate::generate::capacity;
use crate::project::Project;
use crate::{CliError, Result};

/// The arguments of `orderflow capacity`.
#[derive(Debug, clap::Args)]
pub struct CapacityArgs {
    /// The bench report to read (default: the newest under bench/ with per-function figures).
    #[arg(long)]
    pub report: Option<std::path::PathBuf>,
    /// Write docs/capacity.md instead of printing it.
    #[arg(long)]
    pub write: bool,
}

impl CapacityArgs {
    /// Runs the command.
    pub fn run(self, _global: super::Global) -> Result<()> {
        let project = Project::locate()?;
        let (path, report) = match self.report {
            Some(path) => (path.clone(), crate::bench::read(&path)?),
            None => capacity::newest_report(&project.root().join("bench"))?,
        };
        let source = path.strip_prefix(project.root()).unwrap_or(&path).display().to_string();
        let template = std::fs::read_to_string(project.template()).map_err(|e| CliError::io(project.template(), e))?;
        let text = capacity::render(&report, &source, &template)?;
        if !self.write {
            print!("{text}");
            return Ok(());
        }
        let page = project.root().join("docs").join("capacity.md");
        std::fs::write(&page, text).map_err(|e| CliError::io(&page, e))?;
        println!("wrote docs/capacity.md from {source}");
        Ok(())
    }
}

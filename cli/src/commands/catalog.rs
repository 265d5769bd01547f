//! `orderflow catalog [--write]`: the event catalog (AsyncAPI 3.0) generated from the
//! template and the schema registry; `--write` updates docs/asyncapi.yaml.

use crate::generate::catalog::{self, CATALOG_FILE};
use crate::project::Project;
use crate::{CliError, Result};

/// The arguments of `orderflow catalog`.
#[derive(Debug, clap::Args)]
pub struct CatalogArgs {
    /// Write docs/asyncapi.yaml instead of printing it.
    #[arg(long)]
    pub write: bool,
}

impl CatalogArgs {
    /// Runs the command.
    pub fn run(self, _global: super::Global) -> Result<()> {
        let project = Project::locate()?;
        let template = std::fs::read_to_string(project.template()).map_err(|e| CliError::io(project.template(), e))?;
        let text = catalog::render(&template, &project.events_dir().join("schemas"))?;
        if !self.write {
            print!("{text}");
            return Ok(());
        }
        let file = project.root().join(CATALOG_FILE);
        std::fs::write(&file, text).map_err(|e| CliError::io(&file, e))?;
        println!("wrote {CATALOG_FILE}");
        Ok(())
    }
}

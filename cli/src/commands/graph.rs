//! `orderflow graph [--format mermaid|dot|svg] [--write]`: the routing picture of the template.

use crate::generate::graph;
use crate::project::Project;
use crate::{CliError, Result};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Mermaid,
    Dot,
    Svg,
}

pub fn run(format: Format, write: bool) -> Result<()> {
    let project = Project::locate()?;
    let template = std::fs::read_to_string(project.template()).map_err(|e| CliError::io(project.template(), e))?;
    let routing = graph::from_template(&template)?;
    if write {
        return graph::write_docs(&project, &routing);
    }
    let text = match format {
        Format::Mermaid => graph::mermaid(&routing),
        Format::Dot => graph::dot(&routing),
        Format::Svg => graph::svg(&routing)?,
    };
    print!("{text}");
    Ok(())
}

/// The arguments of `orderflow graph`.
#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    #[arg(long, value_enum, default_value = "mermaid")]
    pub format: Format,
    #[arg(long)]
    pub write: bool,
}

impl GraphArgs {
    /// Runs the command.
    pub fn run(self, _global: super::Global) -> crate::Result<()> {
        run(self.format, self.write)
    }
}

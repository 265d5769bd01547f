//! `orderflow new consumer <name> --on <EventType>,...`: scaffolds a function routed from
//! the order event bus (see `crate::generate::scaffold` for what it writes).

use crate::generate::scaffold::{NewConsumer, scaffold};
use crate::project::Project;
use crate::{CliError, Result};
use toolkit::schema::ContractKind;

/// What `orderflow new` makes.
#[derive(Debug, clap::Subcommand)]
pub enum NewArgs {
    /// A function that takes events of the given types from the bus, through its own queue.
    Consumer {
        /// Its name, lowercase words joined by `-` (the crate, the function, its queues).
        name: String,
        /// The event types its rule routes to it, comma-separated (e.g. OrderPlaced,OrderRejected).
        #[arg(long, value_delimiter = ',', required = true)]
        on: Vec<String>,
    },
}

impl NewArgs {
    /// Runs the command.
    pub fn run(self, _global: super::Global) -> Result<()> {
        let NewArgs::Consumer { name, on } = self;
        let project = Project::locate()?;
        let template = std::fs::read_to_string(project.template()).map_err(|e| CliError::io(project.template(), e))?;
        let events = domain::contracts::contracts()
            .into_iter()
            .filter(|c| c.kind == ContractKind::Event)
            .map(|c| c.name.to_string())
            .collect();
        let consumer = NewConsumer::new(&name, &on, &events, &crate::stacks::build::template_functions(&template))?;
        for path in scaffold(&project, &consumer)? {
            println!("wrote {}", path.strip_prefix(project.root()).unwrap_or(&path).display());
        }
        println!(
            "\n{name} takes {} from the bus. Next: put what it does in functions/{name}/src/main.rs (`handle`), \
             then `cargo run -p orderflow -- deploy` and `orderflow trace` an order; `cargo run -p orderflow -- test` \
             checks it with everything else (docs/development.md).",
            consumer.handles.join(", ")
        );
        Ok(())
    }
}

//! `orderflow schema generate | check | validate`: the schema registry from the command line.

use crate::project::Project;
use crate::project::read_json_file;
use crate::{CliError, Result};
use domain::contracts::contracts;
use std::path::{Path, PathBuf};
use toolkit::schema::Contract;
use toolkit::schema::registry::{self, Registry};

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Action {
    /// Write the schema of every contract's current version (and the template's schema block).
    Generate,
    /// Check every committed version against its compatibility mode, and the committed
    /// schemas and template against the Rust types.
    Check,
    /// Validate a JSON file against a contract (an event envelope: its payload, at its version).
    Validate {
        name: String,
        file: PathBuf,
        /// The schema version (default: the newest committed).
        #[arg(long)]
        version: Option<u32>,
    },
}

pub fn run(action: &Action, dir: Option<&Path>) -> Result<()> {
    let project = Project::locate()?;
    let dir = dir.map(Path::to_path_buf).unwrap_or_else(|| project.events_dir().join("schemas"));
    match action {
        Action::Generate => generate(&project, &dir),
        Action::Check => check(&project, &dir),
        Action::Validate { name, file, version } => validate(&dir, name, file, *version),
    }
}

fn registry_error(e: registry::RegistryError) -> CliError {
    CliError::Failed(e.to_string())
}

fn generate(project: &Project, dir: &Path) -> Result<()> {
    let all = contracts();
    let written = registry::generate(dir, &all).map_err(registry_error)?;
    for path in &written {
        println!("wrote {}", path.display());
    }
    let template_path = project.template();
    let template = std::fs::read_to_string(&template_path).map_err(|e| CliError::io(&template_path, e))?;
    let updated = registry::replace_template_block(&template_path, &template, &registry::template_block(&all))
        .map_err(registry_error)?;
    if updated != template {
        std::fs::write(&template_path, updated).map_err(|e| CliError::io(&template_path, e))?;
        println!("updated the schema block of {}", template_path.display());
    } else if written.is_empty() {
        println!("every schema is up to date");
    }
    Ok(())
}

/// Every problem of the registry in `dir`, as messages a person can act on.
pub fn problems(project: &Project, dir: &Path, contracts: &[Contract]) -> Result<(Registry, Vec<String>)> {
    let registry = Registry::load(dir).map_err(registry_error)?;
    let mut problems: Vec<String> = registry.compatibility().iter().map(ToString::to_string).collect();
    problems.extend(registry.drift(contracts));
    let template_path = project.template();
    let template = std::fs::read_to_string(&template_path).map_err(|e| CliError::io(&template_path, e))?;
    let expected = registry::replace_template_block(&template_path, &template, &registry::template_block(contracts))
        .map_err(registry_error)?;
    if expected != template {
        problems.push(format!(
            "{}: the generated schema block is stale: run `cargo run -p orderflow -- schema generate`",
            template_path.display()
        ));
    }
    Ok((registry, problems))
}

fn check(project: &Project, dir: &Path) -> Result<()> {
    let (registry, problems) = problems(project, dir, &contracts())?;
    for (name, versions) in &registry.types {
        let list: Vec<String> = versions.iter().map(|(v, _)| format!("v{v}")).collect();
        println!("{name:<16} {:<22} {}", registry.mode(name).to_string(), list.join(", "));
    }
    if problems.is_empty() {
        println!("all schemas compatible and up to date");
        return Ok(());
    }
    for problem in &problems {
        eprintln!("  {problem}");
    }
    Err(CliError::Failed(format!("{} schema problem(s), listed above", problems.len())))
}

fn validate(dir: &Path, name: &str, file: &Path, version: Option<u32>) -> Result<()> {
    let instance = read_json_file(file)?;
    let registry = Registry::load(dir).map_err(registry_error)?;
    let versions = registry.types.get(name).ok_or_else(|| {
        let known: Vec<&str> = registry.types.keys().map(String::as_str).collect();
        CliError::Usage(format!("no schema named {name}; the registry has: {}", known.join(", ")))
    })?;
    // An envelope is checked by its payload, at the version it declares.
    let envelope_version = (instance.get("eventType").and_then(|t| t.as_str()) == Some(name))
        .then(|| instance.get("schemaVersion").and_then(serde_json::Value::as_u64))
        .flatten()
        .map(|v| v as u32);
    let (checked, version) = match envelope_version {
        Some(v) => (instance.get("payload").cloned().unwrap_or_default(), version.unwrap_or(v)),
        None => (instance.clone(), version.unwrap_or_else(|| versions.last().map_or(1, |(v, _)| *v))),
    };
    let schema = versions
        .iter()
        .find(|(v, _)| *v == version)
        .map(|(_, s)| s)
        .ok_or_else(|| CliError::Usage(format!("{name} has no version {version}")))?;
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| CliError::Failed(format!("{name} v{version} does not compile: {e}")))?;
    let errors: Vec<String> = validator
        .iter_errors(&checked)
        .map(|e| {
            format!(
                "  at {}: {e}",
                if e.instance_path().to_string().is_empty() { "/".to_string() } else { e.instance_path().to_string() }
            )
        })
        .collect();
    if errors.is_empty() {
        println!("{}: valid {name} v{version}", file.display());
        Ok(())
    } else {
        eprintln!("{}", errors.join("\n"));
        Err(CliError::Failed(format!(
            "{}: not a valid {name} v{version} ({} error(s) above)",
            file.display(),
            errors.len()
        )))
    }
}

/// The arguments of `orderflow schema`.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// The registry folder (default: events/schemas of the checkout).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[command(subcommand)]
    pub action: Action,
}

impl SchemaArgs {
    /// Runs the command.
    pub fn run(self, _global: super::Global) -> crate::Result<()> {
        run(&self.action, self.dir.as_deref())
    }
}

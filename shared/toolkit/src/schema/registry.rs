//! The registry on disk: `events/schemas/<name>/v<N>.json` plus `compatibility.json`
//! (the mode per type), and the generated block of schemas in `infra/template.yaml`.

use super::compat::{self, Mode, Violation};
use super::contract::Contract;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The file, in the registry's directory, that gives each type its mode.
pub const CONFIG_FILE: &str = "compatibility.json";
/// The line that opens the generated block in the template.
pub const TEMPLATE_BEGIN: &str = "  # BEGIN GENERATED SCHEMAS (orderflow schema generate; do not edit by hand)";
/// The line that closes the generated block in the template.
pub const TEMPLATE_END: &str = "  # END GENERATED SCHEMAS";
const GENERATE_HINT: &str = "run `cargo run -p orderflow -- schema generate`";

/// Why the registry or the template cannot be read or used; each error names the file to fix.
#[derive(Debug, Error)]
pub enum RegistryError {
    /// A file or directory cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A schema file is not valid JSON.
    #[error("{}: not valid JSON: {reason}", path.display())]
    BadJson {
        /// The schema file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// A file in a type's directory is not named `v<N>.json` with N ≥ 1.
    #[error("{}: schema files are named v<N>.json (N = 1, 2, ...)", path.display())]
    BadFileName {
        /// The file.
        path: PathBuf,
    },
    /// A type's versions skip a number.
    #[error("{name}: versions must run 1, 2, 3 ... without gaps; v{missing} is missing")]
    Gap {
        /// The type.
        name: String,
        /// The first version missing.
        missing: u32,
    },
    /// The compatibility configuration is not valid JSON of the expected shape, or it gives
    /// a mode to a type that has no schemas.
    #[error("{}: {reason}", path.display())]
    BadConfig {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The template lacks a marker line of the generated block.
    #[error("{}: {reason}", path.display())]
    BadTemplate {
        /// The template.
        path: PathBuf,
        /// Which marker is missing.
        reason: String,
    },
}

/// The content of [`CONFIG_FILE`]: a default mode, and the types that have another.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompatibilityConfig {
    /// The mode of every type not listed in `types`.
    pub default: Mode,
    /// The mode of each type that does not use the default, by type name.
    #[serde(default)]
    pub types: BTreeMap<String, Mode>,
    /// Versions that break compatibility on purpose, by type name and version, each with
    /// its reason (say, a command that now refuses what no hop downstream could carry). A
    /// break starts a new line: versions from it on are checked against each other only.
    #[serde(default)]
    pub breaks: BTreeMap<String, BTreeMap<u32, String>>,
}

/// One incompatibility of one type, in its configured mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The type.
    pub name: String,
    /// The mode the type is checked in.
    pub mode: Mode,
    /// What breaks, and between which versions.
    pub violation: Violation,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}] {}", self.name, self.mode, self.violation)
    }
}

/// The schemas committed on disk, with the mode of each type.
#[derive(Debug, Clone)]
pub struct Registry {
    /// The registry's directory, e.g. `events/schemas`.
    pub dir: PathBuf,
    /// The modes, from [`CONFIG_FILE`].
    pub config: CompatibilityConfig,
    /// Every committed version of every type, oldest first.
    pub types: BTreeMap<String, Vec<(u32, Value)>>,
}

impl Registry {
    /// Reads the registry in `dir`: [`CONFIG_FILE`] and every version of every type (each
    /// subdirectory is a type). Fails on the first file that cannot be read or is malformed,
    /// on a gap in a type's versions, and on a configured type that has no schemas.
    pub fn load(dir: &Path) -> Result<Self, RegistryError> {
        let config_path = dir.join(CONFIG_FILE);
        let config_text = read(&config_path)?;
        let config: CompatibilityConfig = serde_json::from_str(&config_text)
            .map_err(|e| RegistryError::BadConfig { path: config_path.clone(), reason: e.to_string() })?;
        let mut types = BTreeMap::new();
        for entry in std::fs::read_dir(dir).map_err(|source| RegistryError::Io { path: dir.to_path_buf(), source })? {
            let path = entry.map_err(|source| RegistryError::Io { path: dir.to_path_buf(), source })?.path();
            if path.is_dir() {
                let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
                types.insert(name.clone(), load_versions(&name, &path)?);
            }
        }
        let named = config.types.keys().chain(config.breaks.keys());
        if let Some(unknown) = named.into_iter().find(|name| !types.contains_key(*name)) {
            return Err(RegistryError::BadConfig {
                path: config_path,
                reason: format!("type {unknown} has no schemas"),
            });
        }
        Ok(Registry { dir: dir.to_path_buf(), config, types })
    }

    /// The mode `name` is checked in: its own, else the default.
    pub fn mode(&self, name: &str) -> Mode {
        self.config.types.get(name).copied().unwrap_or(self.config.default)
    }

    /// Every incompatibility between committed versions, each type in its mode, each line
    /// between declared breaks on its own.
    pub fn compatibility(&self) -> Vec<Finding> {
        self.types
            .iter()
            .flat_map(|(name, versions)| {
                let mode = self.mode(name);
                let breaks = self.config.breaks.get(name);
                let lines = versions.chunk_by(move |_, (next, _)| !breaks.is_some_and(|b| b.contains_key(next)));
                lines.flat_map(move |line| compat::check(mode, line)).map(move |violation| Finding {
                    name: name.clone(),
                    mode,
                    violation,
                })
            })
            .collect()
    }

    /// Where the committed schemas and the Rust types disagree, one message each.
    pub fn drift(&self, contracts: &[Contract]) -> Vec<String> {
        let mut problems = Vec::new();
        for contract in contracts {
            let file = self.dir.join(contract.name).join(format!("v{}.json", contract.version));
            let versions = self.types.get(contract.name).map(Vec::as_slice).unwrap_or_default();
            match versions.iter().find(|(v, _)| *v == contract.version) {
                None => problems.push(format!("{} is missing for the Rust type {}: {GENERATE_HINT}", file.display(), contract.name)),
                Some((_, committed)) if *committed != contract.schema() => problems.push(format!(
                    "{} no longer matches the Rust type {}: {GENERATE_HINT} (if v{} was already released, bump the version instead)",
                    file.display(),
                    contract.name,
                    contract.version
                )),
                Some(_) => {}
            }
            if let Some((newest, _)) = versions.last().filter(|(v, _)| *v > contract.version) {
                problems.push(format!(
                    "{} v{newest} is committed but the code writes v{}",
                    contract.name, contract.version
                ));
            }
        }
        for name in self.types.keys().filter(|name| !contracts.iter().any(|c| c.name == name.as_str())) {
            problems.push(format!(
                "{}: no Rust type is registered as {name} (domain::contracts)",
                self.dir.join(name).display()
            ));
        }
        problems
    }
}

fn read(path: &Path) -> Result<String, RegistryError> {
    std::fs::read_to_string(path).map_err(|source| RegistryError::Io { path: path.to_path_buf(), source })
}

fn load_versions(name: &str, dir: &Path) -> Result<Vec<(u32, Value)>, RegistryError> {
    let mut versions = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|source| RegistryError::Io { path: dir.to_path_buf(), source })? {
        let path = entry.map_err(|source| RegistryError::Io { path: dir.to_path_buf(), source })?.path();
        let version = path
            .file_name()
            .and_then(|f| f.to_str())
            .and_then(|f| f.strip_prefix('v')?.strip_suffix(".json")?.parse::<u32>().ok())
            .filter(|v| *v > 0)
            .ok_or_else(|| RegistryError::BadFileName { path: path.clone() })?;
        let schema = serde_json::from_str(&read(&path)?)
            .map_err(|e| RegistryError::BadJson { path: path.clone(), reason: e.to_string() })?;
        versions.push((version, schema));
    }
    versions.sort_by_key(|(v, _)| *v);
    for (expected, (version, _)) in (1..).zip(&versions) {
        if *version != expected {
            return Err(RegistryError::Gap { name: name.to_string(), missing: expected });
        }
    }
    Ok(versions)
}

/// Pretty JSON with a final newline: the committed form of a schema.
pub fn render(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}

/// Writes the current version of every contract whose file is missing or differs;
/// returns the files written.
pub fn generate(dir: &Path, contracts: &[Contract]) -> Result<Vec<PathBuf>, RegistryError> {
    let mut written = Vec::new();
    for contract in contracts {
        let path = dir.join(contract.name).join(format!("v{}.json", contract.version));
        let text = render(&contract.schema());
        if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            continue;
        }
        let parent = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent).map_err(|source| RegistryError::Io { path: parent.to_path_buf(), source })?;
        std::fs::write(&path, text).map_err(|source| RegistryError::Io { path: path.clone(), source })?;
        written.push(path);
    }
    Ok(written)
}

/// The template's block of `AWS::EventSchemas::*` resources for `contracts`: created only
/// on AWS (the emulator does not know the resource types).
pub fn template_block(contracts: &[Contract]) -> String {
    let mut block = format!(
        "{TEMPLATE_BEGIN}\n  SchemaRegistry:\n    Type: AWS::EventSchemas::Registry\n    Condition: OnAws\n    Properties:\n      RegistryName: !Sub \"${{AWS::StackName}}-contracts\"\n      Description: Event and command contracts of orderflow, generated from its Rust types.\n"
    );
    for contract in contracts {
        let mut schema = contract.schema();
        // EventBridge's registry takes draft-04 documents; these schemas use no later keyword.
        schema["$schema"] = Value::String("http://json-schema.org/draft-04/schema#".into());
        let content = serde_json::to_string(&schema).unwrap_or_default().replace('\'', "''");
        block.push_str(&format!(
            "  {name}Schema:\n    Type: AWS::EventSchemas::Schema\n    Condition: OnAws\n    Properties:\n      RegistryName: !GetAtt SchemaRegistry.RegistryName\n      SchemaName: orderflow@{name}\n      Type: JSONSchemaDraft4\n      Description: {name} v{version}\n      Content: '{content}'\n",
            name = contract.name,
            version = contract.version,
        ));
    }
    block.push_str(TEMPLATE_END);
    block.push('\n');
    block
}

/// `template` with its generated block replaced by `block`.
pub fn replace_template_block(path: &Path, template: &str, block: &str) -> Result<String, RegistryError> {
    let missing = |marker: &str| RegistryError::BadTemplate {
        path: path.to_path_buf(),
        reason: format!("the line `{}` is missing", marker.trim()),
    };
    let start = template.find(TEMPLATE_BEGIN).ok_or_else(|| missing(TEMPLATE_BEGIN))?;
    let end_marker = template[start..].find(TEMPLATE_END).ok_or_else(|| missing(TEMPLATE_END))? + start;
    let end = template[end_marker..].find('\n').map_or(template.len(), |i| end_marker + i + 1);
    Ok(format!("{}{block}{}", &template[..start], &template[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry_with(config: &str) -> Registry {
        let dir = std::env::temp_dir().join(format!("registry-{}", crate::clock::new_uuid().simple()));
        std::fs::create_dir_all(dir.join("Name")).expect("a directory");
        std::fs::write(dir.join(CONFIG_FILE), config).expect("config");
        let versions = [64, 3, 3];
        for (version, max) in (1..).zip(versions) {
            let schema = serde_json::json!({ "type": "string", "maxLength": max });
            std::fs::write(dir.join("Name").join(format!("v{version}.json")), schema.to_string()).expect("schema");
        }
        let registry = Registry::load(&dir).expect("a registry");
        let _ = std::fs::remove_dir_all(&dir);
        registry
    }

    #[test]
    fn a_declared_break_starts_a_new_line_and_nothing_else_is_excused() {
        let narrowed = registry_with(r#"{ "default": "BACKWARD_TRANSITIVE" }"#).compatibility();
        assert_eq!(narrowed.len(), 2, "v2 and v3 both narrow v1: {narrowed:?}");
        let declared =
            r#"{ "default": "BACKWARD_TRANSITIVE", "breaks": { "Name": { "2": "refuses what no hop carries" } } }"#;
        assert_eq!(registry_with(declared).compatibility(), vec![]);
        let elsewhere = r#"{ "default": "BACKWARD_TRANSITIVE", "breaks": { "Name": { "3": "a later break" } } }"#;
        let findings = registry_with(elsewhere).compatibility();
        assert_eq!(findings.len(), 1, "v2 still narrows v1: {findings:?}");
    }
}

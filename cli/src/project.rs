//! Where things are: the checkout, its template and samples, and `.orderflow/` (git-ignored
//! state: the tools' virtualenv, emulator pid and log files, debug zips).

use crate::{CliError, Result};
use std::path::{Path, PathBuf};

pub const TEMPLATE: &str = "infra/template.yaml";

#[derive(Debug, Clone)]
pub struct Project {
    root: PathBuf,
}

impl Project {
    /// The checkout containing the current directory, else the one this tool was built from.
    pub fn locate() -> Result<Self> {
        let cwd = std::env::current_dir().map_err(|e| CliError::io(".", e))?;
        let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf);
        cwd.ancestors()
            .map(Path::to_path_buf)
            .chain(built_from)
            .find(|dir| dir.join(TEMPLATE).is_file() && dir.join("Cargo.toml").is_file())
            .map(|root| Project { root })
            .ok_or_else(|| CliError::Usage(format!("no orderflow checkout (a folder with {TEMPLATE}) here or above")))
    }

    /// The checkout at `root` (a copy, say), if it holds the template.
    pub fn at(root: &Path) -> Result<Self> {
        match root.join(TEMPLATE).is_file() {
            true => Ok(Project { root: root.to_path_buf() }),
            false => Err(CliError::Usage(format!("{} holds no {TEMPLATE}", root.display()))),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn template(&self) -> PathBuf {
        self.root.join(TEMPLATE)
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root.join(".orderflow")
    }

    pub fn venv(&self) -> PathBuf {
        self.state_dir().join("venv")
    }

    pub fn venv_bin(&self, program: &str) -> PathBuf {
        self.venv().join("bin").join(program)
    }

    pub fn requirements(&self) -> PathBuf {
        self.root.join("cli").join("requirements.txt")
    }

    pub fn target_dir(&self) -> PathBuf {
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| self.root.join("target"))
    }

    pub fn events_dir(&self) -> PathBuf {
        self.root.join("events")
    }
}

/// The template's resources as (logical id, resource) pairs, in the template's order.
pub fn template_resources(template: &str) -> Result<Vec<(String, serde_norway::Value)>> {
    let doc: serde_norway::Value =
        serde_norway::from_str(template).map_err(|e| CliError::Failed(format!("infra/template.yaml: {e}")))?;
    let resources = doc.get("Resources").and_then(serde_norway::Value::as_mapping);
    let resources = resources.ok_or_else(|| CliError::Failed("infra/template.yaml has no Resources".into()))?;
    Ok(resources.iter().filter_map(|(id, resource)| Some((id.as_str()?.to_string(), resource.clone()))).collect())
}

/// Reads a JSON file, naming the file and the position of any syntax error.
pub fn read_json_file(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => CliError::MissingFile(path.to_path_buf()),
        _ => CliError::io(path, e),
    })?;
    serde_json::from_str(&text).map_err(|e| CliError::BadJson { path: path.to_path_buf(), reason: e.to_string() })
}

//! The key the CLI presents to the HTTP API, and the `ApiKeys` parameter it deploys.
//!
//! A key is generated once per checkout into `.orderflow/api-key` (git-ignored); the stack
//! only ever receives its SHA-256. `--api-key` / `ORDERFLOW_API_KEY` override it.

use crate::project::Project;
use crate::{CliError, Result};

pub const FILE: &str = "api-key";

/// The checkout's key, created on first use.
pub fn load_or_create(project: &Project) -> Result<String> {
    let path = project.state_dir().join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(key) if !key.trim().is_empty() => Ok(key.trim().to_string()),
        _ => {
            let key = format!("ofk_{}", uuid::Uuid::new_v4().simple());
            std::fs::create_dir_all(project.state_dir()).map_err(|e| CliError::io(project.state_dir(), e))?;
            std::fs::write(&path, format!("{key}\n")).map_err(|e| CliError::io(&path, e))?;
            Ok(key)
        }
    }
}

/// The `ApiKeys` template parameter for one caller named `name`.
pub fn parameter_entry(name: &str, key: &str, per_second: Option<u32>) -> String {
    let hash = shared::access::key_hash(key);
    match per_second {
        Some(limit) => format!("{name}:{hash}:{limit}"),
        None => format!("{name}:{hash}"),
    }
}

/// An HTTP client that presents `key` on every request.
pub fn http_client(key: &str) -> Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = reqwest::header::HeaderValue::from_str(key)
        .map_err(|_| CliError::Usage("the API key must be visible ASCII characters".into()))?;
    headers.insert(shared::access::API_KEY_HEADER, value);
    reqwest::Client::builder().default_headers(headers).build().map_err(|e| CliError::Failed(e.to_string()))
}

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
            write_private(&path, &format!("{key}\n"))?;
            Ok(key)
        }
    }
}

/// Writes a file only its owner can read or write (0600), as ssh does for its keys.
pub fn write_private(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| CliError::io(path, e))?;
    file.write_all(text.as_bytes()).map_err(|e| CliError::io(path, e))
}

/// The `ApiKeys` template parameter for one caller named `name`.
pub fn parameter_entry(name: &str, key: &str, per_second: Option<u32>) -> String {
    let hash = services::access::key_hash(key);
    match per_second {
        Some(limit) => format!("{name}:{hash}:{limit}"),
        None => format!("{name}:{hash}"),
    }
}

/// The `ApiKeys` entry of an operator's key: it also adds stock and reads analytics.
pub fn admin_parameter_entry(name: &str, key: &str, per_second: Option<u32>) -> String {
    let hash = services::access::key_hash(key);
    let limit = per_second.map(|limit| limit.to_string()).unwrap_or_default();
    format!("{name}:{hash}:{limit}:admin")
}

/// An HTTP client that presents `key` on every request.
pub fn http_client(key: &str) -> Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = reqwest::header::HeaderValue::from_str(key)
        .map_err(|_| CliError::Usage("the API key must be visible ASCII characters".into()))?;
    headers.insert(services::access::API_KEY_HEADER, value);
    reqwest::Client::builder().default_headers(headers).build().map_err(|e| CliError::Failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_private_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("orderflow-private-{}", std::process::id()));
        super::write_private(&path, "secret").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        let _ = std::fs::remove_file(&path);
        assert_eq!(mode, 0o600);
    }
}

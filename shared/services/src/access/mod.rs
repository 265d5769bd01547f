//! Who may call the HTTP API, and how often.
//!
//! Callers present an API key in `x-api-key`. The function holds only the keys' SHA-256
//! hashes (template parameter `ApiKeys`), each with a name and a rate limit per second.
//! The limit is enforced here, per key and across every function instance, with a
//! counter per key and second in DynamoDB: the emulator stores stage throttling but does
//! not enforce it, and on AWS the stage throttling stays as the outer guard.

mod dynamo;
mod memory;

pub use dynamo::DynamoRateLimiter;
pub use memory::InMemoryRateLimiter;

use sha2::{Digest, Sha256};
use std::future::Future;
use thiserror::Error;
use toolkit::error::Outage;

pub const API_KEY_HEADER: &str = "x-api-key";

/// A caller the API knows. A caller sees only the orders it placed (and their
/// notifications); an `admin` key sees every order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub name: String,
    sha256: [u8; 32],
    pub per_second: u32,
    pub admin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiKeys(Vec<ApiKey>);

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ApiKeysError {
    #[error("API key entry {entry:?}: {problem} (expected <name>:<sha256 hex>[:<requests per second>[:admin]])")]
    Invalid { entry: String, problem: String },
}

impl ApiKeys {
    /// Parses `name:sha256hex[:per_second[:admin]],...`; `default_per_second` applies
    /// where no limit is given. Names are unique: they own orders.
    pub fn parse(text: &str, default_per_second: u32) -> Result<Self, ApiKeysError> {
        let keys = text
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| parse_entry(entry, default_per_second))
            .collect::<Result<Vec<ApiKey>, _>>()?;
        for (i, key) in keys.iter().enumerate() {
            if keys[..i].iter().any(|other| other.name == key.name) {
                let problem = "a second key with this name (names own orders: keep them unique)".to_string();
                return Err(ApiKeysError::Invalid { entry: key.name.clone(), problem });
            }
        }
        Ok(Self(keys))
    }

    /// The key whose hash matches `presented`, compared over the whole hash.
    pub fn find(&self, presented: &str) -> Option<&ApiKey> {
        let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.0.iter().find(|key| constant_time_eq(&key.sha256, &hash))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The sum of every key's limit: the stage's throttle must stay above it, or one
    /// busy caller would starve the others at the stage.
    pub fn total_per_second(&self) -> u64 {
        self.0.iter().map(|key| u64::from(key.per_second)).sum()
    }
}

/// The hash to configure for a key (what `orderflow` passes as the `ApiKeys` parameter).
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn parse_entry(entry: &str, default_per_second: u32) -> Result<ApiKey, ApiKeysError> {
    let invalid = |problem: &str| ApiKeysError::Invalid { entry: entry.to_string(), problem: problem.to_string() };
    let mut parts = entry.split(':');
    let name = parts.next().filter(|n| !n.is_empty()).ok_or_else(|| invalid("the name is empty"))?;
    let hash = parts.next().ok_or_else(|| invalid("no hash"))?;
    let sha256: [u8; 32] = hex::decode(hash)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| invalid("the hash is not 64 hex digits"))?;
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') || name.len() > 64 {
        return Err(invalid("the name is not 1 to 64 characters of A-Z, a-z, 0-9, '-' or '_'"));
    }
    let per_second = match parts.next() {
        None | Some("") => default_per_second,
        Some(limit) => {
            limit.parse().ok().filter(|l| *l > 0).ok_or_else(|| invalid("the limit is not a positive number"))?
        }
    };
    let admin = match parts.next() {
        None => false,
        Some("admin") => true,
        Some(_) => return Err(invalid("the fourth field, when present, is `admin`")),
    };
    if parts.next().is_some() {
        return Err(invalid("too many fields"));
    }
    Ok(ApiKey { name: name.to_string(), sha256, per_second, admin })
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[derive(Debug, Error)]
#[error("rate limiter unavailable: {0}")]
pub struct RateLimitError(#[source] pub Outage);

pub trait RateLimiter: Send + Sync {
    /// Counts one request of `caller` in the current second; false when it is over `per_second`.
    fn admit(&self, caller: &str, per_second: u32) -> impl Future<Output = Result<bool, RateLimitError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_found_by_its_hash_and_carries_its_limit() {
        let keys = ApiKeys::parse(&format!("ci:{}:7, demo:{}", key_hash("s3cret"), key_hash("other")), 50).unwrap();
        assert_eq!(keys.find("s3cret").map(|k| (k.name.as_str(), k.per_second)), Some(("ci", 7)));
        assert_eq!(keys.find("other").map(|k| k.per_second), Some(50));
        assert_eq!(keys.find("s3cret ").map(|k| k.name.as_str()), None);
    }

    #[test]
    fn a_bad_entry_is_named() {
        let error = ApiKeys::parse("ci:abc", 5).unwrap_err().to_string();
        assert!(error.contains("\"ci:abc\": the hash is not 64 hex digits"), "{error}");
        let error = ApiKeys::parse(&format!("ci:{}:0", key_hash("k")), 5).unwrap_err().to_string();
        assert!(error.contains("the limit is not a positive number"), "{error}");
        let error = ApiKeys::parse(&format!("ci:{}:5:root", key_hash("k")), 5).unwrap_err().to_string();
        assert!(error.contains("`admin`"), "{error}");
        let twice = format!("ci:{}, ci:{}", key_hash("k"), key_hash("j"));
        assert!(ApiKeys::parse(&twice, 5).unwrap_err().to_string().contains("unique"));
    }

    #[test]
    fn an_admin_key_is_marked_and_the_limits_add_up() {
        let keys = ApiKeys::parse(&format!("ops:{}::admin, app:{}:7", key_hash("a"), key_hash("b")), 50).unwrap();
        assert_eq!(keys.find("a").map(|k| (k.admin, k.per_second)), Some((true, 50)));
        assert_eq!(keys.find("b").map(|k| k.admin), Some(false));
        assert_eq!(keys.total_per_second(), 57);
    }
}

//! Configuration from the environment: every variable the toolkit reads is read here, and
//! a missing or malformed one is an error that names it and says what it is for.

use std::sync::OnceLock;
use thiserror::Error;

/// A variable is missing or malformed: a deployment mistake, which no retry fixes. The
/// message names the variable and what it is for.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A required variable is unset or blank.
    #[error("environment variable {name} is not set: it names {purpose}")]
    Missing {
        /// The variable, e.g. `EVENT_STORE_TABLE`.
        name: &'static str,
        /// What its value names, e.g. "the DynamoDB table of the event store".
        purpose: &'static str,
    },
    /// A variable is set to a value that does not parse as the type asked for.
    #[error("environment variable {name}={value} is not valid: {expected}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value, as set (untrimmed).
        value: String,
        /// What a valid value looks like.
        expected: &'static str,
    },
    /// A variable's content cannot be read (malformed JSON, say). The value is left out of
    /// the message: it may hold secrets, such as API keys.
    #[error("environment variable {name} is not valid: {reason}")]
    Unparsable {
        /// The variable.
        name: &'static str,
        /// Why its content cannot be read.
        reason: String,
    },
}

/// A required variable; `purpose` goes into the error so the fix is obvious.
pub fn required(name: &'static str, purpose: &'static str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(value),
        _ => Err(ConfigError::Missing { name, purpose }),
    }
}

/// An optional variable parsed as `T`, or `default` when unset.
pub fn parsed_or<T: std::str::FromStr>(
    name: &'static str,
    default: T,
    expected: &'static str,
) -> Result<T, ConfigError> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => {
            value.trim().parse().map_err(|_| ConfigError::Invalid { name, value, expected })
        }
        _ => Ok(default),
    }
}

/// A variable's value, trimmed; `None` when unset or blank.
pub fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// The queue's `maxReceiveCount` (`MAX_RECEIVE_COUNT`), when the function was told it:
/// a retryable failure on its last receive is parked with its reason.
pub fn max_receive_count() -> Option<u32> {
    static MAX: OnceLock<Option<u32>> = OnceLock::new();
    *MAX.get_or_init(|| optional("MAX_RECEIVE_COUNT").and_then(|v| v.parse().ok()))
}

/// Whether faults are injected (`FAULT_INJECTION=on`); see [`crate::faults`].
pub fn fault_injection() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| optional("FAULT_INJECTION").is_some_and(|v| v.eq_ignore_ascii_case("on")))
}

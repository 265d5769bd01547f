//! Idempotent side effects, in the spirit of Powertools' idempotency utility.
//!
//! A side effect (a charge, a notification, a webhook, an accepted command) runs under a
//! key. The first caller claims the key (an *in-progress* record that expires with the
//! function's remaining time, so a crashed invocation does not hold it forever), runs the
//! effect and stores its result (*completed*). A repeat with the same key and the same
//! payload gets the stored result back without running the effect again; the same key with
//! a different payload is refused ([`IdempotencyError::PayloadMismatch`]); a repeat while
//! the first is still running is told to retry ([`IdempotencyError::InProgress`]).

#[cfg(feature = "dynamodb")]
mod dynamo;
mod memory;

#[cfg(feature = "dynamodb")]
pub use dynamo::DynamoIdempotencyStore;
pub use memory::InMemoryIdempotencyStore;

use crate::error::Outage;
use crate::invocation::Invocation;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::sync::Arc;
use thiserror::Error;

/// What a store holds under a key.
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyRecord {
    /// Claimed by an invocation that has not completed or released the key yet.
    InProgress {
        /// The [`payload_hash`] of the payload the claim was made for.
        payload_hash: String,
        /// When the claim expires (the claiming invocation's deadline), in milliseconds
        /// since the epoch.
        until_ms: i64,
    },
    /// The effect ran and succeeded.
    Completed {
        /// The [`payload_hash`] of the payload it ran for.
        payload_hash: String,
        /// The effect's result as JSON, given back to every repeat.
        result: serde_json::Value,
    },
}

/// The outcome of trying to claim a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The caller owns the key and must run the effect, then complete or release it.
    Claimed,
    /// Someone else holds or held the key: here is their record.
    Held(IdempotencyRecord),
}

/// Why an effect was not run, or its result not stored or given back.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum IdempotencyError {
    /// Another invocation holds the key and may still be running the effect: retry later.
    #[error("idempotency key {key} is already in progress; retry later")]
    InProgress {
        /// The key.
        key: String,
    },
    /// The key was used before with another payload (a caller's bug, or two requests that
    /// chose the same key): no retry will pass.
    #[error("idempotency key {key} was used before with a different payload")]
    PayloadMismatch {
        /// The key.
        key: String,
    },
    /// The store did not answer: retry later.
    #[error("idempotency store unavailable: {0}")]
    Store(#[source] Outage),
    /// The stored record cannot be read, or its result does not decode as the type asked
    /// for: no retry will pass.
    #[error("the stored result of idempotency key {key} cannot be read: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// What is wrong with the record.
        reason: String,
    },
}

/// Where idempotency records live. The DynamoDB adapter (feature `dynamodb`) and
/// [`InMemoryIdempotencyStore`] implement it; [`run_once`] is how code uses it.
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` unless a completed record or an unexpired in-progress record holds it.
    fn claim(
        &self,
        key: &str,
        payload_hash: &str,
        until_ms: i64,
        now_ms: i64,
    ) -> impl Future<Output = Result<Claim, IdempotencyError>> + Send;

    /// Stores the effect's result; the record expires after the store's retention.
    fn complete(
        &self,
        key: &str,
        payload_hash: &str,
        result: &serde_json::Value,
    ) -> impl Future<Output = Result<(), IdempotencyError>> + Send;

    /// Drops an in-progress claim after the effect failed, so a retry can run it.
    fn release(&self, key: &str) -> impl Future<Output = Result<(), IdempotencyError>> + Send;
}

impl<T: IdempotencyStore> IdempotencyStore for Arc<T> {
    fn claim(
        &self,
        key: &str,
        payload_hash: &str,
        until_ms: i64,
        now_ms: i64,
    ) -> impl Future<Output = Result<Claim, IdempotencyError>> + Send {
        (**self).claim(key, payload_hash, until_ms, now_ms)
    }
    fn complete(
        &self,
        key: &str,
        payload_hash: &str,
        result: &serde_json::Value,
    ) -> impl Future<Output = Result<(), IdempotencyError>> + Send {
        (**self).complete(key, payload_hash, result)
    }
    fn release(&self, key: &str) -> impl Future<Output = Result<(), IdempotencyError>> + Send {
        (**self).release(key)
    }
}

/// An effect's failure, or the reason it was not run.
#[derive(Debug, Error, PartialEq)]
pub enum Idempotent<E> {
    /// The effect was not run (the key is held, was used with another payload, or its record
    /// cannot be read), or the store failed; a store failure may come after the effect ran,
    /// when its result could not be stored.
    #[error(transparent)]
    Refused(IdempotencyError),
    /// The effect ran and failed. The key was released (or, if that failed, its claim expires
    /// with the invocation), so a retry runs the effect again.
    #[error("{0}")]
    Failed(E),
}

/// The SHA-256 of the payload's JSON (object keys sorted), hex-encoded.
pub fn payload_hash(payload: &impl Serialize) -> String {
    let value = serde_json::to_value(payload).unwrap_or(serde_json::Value::Null);
    hex::encode(Sha256::digest(value.to_string().as_bytes()))
}

/// Runs `effect` at most once per `key` (with this `payload`); a repeat returns the first
/// run's result. A failed effect releases the key so that a retry runs it again.
///
/// A claim in progress lasts until the `invocation`'s deadline: if the function dies
/// mid-effect, a retry may run it once the claim has expired.
pub async fn run_once<S, T, E, F, Fut>(
    store: &S,
    invocation: &Invocation,
    key: &str,
    payload: &impl Serialize,
    effect: F,
) -> Result<T, Idempotent<E>>
where
    S: IdempotencyStore,
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let hash = payload_hash(payload);
    let now_ms = crate::clock::now().timestamp_millis();
    let until_ms = invocation.deadline_ms;
    match store.claim(key, &hash, until_ms, now_ms).await.map_err(Idempotent::Refused)? {
        Claim::Held(IdempotencyRecord::Completed { payload_hash, .. }) if payload_hash != hash => {
            Err(Idempotent::Refused(IdempotencyError::PayloadMismatch { key: key.to_string() }))
        }
        Claim::Held(IdempotencyRecord::Completed { result, .. }) => {
            tracing::info!(key, "repeat of a completed effect: returning its stored result");
            serde_json::from_value(result).map_err(|e| {
                Idempotent::Refused(IdempotencyError::Corrupt { key: key.to_string(), reason: e.to_string() })
            })
        }
        Claim::Held(IdempotencyRecord::InProgress { payload_hash, .. }) if payload_hash != hash => {
            Err(Idempotent::Refused(IdempotencyError::PayloadMismatch { key: key.to_string() }))
        }
        Claim::Held(IdempotencyRecord::InProgress { .. }) => {
            Err(Idempotent::Refused(IdempotencyError::InProgress { key: key.to_string() }))
        }
        Claim::Claimed => match effect().await {
            Ok(result) => {
                let stored = serde_json::to_value(&result).unwrap_or(serde_json::Value::Null);
                store.complete(key, &hash, &stored).await.map_err(Idempotent::Refused)?;
                Ok(result)
            }
            Err(error) => {
                if let Err(release) = store.release(key).await {
                    tracing::warn!(key, %release, "could not release the claim; it expires with the invocation");
                }
                Err(Idempotent::Failed(error))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    async fn charge(
        store: &InMemoryIdempotencyStore,
        runs: &AtomicU32,
        amount: u32,
    ) -> Result<u32, Idempotent<String>> {
        run_once(store, &Invocation::local(), "charge#o-1", &amount, || async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(amount * 10)
        })
        .await
    }

    #[tokio::test]
    async fn a_repeat_returns_the_stored_result_without_running_the_effect_again() {
        let (store, runs) = (InMemoryIdempotencyStore::default(), AtomicU32::new(0));
        assert_eq!(charge(&store, &runs, 5).await, Ok(50));
        assert_eq!(charge(&store, &runs, 5).await, Ok(50));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn the_same_key_with_another_payload_is_refused() {
        let (store, runs) = (InMemoryIdempotencyStore::default(), AtomicU32::new(0));
        charge(&store, &runs, 5).await.unwrap();
        let refused = charge(&store, &runs, 6).await.unwrap_err();
        assert_eq!(refused, Idempotent::Refused(IdempotencyError::PayloadMismatch { key: "charge#o-1".into() }));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_claim_in_progress_makes_a_repeat_retry_until_it_expires() {
        let store = InMemoryIdempotencyStore::default();
        let now = crate::clock::now().timestamp_millis();
        store.claim("charge#o-1", &payload_hash(&5), now + 60_000, now).await.unwrap();
        let runs = AtomicU32::new(0);
        let refused = charge(&store, &runs, 5).await.unwrap_err();
        assert_eq!(refused, Idempotent::Refused(IdempotencyError::InProgress { key: "charge#o-1".into() }));

        let expired = InMemoryIdempotencyStore::default();
        expired.claim("charge#o-1", &payload_hash(&5), now - 1, now - 10_000).await.unwrap();
        assert_eq!(charge(&expired, &runs, 5).await, Ok(50), "a crashed invocation's claim expired");
    }

    #[tokio::test]
    async fn a_failed_effect_releases_the_key_so_a_retry_runs_it() {
        let store = InMemoryIdempotencyStore::default();
        let failed: Result<u32, _> =
            run_once(&store, &Invocation::local(), "k", &1, || async { Err("provider down") }).await;
        assert_eq!(failed, Err(Idempotent::Failed("provider down")));
        let retried: Result<u32, Idempotent<&str>> =
            run_once(&store, &Invocation::local(), "k", &1, || async { Ok(7) }).await;
        assert_eq!(retried, Ok(7));
    }

    #[tokio::test]
    async fn the_claim_expires_at_the_invocation_deadline() {
        let store = InMemoryIdempotencyStore::default();
        let deadline_ms = 4_102_444_800_000; // 2100-01-01
        let invocation = Invocation { deadline_ms, ..Invocation::local() };
        let _: Result<u32, Idempotent<&str>> = run_once(&store, &invocation, "k", &1, || async {
            assert_eq!(
                store.record("k"),
                Some(IdempotencyRecord::InProgress { payload_hash: payload_hash(&1), until_ms: deadline_ms })
            );
            Ok(1)
        })
        .await;
    }
}

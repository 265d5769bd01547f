use super::{RateLimitError, RateLimiter};
use std::collections::HashMap;
use std::sync::Mutex;

/// Counts per caller and second in memory; for tests.
#[derive(Default)]
pub struct InMemoryRateLimiter {
    counts: Mutex<HashMap<(String, i64), u32>>,
}

impl RateLimiter for InMemoryRateLimiter {
    async fn admit(&self, caller: &str, per_second: u32) -> Result<bool, RateLimitError> {
        let second = toolkit::clock::now().timestamp();
        let mut counts = self.counts.lock().expect("counts lock");
        let count = counts.entry((caller.to_string(), second)).or_default();
        if *count >= per_second {
            return Ok(false);
        }
        *count += 1;
        Ok(true)
    }
}

//! Time and fresh ids: the two inputs the code takes from the world outside its ports.
//!
//! Production reads the system clock and a random generator. The deterministic simulation
//! (`shared/services/tests/simulation.rs`) gives its thread a simulated clock and a seeded id source,
//! so that one seed replays one run exactly, as FoundationDB's simulator does for its
//! processes. Nothing else sets them; a thread without a simulation pays one thread-local
//! read per call.

use chrono::{DateTime, Utc};
use std::cell::RefCell;
use uuid::Uuid;

thread_local! {
    static SIMULATED: RefCell<Option<Simulated>> = const { RefCell::new(None) };
}

struct Simulated {
    now: DateTime<Utc>,
    ids: SplitMix64,
}

/// The current time: the system clock, or the simulation's.
pub fn now() -> DateTime<Utc> {
    SIMULATED.with_borrow(|simulated| simulated.as_ref().map(|s| s.now)).unwrap_or_else(Utc::now)
}

/// A fresh random (v4) UUID: from the thread's generator, or the simulation's seeded one.
pub fn new_uuid() -> Uuid {
    SIMULATED.with_borrow_mut(|simulated| simulated.as_mut().map(|s| s.ids.uuid())).unwrap_or_else(Uuid::new_v4)
}

/// While the guard lives, this thread's clock starts at `start` and moves only by
/// [`advance`], and its ids come from `seed`.
pub fn simulate(start: DateTime<Utc>, seed: u64) -> SimulationGuard {
    SIMULATED.set(Some(Simulated { now: start, ids: SplitMix64(seed) }));
    SimulationGuard(())
}

/// Moves the simulated clock forward (no effect outside a simulation).
pub fn advance(by: chrono::Duration) {
    SIMULATED.with_borrow_mut(|simulated| {
        if let Some(s) = simulated.as_mut() {
            s.now += by;
        }
    });
}

/// Ends the thread's simulation when dropped.
pub struct SimulationGuard(());

impl Drop for SimulationGuard {
    fn drop(&mut self) {
        SIMULATED.set(None);
    }
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a stated algorithm, so a seed gives the same
/// ids whatever version of a random-number crate is in the lock file.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next number of the sequence: the same seed always gives the same sequence.
    ///
    /// ```
    /// use orderflow_toolkit::clock::SplitMix64;
    /// let (mut a, mut b) = (SplitMix64(7), SplitMix64(7));
    /// assert_eq!([a.next_u64(), a.next_u64()], [b.next_u64(), b.next_u64()]);
    /// ```
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uuid(&mut self) -> Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simulation_owns_time_and_ids_until_its_guard_drops() {
        let start = DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let first = {
            let _guard = simulate(start, 7);
            advance(chrono::Duration::seconds(5));
            assert_eq!(now(), start + chrono::Duration::seconds(5));
            new_uuid()
        };
        let again = {
            let _guard = simulate(start, 7);
            new_uuid()
        };
        assert_eq!(first, again, "the same seed gives the same ids");
        assert_eq!(first.get_version_num(), 4);
        assert!(now() > start - chrono::Duration::days(36_500) && now() != start);
    }
}

//! The deterministic simulation's parts: the simulated world outside the handlers, the
//! adapters it wraps, the scheduler, and the invariants.

pub mod adapters;
pub mod check;
pub mod net;
pub mod world;

//! What the CLI writes from the template and the code: the routing picture, the event
//! catalog, the capacity model, and new consumers.

pub mod capacity;
pub mod catalog;
pub mod graph;
pub mod scaffold;

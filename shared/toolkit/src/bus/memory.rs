use super::{BusError, EventBus, RejectedEntry};
use crate::envelope::{EventEnvelope, EventId};
use std::collections::HashSet;
use std::sync::Mutex;

/// A bus that records what it was given; events listed in `refuse` are refused (for now),
/// those in `refuse_forever` for good, for tests.
#[derive(Default)]
pub struct InMemoryBus {
    published: Mutex<Vec<EventEnvelope>>,
    refuse: Mutex<HashSet<EventId>>,
    refuse_forever: Mutex<HashSet<EventId>>,
}

impl InMemoryBus {
    /// Every event published so far, in order; refused ones are not in it.
    pub fn published(&self) -> Vec<EventEnvelope> {
        self.published.lock().expect("bus lock").clone()
    }

    /// Refuses `event_id` on every publish until [`InMemoryBus::accept`] is called.
    pub fn refuse(&self, event_id: EventId) {
        self.refuse.lock().expect("bus lock").insert(event_id);
    }

    /// Refuses `event_id` as EventBridge refuses an entry it can never take.
    pub fn refuse_forever(&self, event_id: EventId) {
        self.refuse_forever.lock().expect("bus lock").insert(event_id);
    }

    /// Takes `event_id` again, whether it was refused for now or for good.
    pub fn accept(&self, event_id: EventId) {
        self.refuse.lock().expect("bus lock").remove(&event_id);
        self.refuse_forever.lock().expect("bus lock").remove(&event_id);
    }
}

impl EventBus for InMemoryBus {
    /// Refuses what EventBridge refuses: over [`crate::limits::PUT_EVENTS_ENTRIES`] entries,
    /// or entries over [`crate::limits::MESSAGE_BYTES`] together, refuse the whole call.
    async fn publish(&self, events: &[EventEnvelope]) -> Result<Vec<RejectedEntry>, BusError> {
        check_put_events(events)?;
        let refuse = self.refuse.lock().expect("bus lock").clone();
        let forever = self.refuse_forever.lock().expect("bus lock").clone();
        let mut rejected = Vec::new();
        let mut published = self.published.lock().expect("bus lock");
        for (index, event) in events.iter().enumerate() {
            if forever.contains(&event.event_id) {
                let reason = "ValidationException: refused for good by the test bus".into();
                rejected.push(RejectedEntry { index, reason, retryable: false });
            } else if refuse.contains(&event.event_id) {
                rejected.push(RejectedEntry { index, reason: "refused by the test bus".into(), retryable: true });
            } else {
                published.push(event.clone());
            }
        }
        Ok(rejected)
    }
}

/// EventBridge's limits on one `PutEvents` call, as it applies them: the whole call is
/// refused with a `ValidationException`.
pub fn check_put_events(events: &[EventEnvelope]) -> Result<(), BusError> {
    use crate::limits::{MESSAGE_BYTES, PUT_EVENTS_ENTRIES, json_len};
    if events.len() > PUT_EVENTS_ENTRIES {
        let reason = format!("ValidationException: {} entries; at most {PUT_EVENTS_ENTRIES}", events.len());
        return Err(BusError::permanent(reason));
    }
    // An entry's size: its detail, detail type and source (EventBridge's own rule).
    let bytes: usize = events.iter().map(|e| json_len(e) + e.event_type.len() + super::EVENT_SOURCE.len()).sum();
    if bytes > MESSAGE_BYTES {
        let reason = format!("ValidationException: the entries take {bytes} bytes; at most {MESSAGE_BYTES}");
        return Err(BusError::permanent(reason));
    }
    Ok(())
}

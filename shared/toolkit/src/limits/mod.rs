//! AWS's published limits on what one request may carry, and the one budget an event must
//! fit so that every hop it travels through takes it.
//!
//! An event leaves the store as an EventBridge entry (its envelope as `detail`), may reach
//! SNS and then SQS as a JSON string inside another JSON document, and may end as a dead
//! letter: the record (with that body) escaped once more. Each time JSON is embedded as a
//! string its size can at most double (every character a quote or a backslash), and each
//! hop adds its own wrapper. So an envelope of [`EVENT_BUDGET_BYTES`] fits every hop in the
//! worst case: four doublings of the budget plus the wrappers stay under
//! [`MESSAGE_BYTES`], and its DynamoDB item (the payload stored as JSON text) under
//! [`ITEM_BYTES`].

pub mod requests;

/// The largest SQS message, SNS message and EventBridge entry: 256 KiB.
pub const MESSAGE_BYTES: usize = 256 * 1024;
/// The largest DynamoDB item, attribute names included: 400 KiB.
pub const ITEM_BYTES: usize = 400 * 1024;
/// Items in one DynamoDB `TransactWriteItems` call.
pub const TRANSACTION_ITEMS: usize = 100;
/// Entries in one EventBridge `PutEvents` call.
pub const PUT_EVENTS_ENTRIES: usize = 10;
/// What the hops' own wrappers take, at most: EventBridge's fields, SNS's notification
/// (signature and certificate URL included), SQS's record in the Lambda event and the
/// dead letter's reason.
pub const WRAPPERS_BYTES: usize = 6 * 1024;
/// The most bytes an event envelope may take as JSON: `(MESSAGE_BYTES - WRAPPERS_BYTES) / 4`.
pub const EVENT_BUDGET_BYTES: usize = (MESSAGE_BYTES - WRAPPERS_BYTES) / 4;

// The budget escaped twice, twice over, with the wrappers fits a message; stored, an item.
const _: () = assert!(EVENT_BUDGET_BYTES * 4 + WRAPPERS_BYTES <= MESSAGE_BYTES);
const _: () = assert!(EVENT_BUDGET_BYTES * 2 + WRAPPERS_BYTES <= ITEM_BYTES);

/// An event over [`EVENT_BUDGET_BYTES`]: what it is and how large.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{event_type} would take {bytes} bytes; an event may take at most {EVENT_BUDGET_BYTES} (AWS's 256 KiB message limit, after the hops' escaping)"
)]
pub struct OverBudget {
    /// The event's type.
    pub event_type: String,
    /// Its size as JSON.
    pub bytes: usize,
}

/// Size of `value` as compact JSON, without building the text.
pub fn json_len(value: &impl serde::Serialize) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Serializing into a counter cannot fail for the types we store; a failure counts as
    // over any limit.
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_len_is_the_length_of_the_json_text() {
        let value = serde_json::json!({ "a": [1, "two", { "three": null }], "é": "\"" });
        assert_eq!(json_len(&value), serde_json::to_string(&value).expect("json").len());
    }
}

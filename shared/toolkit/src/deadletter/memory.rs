use super::{DeadLetter, DeadLetterError, DeadLetters};
use std::sync::Mutex;

/// Keeps dead letters in memory, within SQS's limits; for tests and tools.
#[derive(Default)]
pub struct InMemoryDeadLetters {
    letters: Mutex<Vec<DeadLetter>>,
}

impl InMemoryDeadLetters {
    /// Every letter parked so far, oldest first.
    pub fn letters(&self) -> Vec<DeadLetter> {
        self.letters.lock().expect("dead letters lock").clone()
    }

    /// Removes and returns every letter (a redrive).
    pub fn take(&self) -> Vec<DeadLetter> {
        std::mem::take(&mut *self.letters.lock().expect("dead letters lock"))
    }
}

impl DeadLetters for InMemoryDeadLetters {
    /// Refuses what SQS refuses: a letter over [`crate::limits::MESSAGE_BYTES`].
    async fn park(&self, letter: DeadLetter) -> Result<(), DeadLetterError> {
        let bytes = crate::limits::json_len(&letter);
        if bytes > crate::limits::MESSAGE_BYTES {
            let refusal = format!("a dead letter of {bytes} bytes is over SQS's 256 KiB message limit");
            return Err(DeadLetterError(crate::error::Outage::from(refusal)));
        }
        self.letters.lock().expect("dead letters lock").push(letter);
        Ok(())
    }
}

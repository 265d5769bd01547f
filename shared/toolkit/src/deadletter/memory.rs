use super::{DeadLetter, DeadLetterError, DeadLetters};
use std::sync::Mutex;

/// Keeps dead letters in memory; for tests and tools.
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
    async fn park(&self, letter: DeadLetter) -> Result<(), DeadLetterError> {
        self.letters.lock().expect("dead letters lock").push(letter);
        Ok(())
    }
}

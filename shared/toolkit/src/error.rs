//! Errors a port's adapters share: a dependency that did not answer.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// Any error, sendable across tasks.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// A dependency (a table, a queue, a bus, a provider) did not answer as asked: worth a
/// retry later, unlike a request that is wrong. The adapter's own error stays reachable
/// through [`Error::source`] (to tell throttling from an outage, say); the message carries
/// its whole chain, so a log line says everything.
///
/// ```
/// use orderflow_toolkit::error::Outage;
/// let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out");
/// let outage = Outage::new(io);
/// assert_eq!(outage.to_string(), "connect timed out");
/// assert!(std::error::Error::source(&outage).is_some());
/// assert_eq!(Outage::from("simulated outage").to_string(), "simulated outage");
/// ```
#[derive(Debug, Clone)]
pub struct Outage {
    text: String,
    source: Option<Arc<dyn Error + Send + Sync + 'static>>,
}

impl Outage {
    /// The outage `error` describes, with its chain of sources in the message.
    pub fn new(error: impl Into<BoxError>) -> Self {
        let error: BoxError = error.into();
        Self { text: error_text(error.as_ref()), source: Some(Arc::from(error)) }
    }
}

impl fmt::Display for Outage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Error for Outage {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|source| source as &(dyn Error + 'static))
    }
}

/// Two outages are the same when they say the same (fakes and tests compare them).
impl PartialEq for Outage {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Outage {}

/// An outage known only by what it says (fakes, simulations, adapters' own checks).
impl From<String> for Outage {
    fn from(text: String) -> Self {
        Self { text, source: None }
    }
}

impl From<&str> for Outage {
    fn from(text: &str) -> Self {
        Self::from(text.to_string())
    }
}

/// The error with its chain of sources, `outer: inner: innermost`; a source whose text the
/// message already holds is not repeated.
pub fn error_text(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

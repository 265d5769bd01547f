//! How long accepted work waits, as its consumers see it: each consumer reports the age of
//! the oldest record of each batch it starts ([`WaitReport`]); admission reads the longest
//! wait reported lately ([`WaitGauge`]). A backlog counts messages, which says how late
//! the work will be only at a known rate; a wait is the lateness itself, whatever the
//! rate, and it covers what no queue shows (a stream whose consumer is stuck).
//!
//! The same table counts the work admitted lately by every instance ([`AdmittedCount`]):
//! work admitted moments ago is on no queue yet, and one instance's own count of it misses
//! what the others let in (Lambda runs one instance per concurrent request: 16 concurrent
//! callers let 442 orders past a limit of 200 when each instance counted alone).

use crate::error::Outage;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Waits shorter than this are not reported: a consumer that keeps up writes nothing.
pub const REPORT_WAITS_FROM: Duration = Duration::from_secs(2);

/// A consumer's wait: the age of the oldest record of one of its batches when it began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// Who waited, e.g. `outbox-relay` or `payment`.
    pub consumer: String,
    /// How long its oldest record had waited.
    pub waited: Duration,
}

/// Where consumers report their waits.
pub trait WaitReport: Send + Sync {
    /// Notes that `consumer` began a batch whose oldest record had waited `waited`.
    fn report(&self, consumer: &str, waited: Duration) -> impl Future<Output = Result<(), Outage>> + Send;
}

/// The longest wait consumers reported lately.
pub trait WaitGauge: Send + Sync {
    /// `None` when no consumer reported a wait lately; an error when it cannot be read.
    fn longest_wait(&self) -> impl Future<Output = Result<Option<Wait>, Outage>> + Send;
}

/// The work admitted lately, by every instance that admits.
pub trait AdmittedCount: Send + Sync {
    /// Notes one unit of work admitted now.
    fn note_admitted(&self) -> impl Future<Output = Result<(), Outage>> + Send;
    /// The units admitted during the last `window` by every instance; `None` when this
    /// count is not kept (each instance then counts its own).
    fn admitted_within(&self, window: Duration) -> impl Future<Output = Result<Option<u64>, Outage>> + Send;
}

impl<C: AdmittedCount> AdmittedCount for &C {
    fn note_admitted(&self) -> impl Future<Output = Result<(), Outage>> + Send {
        (**self).note_admitted()
    }

    fn admitted_within(&self, window: Duration) -> impl Future<Output = Result<Option<u64>, Outage>> + Send {
        (**self).admitted_within(window)
    }
}

impl<C: AdmittedCount> AdmittedCount for Option<C> {
    async fn note_admitted(&self) -> Result<(), Outage> {
        match self {
            Some(count) => count.note_admitted().await,
            None => Ok(()),
        }
    }

    async fn admitted_within(&self, window: Duration) -> Result<Option<u64>, Outage> {
        match self {
            Some(count) => count.admitted_within(window).await,
            None => Ok(None),
        }
    }
}

impl<R: WaitReport> WaitReport for &R {
    fn report(&self, consumer: &str, waited: Duration) -> impl Future<Output = Result<(), Outage>> + Send {
        (**self).report(consumer, waited)
    }
}

impl<R: WaitReport> WaitReport for Option<R> {
    async fn report(&self, consumer: &str, waited: Duration) -> Result<(), Outage> {
        match self {
            Some(report) => report.report(consumer, waited).await,
            None => Ok(()),
        }
    }
}

impl<G: WaitGauge> WaitGauge for Option<G> {
    async fn longest_wait(&self) -> Result<Option<Wait>, Outage> {
        match self {
            Some(gauge) => gauge.longest_wait().await,
            None => Ok(None),
        }
    }
}

impl<G: WaitGauge> WaitGauge for &G {
    fn longest_wait(&self) -> impl Future<Output = Result<Option<Wait>, Outage>> + Send {
        (**self).longest_wait()
    }
}

/// Reports nothing, reads nothing: the default of a consumer not wired to admission.
#[derive(Debug, Default, Clone, Copy)]
pub struct Unreported;

impl WaitReport for Unreported {
    async fn report(&self, _consumer: &str, _waited: Duration) -> Result<(), Outage> {
        Ok(())
    }
}

impl WaitGauge for Unreported {
    async fn longest_wait(&self) -> Result<Option<Wait>, Outage> {
        Ok(None)
    }
}

impl AdmittedCount for Unreported {
    async fn note_admitted(&self) -> Result<(), Outage> {
        Ok(())
    }

    async fn admitted_within(&self, _window: Duration) -> Result<Option<u64>, Outage> {
        Ok(None)
    }
}

/// Reports `waited` (the oldest record's age, if the batch had any) when it is at least
/// [`REPORT_WAITS_FROM`]. A report that fails is logged, never the batch's failure: the
/// work matters more than the figure about it.
pub async fn report_wait(report: &impl WaitReport, consumer: &str, waited: Option<Duration>) {
    let Some(waited) = waited.filter(|w| *w >= REPORT_WAITS_FROM) else { return };
    if let Err(outage) = report.report(consumer, waited).await {
        tracing::warn!(%outage, consumer, waited_s = waited.as_secs_f64(), "the wait could not be reported");
    }
}

/// Waits and admissions kept in memory: the longest wait per consumer until
/// [`InMemoryAdmissionTable::clear`], and every admission's time. The table of tests, and
/// of several instances in one process.
#[derive(Debug, Default)]
pub struct InMemoryAdmissionTable {
    waits: Mutex<Vec<Wait>>,
    admitted: Mutex<VecDeque<Instant>>,
}

impl InMemoryAdmissionTable {
    /// Forgets every wait reported (as the windows of a real store expire).
    pub fn clear(&self) {
        lock(&self.waits).clear();
    }

    /// The waits reported, the longest per consumer, in the order consumers first reported.
    pub fn reported(&self) -> Vec<Wait> {
        lock(&self.waits).clone()
    }
}

/// A lock that a panic elsewhere does not poison: what it guards stays consistent.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl WaitReport for InMemoryAdmissionTable {
    async fn report(&self, consumer: &str, waited: Duration) -> Result<(), Outage> {
        let mut waits = lock(&self.waits);
        match waits.iter_mut().find(|w| w.consumer == consumer) {
            Some(known) => known.waited = known.waited.max(waited),
            None => waits.push(Wait { consumer: consumer.to_string(), waited }),
        }
        Ok(())
    }
}

impl WaitGauge for InMemoryAdmissionTable {
    async fn longest_wait(&self) -> Result<Option<Wait>, Outage> {
        Ok(lock(&self.waits).iter().max_by_key(|w| w.waited).cloned())
    }
}

impl AdmittedCount for InMemoryAdmissionTable {
    async fn note_admitted(&self) -> Result<(), Outage> {
        lock(&self.admitted).push_back(Instant::now());
        Ok(())
    }

    async fn admitted_within(&self, window: Duration) -> Result<Option<u64>, Outage> {
        let admitted = lock(&self.admitted);
        Ok(Some(admitted.iter().filter(|at| at.elapsed() < window).count() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_waits_from_the_floor_are_reported_and_the_longest_is_read() {
        let waits = InMemoryAdmissionTable::default();
        report_wait(&waits, "payment", Some(Duration::from_millis(1_999))).await;
        report_wait(&waits, "payment", None).await;
        assert_eq!(waits.longest_wait().await.unwrap(), None, "a consumer that keeps up reports nothing");
        report_wait(&waits, "payment", Some(Duration::from_secs(3))).await;
        report_wait(&waits, "outbox-relay", Some(Duration::from_secs(7))).await;
        report_wait(&waits, "payment", Some(Duration::from_secs(2))).await;
        let longest = waits.longest_wait().await.unwrap().expect("reported");
        assert_eq!((longest.consumer.as_str(), longest.waited), ("outbox-relay", Duration::from_secs(7)));
        assert_eq!(waits.reported()[0].waited, Duration::from_secs(3), "a shorter report keeps the longest");
        waits.clear();
        assert_eq!(waits.longest_wait().await.unwrap(), None);
    }
}

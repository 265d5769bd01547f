//! Admission control: refuse new work at the door while the work already accepted is
//! behind, so that what is accepted still finishes in time (no congestion collapse).
//!
//! A [`BacklogGauge`] says how much accepted work waits (for example the messages waiting
//! or in flight on a pipeline's queues: [`SqsBacklog`] with feature `sqs`). [`Admission`]
//! reads it at most once per [`Admission::fresh_for`] (a cached figure, not a read per
//! request) and refuses while it is above the limit, telling the caller when to retry.
//! Work admitted moments ago is on no queue yet (it is on its way: a stream, a relay, a
//! bus), so a gauge alone lets a burst through between two readings:
//! [`Admission::counting_admitted_for`] adds what was admitted in that window: by every
//! instance, through a gauge with a shared table ([`BacklogGauge::with_table`]), or else by
//! this instance. A backlog says how late work will be only at a known rate; the waits its
//! consumers report to that table ([`waits`]) are the lateness itself:
//! [`Admission::refusing_waits_over`] refuses while one of them is above a limit.
//!
//! ```
//! use orderflow_toolkit::admission::{Admission, FixedBacklog, Verdict};
//! # tokio_test_block_on(async {
//! let gauge = FixedBacklog::new(120);
//! let admission = Admission::new(&gauge, 100);
//! assert!(matches!(admission.verdict().await, Verdict::Refuse { backlog: 120, .. }));
//! gauge.set(40);
//! // The cached figure stands until it is older than `fresh_for` (one second by default).
//! let admission = admission.fresh_for(std::time::Duration::ZERO);
//! assert_eq!(admission.verdict().await, Verdict::Admit);
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

#[cfg(feature = "dynamodb")]
mod dynamodb;
#[cfg(feature = "sqs")]
mod sqs;
pub mod waits;
#[cfg(feature = "dynamodb")]
pub use dynamodb::DynamoAdmissionTable;
#[cfg(feature = "sqs")]
pub use sqs::SqsBacklog;
use waits::lock;
pub use waits::{AdmittedCount, InMemoryAdmissionTable, Unreported, Wait, WaitGauge, WaitReport, report_wait};

use crate::error::Outage;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How much accepted work is waiting, in units the limit is set in (messages, orders).
pub trait BacklogGauge: Send + Sync {
    /// The work waiting now; an error when the figure cannot be read.
    fn backlog(&self) -> impl Future<Output = Result<u64, Outage>> + Send;

    /// The longest wait consumers reported lately; `None` from a gauge that reads no waits.
    fn longest_wait(&self) -> impl Future<Output = Result<Option<Wait>, Outage>> + Send {
        std::future::ready(Ok(None))
    }

    /// The work every instance admitted during the last `window`; `None` from a gauge
    /// that does not count it (each instance then counts its own).
    fn admitted_within(&self, _window: Duration) -> impl Future<Output = Result<Option<u64>, Outage>> + Send {
        std::future::ready(Ok(None))
    }

    /// Notes one unit of work admitted now, where every instance counts it.
    fn note_admitted(&self) -> impl Future<Output = Result<(), Outage>> + Send {
        std::future::ready(Ok(()))
    }

    /// This gauge's backlog with the waits and the admissions `table` keeps.
    fn with_table<T: WaitGauge + AdmittedCount>(self, table: T) -> WithTable<Self, T>
    where
        Self: Sized,
    {
        WithTable { backlog: self, table }
    }
}

impl<G: BacklogGauge> BacklogGauge for &G {
    fn backlog(&self) -> impl Future<Output = Result<u64, Outage>> + Send {
        (**self).backlog()
    }

    fn longest_wait(&self) -> impl Future<Output = Result<Option<Wait>, Outage>> + Send {
        (**self).longest_wait()
    }

    fn admitted_within(&self, window: Duration) -> impl Future<Output = Result<Option<u64>, Outage>> + Send {
        (**self).admitted_within(window)
    }

    fn note_admitted(&self) -> impl Future<Output = Result<(), Outage>> + Send {
        (**self).note_admitted()
    }
}

/// A backlog gauge with the table every instance and consumer shares: see
/// [`BacklogGauge::with_table`].
#[derive(Debug, Clone)]
pub struct WithTable<G, T> {
    backlog: G,
    table: T,
}

impl<G: BacklogGauge, T: WaitGauge + AdmittedCount> BacklogGauge for WithTable<G, T> {
    fn backlog(&self) -> impl Future<Output = Result<u64, Outage>> + Send {
        self.backlog.backlog()
    }

    fn longest_wait(&self) -> impl Future<Output = Result<Option<Wait>, Outage>> + Send {
        self.table.longest_wait()
    }

    fn admitted_within(&self, window: Duration) -> impl Future<Output = Result<Option<u64>, Outage>> + Send {
        self.table.admitted_within(window)
    }

    fn note_admitted(&self) -> impl Future<Output = Result<(), Outage>> + Send {
        self.table.note_admitted()
    }
}

/// A gauge that reads a value set by hand: for tests, and for a figure kept elsewhere.
#[derive(Debug, Default)]
pub struct FixedBacklog(AtomicU64);

impl FixedBacklog {
    /// A gauge reading `backlog`.
    pub fn new(backlog: u64) -> Self {
        Self(AtomicU64::new(backlog))
    }

    /// Reads `backlog` from now on.
    pub fn set(&self, backlog: u64) {
        self.0.store(backlog, Ordering::Relaxed);
    }
}

impl BacklogGauge for FixedBacklog {
    async fn backlog(&self) -> Result<u64, Outage> {
        Ok(self.0.load(Ordering::Relaxed))
    }
}

/// Whether to take new work now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Take it.
    Admit,
    /// Refuse it: `backlog` is above `limit`; the caller may retry after `retry_after`.
    Refuse {
        /// The backlog read.
        backlog: u64,
        /// The limit it passed.
        limit: u64,
        /// When a retry has a fair chance: longer the further the backlog is above the limit.
        retry_after: Duration,
    },
    /// Refuse it: a consumer's oldest record `waited` longer than `limit`.
    Behind {
        /// The consumer that reported the longest wait.
        consumer: String,
        /// How long its oldest record had waited.
        waited: Duration,
        /// The limit it passed.
        limit: Duration,
        /// Half the excess, within 1 s and [`MAX_RETRY_AFTER`]: about when the consumer
        /// has caught up if it drains twice as fast as the work arrives.
        retry_after: Duration,
    },
}

/// Admits new work while a gauge's backlog is at or below a limit; see the module docs.
#[derive(Debug)]
pub struct Admission<G> {
    gauge: G,
    limit: Option<u64>,
    wait_limit: Option<Duration>,
    fresh_for: Duration,
    last_read: Mutex<Option<Reading>>,
    in_transit_for: Duration,
    admitted: Mutex<VecDeque<Instant>>,
    /// This instance's admissions the shared count could not record: counted here instead.
    unrecorded: Mutex<VecDeque<Instant>>,
}

/// How long a backlog reading is used before the gauge is read again.
pub const DEFAULT_FRESH_FOR: Duration = Duration::from_secs(1);
/// The longest `Retry-After` given, however far behind.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

impl Admission<FixedBacklog> {
    /// Admits everything, never reading a gauge.
    pub fn off() -> Self {
        Self::with_limit(FixedBacklog::new(0), None)
    }
}

impl<G: BacklogGauge> Admission<G> {
    /// Refuses while `gauge` reads more than `limit`.
    pub fn new(gauge: G, limit: u64) -> Self {
        Self::with_limit(gauge, Some(limit))
    }

    fn with_limit(gauge: G, limit: Option<u64>) -> Self {
        Self {
            gauge,
            limit,
            wait_limit: None,
            fresh_for: DEFAULT_FRESH_FOR,
            last_read: Mutex::new(None),
            in_transit_for: Duration::ZERO,
            admitted: Mutex::new(VecDeque::new()),
            unrecorded: Mutex::new(VecDeque::new()),
        }
    }

    /// Counts each unit of work admitted during the last `window` as waiting (one unit
    /// each), on top of the gauge: how long admitted work takes to show on the gauge. Every
    /// instance's admissions where the gauge counts them ([`BacklogGauge::admitted_within`]),
    /// this instance's otherwise. Off (zero) by default.
    #[must_use]
    pub fn counting_admitted_for(self, window: Duration) -> Self {
        Self { in_transit_for: window, ..self }
    }

    /// Refuses too while a consumer reports (through the gauge's
    /// [`BacklogGauge::longest_wait`]) a record that waited longer than `limit`.
    #[must_use]
    pub fn refusing_waits_over(self, limit: Duration) -> Self {
        Self { wait_limit: Some(limit), ..self }
    }

    /// Reads the gauge at most once per `period` (the default is [`DEFAULT_FRESH_FOR`]).
    #[must_use]
    pub fn fresh_for(self, period: Duration) -> Self {
        Self { fresh_for: period, ..self }
    }

    /// The limit, if any.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Admit or refuse. A gauge that cannot be read admits (and logs a warning): admission
    /// protects the pipeline from overload; it must not turn a metrics outage into one.
    pub async fn verdict(&self) -> Verdict {
        let Some(limit) = self.limit else { return Verdict::Admit };
        let reading = match self.cached() {
            Some(reading) => reading,
            None => {
                let reading = self.read().await;
                self.remember(reading.clone());
                reading
            }
        };
        let backlog = reading.backlog.saturating_add(self.in_transit(&reading));
        if backlog > limit {
            return Verdict::Refuse { backlog, limit, retry_after: retry_after(backlog, limit) };
        }
        if let (Some(wait), Some(limit)) = (reading.wait, self.wait_limit)
            && wait.waited > limit
        {
            let retry_after = (wait.waited.saturating_sub(limit) / 2).clamp(Duration::from_secs(1), MAX_RETRY_AFTER);
            return Verdict::Behind { consumer: wait.consumer, waited: wait.waited, limit, retry_after };
        }
        if !self.in_transit_for.is_zero() {
            lock(&self.admitted).push_back(Instant::now());
            if let Err(outage) = self.gauge.note_admitted().await {
                tracing::warn!(%outage, "the admission could not be counted for the other instances; counting it here");
                lock(&self.unrecorded).push_back(Instant::now());
            }
        }
        Verdict::Admit
    }

    /// The work admitted within the in-transit window: every instance's as of the reading
    /// plus this one's since, or this one's alone where the gauge does not count them all.
    /// Those whose shared count failed are added as this instance's own, so a throttled
    /// count lets no more in than an instance counting alone would.
    fn in_transit(&self, reading: &Reading) -> u64 {
        let window = self.in_transit_for;
        let (mut admitted, mut unrecorded) = (lock(&self.admitted), lock(&self.unrecorded));
        for queue in [&mut *admitted, &mut *unrecorded] {
            while queue.front().is_some_and(|at| at.elapsed() >= window) {
                queue.pop_front();
            }
        }
        match reading.admitted {
            Some(everyone) => everyone
                .saturating_add(admitted.iter().filter(|at| **at > reading.at).count() as u64)
                .saturating_add(unrecorded.iter().filter(|at| **at <= reading.at).count() as u64),
            None => admitted.len() as u64,
        }
    }

    /// The gauge's figures; one it cannot read counts as nothing waiting (and is logged).
    async fn read(&self) -> Reading {
        let at = Instant::now();
        let backlog = self.gauge.backlog().await.unwrap_or_else(|outage| {
            tracing::warn!(%outage, "the backlog could not be read; admitting");
            0
        });
        let wait = match self.wait_limit {
            None => None,
            Some(_) => self.gauge.longest_wait().await.unwrap_or_else(|outage| {
                tracing::warn!(%outage, "the consumers' waits could not be read; admitting");
                None
            }),
        };
        let admitted = match self.in_transit_for.is_zero() {
            true => None,
            false => self.gauge.admitted_within(self.in_transit_for).await.unwrap_or_else(|outage| {
                tracing::warn!(%outage, "the other instances' admissions could not be read; counting this one's");
                None
            }),
        };
        Reading { at, backlog, wait, admitted }
    }

    fn cached(&self) -> Option<Reading> {
        let last = lock(&self.last_read);
        last.as_ref().filter(|reading| reading.at.elapsed() < self.fresh_for).cloned()
    }

    fn remember(&self, reading: Reading) {
        *lock(&self.last_read) = Some(reading);
    }
}

/// What the gauge read, and when.
#[derive(Debug, Clone)]
struct Reading {
    at: Instant,
    backlog: u64,
    wait: Option<Wait>,
    /// What every instance admitted in the in-transit window, where the gauge counts it.
    admitted: Option<u64>,
}

/// One second, plus one per half of the limit the backlog is above it, at most
/// [`MAX_RETRY_AFTER`]: callers refused deep into an overload come back later, spreading
/// the retries instead of returning together.
fn retry_after(backlog: u64, limit: u64) -> Duration {
    let excess_halves = backlog.saturating_sub(limit).saturating_mul(2) / limit.max(1);
    Duration::from_secs(1u64.saturating_add(excess_halves)).min(MAX_RETRY_AFTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Broken;
    impl BacklogGauge for Broken {
        async fn backlog(&self) -> Result<u64, Outage> {
            Err(Outage::from("queue attributes unavailable"))
        }
    }

    #[tokio::test]
    async fn refuses_above_the_limit_only() {
        let gauge = FixedBacklog::new(100);
        let admission = Admission::new(&gauge, 100).fresh_for(Duration::ZERO);
        assert_eq!(admission.verdict().await, Verdict::Admit, "at the limit");
        gauge.set(101);
        let Verdict::Refuse { backlog, limit, retry_after } = admission.verdict().await else { panic!("admitted") };
        assert_eq!((backlog, limit, retry_after), (101, 100, Duration::from_secs(1)));
    }

    #[tokio::test]
    async fn reads_the_gauge_at_most_once_per_period() {
        let gauge = FixedBacklog::new(500);
        let admission = Admission::new(&gauge, 100).fresh_for(Duration::from_secs(60));
        assert!(matches!(admission.verdict().await, Verdict::Refuse { .. }));
        gauge.set(0);
        assert!(matches!(admission.verdict().await, Verdict::Refuse { .. }), "the cached figure stands");
    }

    #[tokio::test]
    async fn work_admitted_within_the_window_counts_until_the_gauge_can_see_it() {
        let gauge = FixedBacklog::new(8);
        let admission =
            Admission::new(&gauge, 10).fresh_for(Duration::ZERO).counting_admitted_for(Duration::from_millis(200));
        for _ in 0..3 {
            assert_eq!(admission.verdict().await, Verdict::Admit);
        }
        let Verdict::Refuse { backlog, .. } = admission.verdict().await else { panic!("a burst got through") };
        assert_eq!(backlog, 11, "8 on the gauge and 3 admitted in the window");
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(admission.verdict().await, Verdict::Admit, "out of the window: the gauge alone counts");
        let uncounted = Admission::new(&gauge, 10).fresh_for(Duration::ZERO);
        for _ in 0..5 {
            assert_eq!(uncounted.verdict().await, Verdict::Admit, "without the window a gauge alone decides");
        }
    }

    #[tokio::test]
    async fn an_unreadable_gauge_admits() {
        assert_eq!(Admission::new(Broken, 1).verdict().await, Verdict::Admit);
        assert_eq!(Admission::off().verdict().await, Verdict::Admit);
    }

    #[tokio::test]
    async fn a_consumer_waiting_past_the_limit_refuses_though_the_queues_are_empty() {
        let waits = InMemoryAdmissionTable::default();
        let gauge = FixedBacklog::new(0).with_table(&waits);
        let admission =
            Admission::new(&gauge, 100).refusing_waits_over(Duration::from_secs(10)).fresh_for(Duration::ZERO);
        waits.report("outbox-relay", Duration::from_secs(10)).await.unwrap();
        assert_eq!(admission.verdict().await, Verdict::Admit, "at the limit");
        waits.report("outbox-relay", Duration::from_secs(40)).await.unwrap();
        let Verdict::Behind { consumer, waited, limit, retry_after } = admission.verdict().await else {
            panic!("admitted while the relay is 40 s behind")
        };
        assert_eq!(consumer, "outbox-relay");
        assert_eq!(
            (waited, limit, retry_after),
            (Duration::from_secs(40), Duration::from_secs(10), Duration::from_secs(15))
        );
        let without_limit = Admission::new(&gauge, 100).fresh_for(Duration::ZERO);
        assert_eq!(without_limit.verdict().await, Verdict::Admit, "waits are read only with a limit");
        waits.clear();
        assert_eq!(admission.verdict().await, Verdict::Admit, "caught up");
    }

    #[tokio::test]
    async fn instances_sharing_a_table_count_what_every_one_of_them_admitted() {
        let table = InMemoryAdmissionTable::default();
        let gauge = FixedBacklog::new(9).with_table(&table);
        let instance =
            || Admission::new(&gauge, 10).fresh_for(Duration::ZERO).counting_admitted_for(Duration::from_secs(60));
        let (first, second) = (instance(), instance());
        assert_eq!(first.verdict().await, Verdict::Admit);
        assert_eq!(second.verdict().await, Verdict::Admit);
        let Verdict::Refuse { backlog, .. } = first.verdict().await else {
            panic!("the first instance let a third in past a limit the two already reached")
        };
        assert_eq!(backlog, 11, "9 on the gauge and 2 admitted, one by each instance");
        let alone = || {
            Admission::new(FixedBacklog::new(9), 10)
                .fresh_for(Duration::ZERO)
                .counting_admitted_for(Duration::from_secs(60))
        };
        let (first, second) = (alone(), alone());
        for instance in [&first, &second, &first, &second] {
            assert_eq!(instance.verdict().await, Verdict::Admit, "without the table each counts only its own");
        }
    }

    #[tokio::test]
    async fn between_two_readings_an_instance_adds_what_it_admitted_since_the_first() {
        let table = InMemoryAdmissionTable::default();
        let gauge = FixedBacklog::new(8).with_table(&table);
        let admission = Admission::new(&gauge, 10)
            .fresh_for(Duration::from_secs(60))
            .counting_admitted_for(Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(admission.verdict().await, Verdict::Admit);
        }
        let Verdict::Refuse { backlog, .. } = admission.verdict().await else {
            panic!("a cached reading let a fourth in")
        };
        assert_eq!(backlog, 11, "8 on the gauge, none counted at the reading, 3 admitted since");
    }

    #[tokio::test]
    async fn an_admission_the_shared_count_could_not_record_is_counted_by_its_instance() {
        struct WritesFail(InMemoryAdmissionTable);
        impl WaitGauge for WritesFail {
            async fn longest_wait(&self) -> Result<Option<Wait>, Outage> {
                Ok(None)
            }
        }
        impl AdmittedCount for WritesFail {
            async fn note_admitted(&self) -> Result<(), Outage> {
                Err(Outage::from("throttled"))
            }
            async fn admitted_within(&self, window: Duration) -> Result<Option<u64>, Outage> {
                self.0.admitted_within(window).await
            }
        }
        let gauge = FixedBacklog::new(8).with_table(WritesFail(InMemoryAdmissionTable::default()));
        let admission =
            Admission::new(&gauge, 10).fresh_for(Duration::ZERO).counting_admitted_for(Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(admission.verdict().await, Verdict::Admit);
        }
        let Verdict::Refuse { backlog, .. } = admission.verdict().await else {
            panic!("admissions the count never recorded were forgotten")
        };
        assert_eq!(backlog, 11, "8 on the gauge, 0 recorded, 3 counted here");
    }

    #[tokio::test]
    async fn an_unreadable_table_admits_on_this_instances_own_count() {
        struct BrokenTable;
        impl WaitGauge for BrokenTable {
            async fn longest_wait(&self) -> Result<Option<Wait>, Outage> {
                Err(Outage::from("table unavailable"))
            }
        }
        impl AdmittedCount for BrokenTable {
            async fn note_admitted(&self) -> Result<(), Outage> {
                Err(Outage::from("table unavailable"))
            }
            async fn admitted_within(&self, _window: Duration) -> Result<Option<u64>, Outage> {
                Err(Outage::from("table unavailable"))
            }
        }
        let gauge = FixedBacklog::new(0).with_table(BrokenTable);
        let admission = Admission::new(gauge, 1)
            .refusing_waits_over(Duration::from_secs(1))
            .counting_admitted_for(Duration::from_secs(60))
            .fresh_for(Duration::ZERO);
        assert_eq!(admission.verdict().await, Verdict::Admit);
        assert_eq!(admission.verdict().await, Verdict::Admit, "this instance's own count: 1, at the limit");
        assert!(matches!(admission.verdict().await, Verdict::Refuse { backlog: 2, .. }), "then its own count refuses");
    }

    #[tokio::test]
    async fn a_wait_far_past_the_limit_asks_for_at_most_the_longest_retry() {
        let waits = InMemoryAdmissionTable::default();
        let admission = Admission::new(FixedBacklog::new(0).with_table(&waits), 100)
            .refusing_waits_over(Duration::from_secs(10))
            .fresh_for(Duration::ZERO);
        for (seconds, retry) in [(11, 1), (14, 2), (600, 30)] {
            waits.report("payment", Duration::from_secs(seconds)).await.unwrap();
            let Verdict::Behind { retry_after, .. } = admission.verdict().await else { panic!("admitted") };
            assert_eq!(retry_after, Duration::from_secs(retry), "{seconds} s waited");
        }
    }

    #[test]
    fn retry_after_grows_with_the_excess_and_is_bounded() {
        assert_eq!(retry_after(101, 100), Duration::from_secs(1));
        assert_eq!(retry_after(150, 100), Duration::from_secs(2));
        assert_eq!(retry_after(300, 100), Duration::from_secs(5));
        assert_eq!(retry_after(u64::MAX, 100), MAX_RETRY_AFTER);
        assert_eq!(retry_after(5, 0), Duration::from_secs(11), "a limit of 0 refuses all work");
    }
}

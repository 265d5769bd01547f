//! Load, decide, append with the expected version; on a conflict, start over.
//!
//! Every writer of an event stream does the same four things, and the fourth is where
//! hand-written copies go wrong (retrying forever, retrying a decision made on stale
//! state, or treating an outage as a conflict). [`decide_and_append`] is the one copy.

use super::{EventStore, StoreError};
use crate::envelope::{EventEnvelope, NewEvent, StreamId};
use std::future::Future;
use thiserror::Error;

/// What a decision appends (nothing, when `events` is empty) and what it answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<T> {
    /// The events to append, in order; empty to append nothing.
    pub events: Vec<NewEvent>,
    /// What the caller gets back once the events are appended.
    pub answer: T,
}

impl<T> Decision<T> {
    /// Appends `events`, then answers `answer`.
    pub fn append(events: Vec<NewEvent>, answer: T) -> Self {
        Self { events, answer }
    }

    /// Appends nothing and answers `answer`.
    pub fn nothing(answer: T) -> Self {
        Self { events: Vec::new(), answer }
    }
}

/// Why [`decide_and_append`] gave up.
#[derive(Debug, Error)]
pub enum DecideError<E> {
    /// The caller's own load or decision failed.
    #[error(transparent)]
    Decide(E),
    /// The store failed for another reason than a conflict (an outage, a corrupt item).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Every attempt found the stream changed between its load and its append.
    #[error("stream {stream_id} kept changing under {attempts} attempts")]
    KeptChanging {
        /// The stream.
        stream_id: StreamId,
        /// How many rounds of load, decide and append were tried.
        attempts: u32,
    },
}

/// Loads the stream's state with `load` (which returns it with the stream's version),
/// asks `decide`, and appends the decision's events expecting that version. When another
/// writer appended first, it loads and decides again, at most `attempts` times in all: a
/// decision is only ever appended to the state it was made on.
///
/// `decide` may perform side effects before it answers; they run again on a retry, so
/// they must be idempotent (an idempotency key, or a check of the state).
///
/// ```
/// use orderflow_toolkit::envelope::{Causality, CausationId, CorrelationId, EventId, NewEvent, StreamId};
/// use orderflow_toolkit::store::{Decision, EventStore, InMemoryEventStore, decide_and_append, load_stream};
///
/// # tokio_test_block_on(async {
/// let store = InMemoryEventStore::default();
/// let stream = StreamId::new("counter-1");
/// let causality = Causality::of_request(CorrelationId::new("c"), CausationId::new("r"), None);
/// let increment = || NewEvent {
///     event_id: EventId::generate(),
///     event_type: "Incremented".into(),
///     schema_version: 1,
///     occurred_at: orderflow_toolkit::clock::now(),
///     causality: causality.clone(),
///     payload: serde_json::json!({}),
/// };
/// // Count up to 2, never past it, however many writers race.
/// for _ in 0..3 {
///     let count = decide_and_append(
///         &store,
///         &stream,
///         3,
///         || load_stream(&store, &stream),
///         |history| async move {
///             let count = history.len();
///             Ok::<_, std::convert::Infallible>(match count < 2 {
///                 true => Decision::append(vec![increment()], count + 1),
///                 false => Decision::nothing(count),
///             })
///         },
///     )
///     .await
///     .unwrap();
///     assert!(count <= 2);
/// }
/// assert_eq!(store.load(&stream, 0).await.unwrap().len(), 2);
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub async fn decide_and_append<S, State, T, E, L, LF, D, DF>(
    store: &S,
    stream_id: &StreamId,
    attempts: u32,
    load: L,
    decide: D,
) -> Result<T, DecideError<E>>
where
    S: EventStore,
    L: Fn() -> LF,
    LF: Future<Output = Result<(State, u64), DecideError<E>>>,
    D: Fn(State) -> DF,
    DF: Future<Output = Result<Decision<T>, E>>,
{
    for _ in 0..attempts {
        let (state, version) = load().await?;
        let Decision { events, answer } = decide(state).await.map_err(DecideError::Decide)?;
        if events.is_empty() {
            return Ok(answer);
        }
        match store.append(stream_id, version, events).await {
            Ok(_) => return Ok(answer),
            Err(StoreError::Conflict { .. }) => continue,
            Err(other) => return Err(DecideError::Store(other)),
        }
    }
    Err(DecideError::KeptChanging { stream_id: stream_id.clone(), attempts })
}

/// The whole stream with its version (0 when empty): the usual `load` of
/// [`decide_and_append`].
pub async fn load_stream<S: EventStore, E>(
    store: &S,
    stream_id: &StreamId,
) -> Result<(Vec<EventEnvelope>, u64), DecideError<E>> {
    let history = store.load(stream_id, 0).await?;
    let version = history.last().map_or(0, |e| e.version);
    Ok((history, version))
}

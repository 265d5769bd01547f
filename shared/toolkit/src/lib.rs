//! Building blocks for event-driven AWS Lambda functions in Rust, with no knowledge of any
//! business domain.
//!
//! - [`envelope`]: the envelope every event travels in (ids, stream version, correlation).
//! - [`store`]: the event store port (append with an expected version) and one
//!   decide-and-append routine; [`bus`] publishes envelopes; [`deadletter`] parks what can
//!   never be processed. Each has an in-memory fake and an AWS adapter behind a feature.
//! - [`batch`] (feature `lambda`): SQS and DynamoDB Streams batches with partial failures
//!   and poison parking.
//! - [`idempotency`] (feature `lambda`): an effect runs once per key; repeats get its result.
//! - [`metrics`]: CloudWatch Embedded Metric Format lines; [`observability`] (feature
//!   `lambda`): JSON logs with the correlation ids of the event at hand.
//! - [`schema`]: a registry of JSON Schemas per version with compatibility rules.
//! - [`invocation`]: the invocation at hand (request id, deadline, trace), passed as a value.
//! - [`admission`]: refuse new work while the accepted work is behind a limit.
//! - [`limits`]: AWS's size and count limits, and the one budget every event must fit.
//! - [`clock`]: the time and ids, replaceable by a deterministic simulation.
//!
//! Features: `lambda`, `dynamodb`, `sqs`, `eventbridge` (all on by default); with none of
//! them the crate has no AWS, Lambda or async runtime dependency.
#![warn(missing_docs)]
#![warn(clippy::cast_possible_truncation, clippy::cast_possible_wrap, clippy::cast_sign_loss)]

pub mod admission;
#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "lambda")]
pub mod batch;
pub mod bus;
pub mod clock;
pub mod config;
pub mod deadletter;
pub mod envelope;
pub mod error;
pub mod faults;
#[cfg(feature = "lambda")]
pub mod idempotency;
pub mod invocation;
pub mod limits;
pub mod metrics;
#[cfg(feature = "lambda")]
pub mod observability;
pub mod schema;
pub mod store;

/// The AWS event types the functions receive, so function crates need no extra dependency.
#[cfg(feature = "lambda")]
pub mod events {
    pub use aws_lambda_events::event::dynamodb::{
        Event as StreamEvent, EventRecord as StreamEventRecord, StreamViewType,
    };
    pub use aws_lambda_events::event::sqs::SqsEvent;
}

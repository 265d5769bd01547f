//! The orderflow library: what every Lambda function in this project is made of.
//!
//! - [`envelope`]: the event envelope every event travels in (ids, version, correlation).
//! - [`domain`]: pure order logic (commands, events, decisions); no AWS crate in here.
//! - [`store`], [`bus`], [`views`], [`deadletter`]: ports (small traits) with DynamoDB,
//!   EventBridge and SQS adapters and in-memory fakes.
//! - [`batch`]: partial batch failure reporting for SQS and DynamoDB Streams.
//! - [`idempotency`]: side effects run once per key, with the result stored for repeats.
//! - [`access`]: API keys and per-key rate limits for the HTTP API.
//! - [`handlers`]: one handler per function; `functions/*/main.rs` only wires them.
//! - [`metrics`]: CloudWatch Embedded Metric Format lines (processed, failed, duration, age).
//! - [`observability`], [`config`], [`aws`]: logging, environment, SDK set-up.
#![forbid(unsafe_code)]

pub mod access;
pub mod analytics;
pub mod aws;
pub mod batch;
pub mod bus;
pub mod clock;
pub mod config;
pub mod deadletter;
pub mod domain;
pub mod envelope;
pub mod faults;
pub mod handlers;
pub mod idempotency;
pub mod metrics;
pub mod notify;
pub mod observability;
pub mod payment;
pub mod runtime;
pub mod schema;
pub mod store;
pub mod views;

/// The AWS event types the functions receive, so function crates need no extra dependency.
pub mod events {
    pub use aws_lambda_events::event::dynamodb::{
        Event as StreamEvent, EventRecord as StreamEventRecord, StreamViewType,
    };
    pub use aws_lambda_events::event::sqs::SqsEvent;
}

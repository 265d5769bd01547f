//! The order services: what every Lambda function of orderflow is made of, on top of the
//! toolkit (`orderflow-toolkit`) and the pure order domain (`orderflow-domain`).
//!
//! - [`handlers`]: one handler per function; `functions/*/main.rs` only wires them.
//! - [`views`], [`analytics`], [`notify`], [`access`]: ports (small traits) of the read
//!   model, the sales counters, the notification log and API keys, each with a DynamoDB
//!   adapter and an in-memory fake.
//!
//! Features: `api` (the HTTP API, with `lambda_http`) and `notifier` (outbound webhooks,
//! with `reqwest`); a function enables only its own, so the others link neither.
//! - [`config`]: each function's configuration from the environment; [`runtime`]: the
//!   wiring the saga steps share.
#![warn(clippy::cast_possible_truncation, clippy::cast_possible_wrap, clippy::cast_sign_loss)]

#[cfg(feature = "api")]
pub mod access;
pub mod analytics;
pub mod config;
pub mod handlers;
pub mod notify;
pub mod runtime;
pub mod views;

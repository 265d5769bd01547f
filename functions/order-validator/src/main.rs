//! `order-validator`: OrderPlaced → OrderValidated / OrderRejected. Logic: `services::handlers::validator`.
// rustc computes the layout of main's future (runtime, SDK and handler futures nested)
// deeper than its default query depth of 128: "queries overflow the depth limit".
#![recursion_limit = "256"]
use services::config;
use services::handlers::validator::Validation;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    services::runtime::run_saga_step(|_, _| Ok(Validation(config::validation_policy()?))).await
}

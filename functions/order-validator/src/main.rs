//! `order-validator`: OrderPlaced → OrderValidated / OrderRejected. Logic: `shared::handlers::validator`.
#![recursion_limit = "256"]
use shared::config;
use shared::handlers::validator::Validation;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::runtime::run_saga_step(|_, _| Ok(Validation(config::validation_policy()?))).await
}

//! `shipping`: PaymentAuthorized → ShipmentScheduled. Logic: `services::handlers::steps`.
#![recursion_limit = "256"]
use services::handlers::steps::Shipping;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    services::runtime::run_saga_step(|_, _| Ok(Shipping)).await
}

//! `shipping`: PaymentAuthorized → ShipmentScheduled. Logic: `services::handlers::steps`.
// rustc computes the layout of main's future (runtime, SDK and handler futures nested)
// deeper than its default query depth of 128: "queries overflow the depth limit".
#![recursion_limit = "256"]
use services::handlers::steps::Shipping;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    services::runtime::run_saga_step(|_, _| Ok(Shipping)).await
}

//! `payment`: StockReserved → PaymentAuthorized / PaymentDeclined (simulated provider). Logic: `shared::handlers::steps`.
#![recursion_limit = "256"]
use shared::handlers::steps::Payment;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::runtime::run_saga_step(|_, _| Ok(Payment)).await
}

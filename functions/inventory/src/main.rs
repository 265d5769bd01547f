//! `inventory`: FraudCleared → StockReserved / OutOfStock; PaymentDeclined or OrderTimedOut → StockReleased. Logic: `services::handlers::steps`.
// rustc computes the layout of main's future (runtime, SDK and handler futures nested)
// deeper than its default query depth of 128: "queries overflow the depth limit".
#![recursion_limit = "256"]
use services::handlers::steps::StockKeeping;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // The step writes SKU streams through the same store (and client) as the saga.
    services::runtime::run_saga_step(|_, store| Ok(StockKeeping { store })).await
}

//! `payment`: StockReserved → PaymentAuthorized / PaymentDeclined (simulated provider). Logic: `services::handlers::steps`.
// rustc computes the layout of main's future (runtime, SDK and handler futures nested)
// deeper than its default query depth of 128: "queries overflow the depth limit".
#![recursion_limit = "256"]
use domain::payment::SimulatedProvider;
use services::config;
use services::handlers::steps::Payment;
use toolkit::aws;
use toolkit::idempotency::DynamoIdempotencyStore;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    services::runtime::run_saga_step(|sdk, _| {
        let idempotency = DynamoIdempotencyStore::new(aws::dynamodb(sdk), config::idempotency_table()?)
            .with_retention(config::dedup_retention());
        Ok(Payment { idempotency, provider: SimulatedProvider })
    })
    .await
}

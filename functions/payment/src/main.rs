//! `payment`: StockReserved → PaymentAuthorized / PaymentDeclined (simulated provider). Logic: `shared::handlers::steps`.
#![recursion_limit = "256"]
use shared::handlers::steps::Payment;
use shared::idempotency::DynamoIdempotencyStore;
use shared::payment::SimulatedProvider;
use shared::{aws, config};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::runtime::run_saga_step(|sdk, _| {
        let idempotency = DynamoIdempotencyStore::new(aws::dynamodb(sdk), config::idempotency_table()?);
        Ok(Payment { idempotency, provider: SimulatedProvider })
    })
    .await
}

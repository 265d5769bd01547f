//! `fraud-detector`: OrderValidated → FraudCleared / FraudSuspected. Logic: `shared::handlers::steps`.
#![recursion_limit = "256"]
use shared::handlers::steps::FraudScreening;
use shared::views::DynamoOrderViews;
use shared::{aws, config};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::runtime::run_saga_step(|sdk, _| {
        let views = DynamoOrderViews::new(aws::dynamodb(sdk), config::order_view_table()?);
        Ok(FraudScreening { views, policy: config::fraud_policy()?, window: config::fraud_velocity_window()? })
    })
    .await
}

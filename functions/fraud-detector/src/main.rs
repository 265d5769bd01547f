//! `fraud-detector`: OrderValidated → FraudCleared / FraudSuspected. Logic: `services::handlers::steps`.
// rustc computes the layout of main's future (runtime, SDK and handler futures nested)
// deeper than its default query depth of 128: "queries overflow the depth limit".
#![recursion_limit = "256"]
use services::config;
use services::handlers::steps::FraudScreening;
use services::views::DynamoOrderViews;
use toolkit::aws;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    services::runtime::run_saga_step(|sdk, _| {
        let views = DynamoOrderViews::new(aws::dynamodb(sdk), config::order_view_table()?);
        Ok(FraudScreening { views, policy: config::fraud_policy()?, window: config::fraud_velocity_window()? })
    })
    .await
}

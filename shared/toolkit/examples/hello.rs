//! The cold-start floor: the smallest Lambda function there is (the runtime and an echo),
//! built with the same release profile as the functions. `orderflow bench` starts it next
//! to them, so each function's start-up is read against what any Rust function pays on the
//! same machine (the floor differs between machines by a factor of two).

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move { Ok::<_, Error>(event.payload) },
    ))
    .await
}

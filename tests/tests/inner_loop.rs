//! The cargo-lambda inner loop against the deployed stack: `orderflow lambda-env` writes a
//! function's environment, `cargo lambda watch --env-file` runs the function's code from
//! this checkout with it, and `cargo lambda invoke --data-file` feeds it a sample from
//! events/aws/ made to name an order the stack holds.

use e2e::Harness;
use orderflow::project::Project;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const FUNCTION: &str = "order-validator";
/// The order the sample names; the test swaps in one the stack holds.
const SAMPLE_ORDER: &str = "3f1c9a52-7d4e-4b8a-9c61-2e5f8d0a7b13";
/// The first invoke waits for `cargo lambda watch` to build and start the function.
const READY_TIMEOUT: Duration = Duration::from_secs(600);

/// `cargo lambda watch`, stopped with its whole process group (it runs `cargo run`).
struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.0.wait();
    }
}

fn cargo_lambda(project: &Project, args: &[&str]) -> Command {
    // cargo finds `cargo-lambda` on the PATH: the project's virtualenv has it.
    let path = std::env::join_paths(
        std::iter::once(project.venv().join("bin"))
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let mut command = Command::new("cargo");
    command.arg("lambda").args(args).env("PATH", path).current_dir(project.root());
    command
}

fn invoke_until_ready(project: &Project, sample: &Path, port: &str, watch: &mut Watch) -> Output {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let sample = sample.display().to_string();
        let output = cargo_lambda(project, &["invoke", FUNCTION, "--data-file", &sample, "--invoke-port", port])
            .output()
            .expect("cargo lambda invoke runs");
        if output.status.success() {
            return output;
        }
        let exited = watch.0.try_wait().expect("the watch process").is_some();
        assert!(
            !exited && Instant::now() < deadline,
            "cargo lambda watch did not serve {FUNCTION}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn cargo_lambda_watch_runs_a_function_with_the_stacks_environment() {
    let harness = Harness::connect().await;
    let project = Project::locate().expect("the checkout");
    let (_, views) = harness.replay_scenario("happy-path").await;
    let order_id = views[0].order_id.to_string();

    let files = orderflow::local::lambda_env::write(&harness.clients, &harness.stack, &project, Some(FUNCTION))
        .await
        .expect("the env file");
    let env_file = files[0].display().to_string();
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.contains("EVENT_STORE_TABLE=") && text.contains("AWS_ENDPOINT_URL="), "{text}");

    let sample = std::fs::read_to_string(project.events_dir().join("aws/sqs-order-placed.json")).unwrap();
    assert!(sample.contains(SAMPLE_ORDER), "the sample names {SAMPLE_ORDER}");
    let sample_file = project.state_dir().join("inner-loop-sample.json");
    std::fs::write(&sample_file, sample.replace(SAMPLE_ORDER, &order_id)).unwrap();

    let port = orderflow::local::emulator::free_port().expect("a free port").to_string();
    let args = ["watch", "-p", FUNCTION, "--env-file", &env_file, "--invoke-port", &port, "--ignore-changes"];
    let log = std::fs::File::create(project.state_dir().join("inner-loop-watch.log")).unwrap();
    let child = cargo_lambda(&project, &args)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("cargo lambda watch starts");
    let mut watch = Watch(child);
    let started = Instant::now();
    let output = invoke_until_ready(&project, &sample_file, &port, &mut watch);
    let response: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a JSON response");
    // Reaching the stack's store is what lets the step see the order is already validated;
    // without the stack's environment it would fail or report the record as failed.
    assert_eq!(response, serde_json::json!({ "batchItemFailures": [] }), "{response}");
    drop(watch);
    assert_eq!(
        harness.stream_of(&order_id).await.iter().filter(|t| *t == "OrderValidated").count(),
        1,
        "nothing twice"
    );
    e2e::report(
        "inner-loop",
        &format!(
            "cargo lambda watch -p {FUNCTION} --env-file .orderflow/env/{FUNCTION}.env, then cargo lambda invoke with events/aws/sqs-order-placed.json naming order {order_id}: {response} after {:.0} s (the first invoke waits for the build)",
            started.elapsed().as_secs_f64()
        ),
    );
}

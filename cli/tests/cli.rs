//! The CLI as a user meets it: exit codes and messages for bad input and unreachable
//! emulators. None of these needs a running emulator.

use std::net::TcpListener;
use std::process::{Command, Output};

fn orderflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("ORDERFLOW_PORT")
        .output()
        .expect("orderflow runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A port with nothing listening on it.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn replay_names_a_missing_file() {
    let output = orderflow(&["replay", "events/api/no-such-file.json"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr(&output).trim(), "error: events/api/no-such-file.json: no such file or directory");
}

#[test]
fn replay_names_a_file_with_bad_json_and_where_it_breaks() {
    let dir = std::env::temp_dir().join(format!("orderflow-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("broken.json");
    std::fs::write(&file, "{\"method\": \"POST\",\n  \"path\": }").unwrap();
    let output = orderflow(&["replay", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("broken.json: not valid JSON: expected value at line 2 column 11"), "{message}");
}

#[test]
fn replay_refuses_a_lambda_event_and_points_at_invoke() {
    let output = orderflow(&["replay", "events/aws/sqs-order-placed.json"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("send it with `orderflow invoke <function> <file>`"), "{}", stderr(&output));
}

#[test]
fn replay_checks_every_file_before_contacting_the_emulator() {
    // The emulator is unreachable, but a bad sample is reported first and nothing is sent.
    let port = closed_port().to_string();
    let output = orderflow(&["--port", &port, "replay", "events/aws"]);
    assert!(stderr(&output).contains("is a Lambda event"), "{}", stderr(&output));
}

#[test]
fn status_explains_an_unreachable_emulator() {
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let output = orderflow(&["--endpoint", &endpoint, "status"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.starts_with(&format!("error: the emulator at {endpoint} does not answer")), "{message}");
    assert!(message.contains("hint: start one with `orderflow up`"), "{message}");
}

#[test]
fn invoke_names_a_missing_payload_before_anything_else() {
    let output = orderflow(&["invoke", "projector", "nope.json"]);
    assert_eq!(stderr(&output).trim(), "error: nope.json: no such file or directory");
}

#[test]
fn up_refuses_a_port_taken_by_something_that_is_not_an_emulator() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let output = orderflow(&["--port", &port, "up"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output)
            .contains(&format!("port {port} on 127.0.0.1 is taken by a program that is not an AWS emulator")),
        "{}",
        stderr(&output)
    );
}

#[test]
fn down_says_when_there_is_nothing_to_stop() {
    let port = closed_port().to_string();
    let output = orderflow(&["--port", &port, "down"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).contains("no emulator started by orderflow runs on"));
}

#[test]
fn up_is_for_the_emulator_and_points_aws_users_at_deploy() {
    let output = orderflow(&["--aws", "--region", "us-east-1", "up"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("to deploy to AWS use `orderflow deploy --aws`"), "{}", stderr(&output));
}

#[test]
fn replay_refuses_a_rate_that_is_not_positive() {
    let output = orderflow(&["replay", "events/scenarios/happy-path", "--rate", "0"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("--rate must be a positive number"), "{}", stderr(&output));
}

#[test]
fn rebuild_names_the_projections_it_knows() {
    let output = orderflow(&["rebuild", "payments"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("no projection `payments`; known: orders"), "{}", stderr(&output));
}

#[test]
fn republish_needs_a_time_window() {
    let output = orderflow(&["republish"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("give either --since"), "{}", stderr(&output));
}

#[test]
fn trace_refuses_an_id_that_is_not_an_order_id() {
    let port = closed_port().to_string();
    let output = orderflow(&["--port", &port, "trace", "not-a-uuid"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("`not-a-uuid` is not an order id (a UUID)"), "{}", stderr(&output));
}

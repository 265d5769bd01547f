//! `orderflow schema`: exit codes and the messages a person reads.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn orderflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orderflow")).args(args).current_dir(repo()).output().expect("orderflow runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// A copy of the committed registry to change freely.
fn registry_copy(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("orderflow-schemas-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&repo().join("events/schemas"), &dir);
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn check_passes_on_the_committed_registry() {
    let output = orderflow(&["schema", "check"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(text(&output).contains("all schemas compatible and up to date"));
}

#[test]
fn check_fails_on_an_incompatible_new_version_and_says_where_and_why() {
    let dir = registry_copy("incompatible");
    let mut v3: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("OrderPlaced/v5.json")).unwrap()).unwrap();
    v3["definitions"]["OrderLine"]["properties"]["quantity"] = serde_json::json!({ "type": "string" });
    std::fs::write(dir.join("OrderPlaced/v6.json"), v3.to_string()).unwrap();

    let output = orderflow(&["schema", "--dir", dir.to_str().unwrap(), "check"]);
    assert_eq!(output.status.code(), Some(1));
    let message = text(&output);
    assert!(
        message.contains("OrderPlaced [BACKWARD_TRANSITIVE] $.lines[*].quantity: type-changed (v6 reading data written by v1): the writer may send integer, the reader accepts only string"),
        "{message}"
    );
    assert!(
        message.contains("(v6 reading data written by v2)"),
        "transitive: v6 is checked against v1 and v2\n{message}"
    );
    assert!(message.contains("OrderPlaced v6 is committed but the code writes v5"), "{message}");
}

#[test]
fn check_fails_when_a_committed_schema_no_longer_matches_its_type() {
    let dir = registry_copy("stale");
    std::fs::write(dir.join("OrderValidated/v1.json"), "{\"type\": \"object\"}").unwrap();
    let output = orderflow(&["schema", "--dir", dir.to_str().unwrap(), "check"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output).contains("OrderValidated/v1.json no longer matches the Rust type OrderValidated"),
        "{}",
        text(&output)
    );
}

#[test]
fn check_refuses_a_gap_in_the_versions() {
    let dir = registry_copy("gap");
    std::fs::rename(dir.join("OrderPlaced/v4.json"), dir.join("OrderPlaced/v5.json")).unwrap();
    let output = orderflow(&["schema", "--dir", dir.to_str().unwrap(), "check"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output).contains("OrderPlaced: versions must run 1, 2, 3 ... without gaps; v4 is missing"),
        "{}",
        text(&output)
    );
}

#[test]
fn validate_reads_an_envelope_at_its_own_version() {
    let output = orderflow(&["schema", "validate", "OrderPlaced", "events/domain/order-placed.json"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(text(&output).contains("valid OrderPlaced v1"));
}

#[test]
fn validate_names_each_bad_value_of_a_command() {
    let file = std::env::temp_dir().join(format!("orderflow-bad-command-{}.json", std::process::id()));
    std::fs::write(
        &file,
        r#"{"customerId":"c-1","currency":"eur","lines":[{"sku":"A","quantity":0,"unitPriceMinor":1}]}"#,
    )
    .unwrap();
    let output = orderflow(&["schema", "validate", "PlaceOrder", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let message = text(&output);
    assert!(message.contains("at /currency:"), "{message}");
    assert!(message.contains("at /lines/0/quantity:"), "{message}");
    assert!(message.contains("not a valid PlaceOrder v4 (2 error(s) above)"), "{message}");
}

#[test]
fn validate_lists_the_known_names_for_an_unknown_one() {
    let output = orderflow(&["schema", "validate", "Nope", "events/domain/order-placed.json"]);
    assert_eq!(output.status.code(), Some(1));
    let message = text(&output);
    assert!(
        message.contains("no schema named Nope; the registry has: FraudCleared, FraudSuspected, OrderPlaced,"),
        "{message}"
    );
    assert!(message.contains(", PlaceOrder, "), "{message}");
}

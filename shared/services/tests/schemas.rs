//! The committed schemas against the Rust types, and events of every committed version.

use domain::contracts::contracts;
use domain::{EventCodec, OrderEvent};
use std::path::PathBuf;
use toolkit::envelope::EventEnvelope;
use toolkit::schema::Mode;
use toolkit::schema::registry::Registry;

fn registry_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/schemas")
}

fn sample(name: &str) -> EventEnvelope {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn every_committed_schema_matches_the_type_it_came_from() {
    let registry = Registry::load(&registry_dir()).expect("the registry loads");
    let drift = registry.drift(&contracts());
    assert!(drift.is_empty(), "\n{}\n", drift.join("\n"));
}

#[test]
fn every_type_is_compatible_with_its_earlier_versions() {
    let registry = Registry::load(&registry_dir()).expect("the registry loads");
    let findings: Vec<String> = registry.compatibility().iter().map(ToString::to_string).collect();
    assert!(findings.is_empty(), "\n{}\n", findings.join("\n"));
    assert_eq!(registry.mode("OrderPlaced"), Mode::BackwardTransitive);
}

#[test]
fn a_v1_order_placed_from_the_store_still_replays_as_v2() {
    let stored = sample("domain/order-placed.json");
    assert_eq!(stored.schema_version, 1);
    assert!(stored.payload.get("itemCount").is_none());
    let OrderEvent::OrderPlaced(placed) = OrderEvent::from_envelope(&stored).expect("a v1 event decodes") else {
        panic!("expected OrderPlaced");
    };
    assert_eq!(placed.item_count, Some(3), "the upcaster sums the quantities (2 + 1)");
}

#[test]
fn a_v2_order_placed_decodes_as_written() {
    let stored = sample("domain/order-placed-v2.json");
    assert_eq!(stored.schema_version, 2);
    let OrderEvent::OrderPlaced(placed) = OrderEvent::from_envelope(&stored).expect("a v2 event decodes") else {
        panic!("expected OrderPlaced");
    };
    assert_eq!(placed.item_count, Some(3));
}

#[test]
fn an_event_that_breaks_its_schema_is_refused_with_the_path() {
    let mut stored = sample("domain/order-placed.json");
    stored.payload["lines"][0]["quantity"] = serde_json::json!("two");
    let error = OrderEvent::from_envelope(&stored).unwrap_err().to_string();
    assert!(error.contains("/lines/0/quantity"), "{error}");
}

#[test]
fn an_event_with_a_field_its_version_does_not_have_is_refused() {
    let mut stored = sample("domain/order-placed.json");
    stored.payload["itemCount"] = serde_json::json!(3); // v1 is a closed model: itemCount came with v2
    let error = OrderEvent::from_envelope(&stored).unwrap_err().to_string();
    assert!(error.contains("itemCount"), "{error}");
}

#[test]
fn an_event_newer_than_this_build_is_refused() {
    let mut stored = sample("domain/order-placed.json");
    stored.schema_version = 6;
    let error = OrderEvent::from_envelope(&stored).unwrap_err().to_string();
    assert_eq!(error, "OrderPlaced schema version 6 is not supported (this build reads versions 1 to 5)");
}

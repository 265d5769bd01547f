//! The committed schemas, compiled into every binary: events are validated against the
//! version they were written with, then upcast to the version this build reads.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

include!(concat!(env!("OUT_DIR"), "/committed_schemas.rs"));

/// Turns a payload of `version` into one of `version + 1`.
type Upcaster = fn(Value) -> Value;

/// Every upcaster, by (type, from version). A version step without an entry needs none:
/// the newer schema reads the older payload as it is.
const UPCASTERS: &[(&str, u32, Upcaster)] = &[("OrderPlaced", 1, crate::order::upcast_order_placed_v1)];

/// Compiled once per process; a schema that does not compile keeps its error.
type Validators = HashMap<(&'static str, u32), Result<jsonschema::Validator, String>>;

fn validators() -> &'static Validators {
    static VALIDATORS: OnceLock<Validators> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        COMMITTED
            .iter()
            .map(|(name, version, text)| {
                let validator = serde_json::from_str::<Value>(text)
                    .map_err(|e| e.to_string())
                    .and_then(|schema| jsonschema::validator_for(&schema).map_err(|e| e.to_string()));
                ((*name, *version), validator)
            })
            .collect()
    })
}

/// Why an instance does not match a committed schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaMismatch {
    #[error("no schema {name} v{version} is committed")]
    UnknownVersion { name: String, version: u32 },
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
}

/// Validates `instance` against the committed schema `name` v`version`; each error names
/// the JSON pointer of the offending value.
pub fn validate(name: &str, version: u32, instance: &Value) -> Result<(), SchemaMismatch> {
    let unknown = || SchemaMismatch::UnknownVersion { name: name.to_string(), version };
    let validator = validators().get(&(name, version)).ok_or_else(unknown)?;
    let validator = validator
        .as_ref()
        .map_err(|e| SchemaMismatch::Invalid(vec![format!("the committed schema does not compile: {e}")]))?;
    if validator.is_valid(instance) {
        return Ok(()); // the fast path: errors are collected only for invalid instances
    }
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| {
            let at = e.instance_path().to_string();
            format!("{}: {e}", if at.is_empty() { "/".to_string() } else { at })
        })
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(SchemaMismatch::Invalid(errors)) }
}

/// Applies the upcasters of `name` from `from` up to `to`.
pub fn upcast(name: &str, from: u32, to: u32, mut payload: Value) -> Value {
    for version in from..to {
        if let Some((_, _, step)) = UPCASTERS.iter().find(|(n, v, _)| *n == name && *v == version) {
            payload = step(payload);
        }
    }
    payload
}

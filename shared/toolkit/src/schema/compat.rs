//! Compatibility of JSON Schema versions, in the modes of a schema registry.
//!
//! The question is always the same: can a *reader* schema accept every instance a
//! *writer* schema accepts? BACKWARD asks it with the new version as reader (new code
//! reads old events), FORWARD with the old version as reader (old code reads new
//! events), FULL asks both; the TRANSITIVE modes compare with every earlier version.
//!
//! The checker understands the subset that schemas generated from Rust types use:
//! `type` (with `integer` ⊂ `number` and `null` for nullability), `enum`, `const`,
//! `properties`, `required`, `additionalProperties` (open and closed content models),
//! `items`, numeric and length bounds, `pattern`, `format`, `anyOf`/`oneOf` and local
//! `$ref`s.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// What a new version of a schema must stay compatible with. Spelled as in Confluent's
/// schema registry (`BACKWARD`, `FULL_TRANSITIVE`, ...) in `compatibility.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Mode {
    /// No check: any change is allowed.
    None,
    /// The new version reads data written by the version before it.
    Backward,
    /// The version before reads data written by the new one.
    Forward,
    /// Backward and forward, with the version before.
    Full,
    /// The new version reads data written by every earlier version.
    BackwardTransitive,
    /// Every earlier version reads data written by the new one.
    ForwardTransitive,
    /// Backward and forward, with every earlier version.
    FullTransitive,
}

impl Mode {
    /// Every mode, in the order of their declaration.
    pub const ALL: [Mode; 7] = [
        Mode::None,
        Mode::Backward,
        Mode::Forward,
        Mode::Full,
        Mode::BackwardTransitive,
        Mode::ForwardTransitive,
        Mode::FullTransitive,
    ];

    fn checks_backward(self) -> bool {
        matches!(self, Mode::Backward | Mode::Full | Mode::BackwardTransitive | Mode::FullTransitive)
    }

    fn checks_forward(self) -> bool {
        matches!(self, Mode::Forward | Mode::Full | Mode::ForwardTransitive | Mode::FullTransitive)
    }

    fn is_transitive(self) -> bool {
        matches!(self, Mode::BackwardTransitive | Mode::ForwardTransitive | Mode::FullTransitive)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        f.write_str(&text)
    }
}

/// Which rule a change breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The writer may send a type the reader does not accept.
    TypeChanged,
    /// `number` written, only `integer` read.
    TypeNarrowed,
    /// The writer may send `null`, the reader does not accept it.
    NullabilityRemoved,
    /// The writer may send an enum value the reader does not know.
    EnumValueRemoved,
    /// The reader only accepts listed values; the writer is not limited to them.
    EnumAdded,
    /// The reader accepts only one value; the writer may send another.
    ConstChanged,
    /// The reader requires a property the writer may leave out.
    RequiredAdded,
    /// The writer may send a property a closed reader model refuses.
    PropertyNotAllowed,
    /// The reader constrains a property an open writer model may send with any value.
    PropertyAddedToOpenModel,
    /// The reader closed (or constrained) its content model; the writer may send unknown properties.
    AdditionalPropertiesNarrowed,
    /// The reader constrains an array's items; the writer does not.
    ItemsChanged,
    /// The reader narrowed a numeric range or an array's length (`minimum`, `maximum`,
    /// `minItems`, `maxItems`).
    RangeNarrowed,
    /// The reader narrowed a string's length (`minLength`, `maxLength`).
    LengthNarrowed,
    /// The reader requires a `pattern` the writer does not have (any difference counts).
    PatternChanged,
    /// The reader requires a `format` the writer does not have (any difference counts).
    FormatChanged,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        f.write_str(&text)
    }
}

/// One incompatibility: where, which rule, and which two versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON path into an instance, e.g. `$.lines[*].quantity`.
    pub path: String,
    /// The rule the change breaks.
    pub rule: Rule,
    /// What each version says there, in a sentence.
    pub detail: String,
    /// The version that reads.
    pub reader_version: u32,
    /// The version whose data it reads.
    pub writer_version: u32,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (v{} reading data written by v{}): {}",
            self.path, self.rule, self.reader_version, self.writer_version, self.detail
        )
    }
}

/// Checks the versions of one type (oldest first) in `mode`: each version against the
/// one before it, or against every earlier one in the transitive modes.
pub fn check(mode: Mode, versions: &[(u32, Value)]) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (k, (new_version, new)) in versions.iter().enumerate().skip(1) {
        let earlier = if mode.is_transitive() { &versions[..k] } else { &versions[k - 1..k] };
        for (old_version, old) in earlier {
            if mode.checks_backward() {
                violations.extend(reads_all(new, *new_version, old, *old_version));
            }
            if mode.checks_forward() {
                violations.extend(reads_all(old, *old_version, new, *new_version));
            }
        }
    }
    violations
}

/// Everything `writer` accepts that `reader` would refuse, as violations.
pub fn reads_all(reader: &Value, reader_version: u32, writer: &Value, writer_version: u32) -> Vec<Violation> {
    let checker = Checker { reader_root: reader, writer_root: writer };
    let mut found = Vec::new();
    checker.covers(reader, writer, "$", 0, &mut found);
    found
        .into_iter()
        .map(|(path, rule, detail)| Violation { path, rule, detail, reader_version, writer_version })
        .collect()
}

const MAX_DEPTH: usize = 64;

struct Checker<'a> {
    reader_root: &'a Value,
    writer_root: &'a Value,
}

type Found = Vec<(String, Rule, String)>;

impl<'a> Checker<'a> {
    fn covers(&self, reader: &'a Value, writer: &'a Value, path: &str, depth: usize, out: &mut Found) {
        if depth > MAX_DEPTH {
            return; // recursive types: what was checked above this depth holds below it
        }
        let reader = resolve(self.reader_root, reader);
        let writer = resolve(self.writer_root, writer);
        if accepts_anything(reader) || writer == &Value::Bool(false) {
            return;
        }
        if let Some(branches) = union(writer) {
            for branch in branches {
                self.covers(reader, branch, path, depth + 1, out);
            }
            return;
        }
        if let Some(branches) = union(reader) {
            self.covered_by_some_branch(branches, writer, path, depth, out);
            return;
        }
        let (Some(r), Some(w)) = (reader.as_object(), writer.as_object()) else {
            out.push((path.into(), Rule::TypeChanged, "the reader accepts nothing".into()));
            return;
        };
        if !self.types(r, w, path, out) {
            return;
        }
        values(r, w, path, out);
        self.objects(r, w, path, depth, out);
        self.arrays(r, w, path, depth, out);
        bounds(r, w, path, out);
        strings(r, w, path, out);
    }

    fn covered_by_some_branch(
        &self,
        branches: &'a [Value],
        writer: &'a Value,
        path: &str,
        depth: usize,
        out: &mut Found,
    ) {
        let mut best: Option<Found> = None;
        for branch in branches {
            let mut found = Vec::new();
            self.covers(branch, writer, path, depth + 1, &mut found);
            if found.is_empty() {
                return;
            }
            if best.as_ref().is_none_or(|b| found.len() < b.len()) {
                best = Some(found);
            }
        }
        out.extend(best.unwrap_or_default());
    }

    /// Returns false when the types already disagree (deeper checks would only repeat it).
    fn types(&self, r: &Map<String, Value>, w: &Map<String, Value>, path: &str, out: &mut Found) -> bool {
        let Some(reader_types) = types_of(r) else {
            return true;
        };
        let Some(writer_types) = types_of(w) else {
            out.push((
                path.into(),
                Rule::TypeChanged,
                format!("the writer allows any type, the reader only {}", reader_types.join(" or ")),
            ));
            return false;
        };
        let mut agree = true;
        for t in &writer_types {
            let accepted = reader_types.contains(t) || (t == "integer" && reader_types.iter().any(|r| r == "number"));
            if accepted {
                continue;
            }
            // A refused null leaves the other types to compare; any other refusal ends it.
            agree &= t == "null";
            let (rule, detail) = match t.as_str() {
                "null" => {
                    (Rule::NullabilityRemoved, "the writer may send null, the reader does not accept it".to_string())
                }
                "number" if reader_types.iter().any(|r| r == "integer") => {
                    (Rule::TypeNarrowed, "the writer may send any number, the reader accepts only integers".to_string())
                }
                other => (
                    Rule::TypeChanged,
                    format!("the writer may send {other}, the reader accepts only {}", reader_types.join(" or ")),
                ),
            };
            out.push((path.into(), rule, detail));
        }
        agree
    }

    fn objects(&self, r: &'a Map<String, Value>, w: &'a Map<String, Value>, path: &str, depth: usize, out: &mut Found) {
        let empty = Map::new();
        let reader_props = r.get("properties").and_then(Value::as_object).unwrap_or(&empty);
        let writer_props = w.get("properties").and_then(Value::as_object).unwrap_or(&empty);
        let writer_required = string_set(w.get("required"));
        for name in string_set(r.get("required")) {
            if !writer_required.contains(&name) {
                out.push((
                    child(path, &name),
                    Rule::RequiredAdded,
                    format!("the reader requires `{name}`, the writer may leave it out"),
                ));
            }
        }
        for (name, writer_schema) in writer_props {
            match (reader_props.get(name), r.get("additionalProperties")) {
                (Some(reader_schema), _) => {
                    self.covers(reader_schema, writer_schema, &child(path, name), depth + 1, out);
                }
                (None, Some(Value::Bool(false))) => out.push((
                    child(path, name),
                    Rule::PropertyNotAllowed,
                    format!("the writer may send `{name}`, the reader's closed model refuses it"),
                )),
                (None, Some(extra)) if extra.is_object() => {
                    self.covers(extra, writer_schema, &child(path, name), depth + 1, out);
                }
                (None, _) => {}
            }
        }
        for (name, reader_schema) in reader_props.iter().filter(|(name, _)| !writer_props.contains_key(*name)) {
            match w.get("additionalProperties") {
                Some(Value::Bool(false)) => {}
                Some(extra) if extra.is_object() => {
                    self.covers(reader_schema, extra, &child(path, name), depth + 1, out);
                }
                _ if accepts_anything(resolve(self.reader_root, reader_schema)) => {}
                _ => out.push((
                    child(path, name),
                    Rule::PropertyAddedToOpenModel,
                    format!("the writer's open model may send `{name}` with any value, the reader constrains it"),
                )),
            }
        }
        let reader_extra = r.get("additionalProperties");
        let writer_extra = w.get("additionalProperties");
        let writer_open = !matches!(writer_extra, Some(Value::Bool(false)));
        match reader_extra {
            Some(Value::Bool(false)) if writer_open && is_object_schema(w) => out.push((
                path.into(),
                Rule::AdditionalPropertiesNarrowed,
                "the writer's model is open, the reader's is closed: unknown properties would be refused".into(),
            )),
            Some(extra) if extra.is_object() && !accepts_anything(extra) => match writer_extra {
                Some(writer_extra) if writer_extra.is_object() => {
                    self.covers(extra, writer_extra, &format!("{path}.*"), depth + 1, out);
                }
                Some(Value::Bool(false)) => {}
                _ if is_object_schema(w) => out.push((
                    path.into(),
                    Rule::AdditionalPropertiesNarrowed,
                    "the reader constrains unknown properties, the writer's open model does not".into(),
                )),
                _ => {}
            },
            _ => {}
        }
    }

    fn arrays(&self, r: &'a Map<String, Value>, w: &'a Map<String, Value>, path: &str, depth: usize, out: &mut Found) {
        let item_path = format!("{path}[*]");
        match (r.get("items"), w.get("items")) {
            (Some(reader_items), Some(writer_items)) => {
                self.covers(reader_items, writer_items, &item_path, depth + 1, out);
            }
            (Some(reader_items), None) if !accepts_anything(reader_items) => {
                out.push((item_path, Rule::ItemsChanged, "the reader constrains items, the writer does not".into()));
            }
            _ => {}
        }
    }
}

fn values(r: &Map<String, Value>, w: &Map<String, Value>, path: &str, out: &mut Found) {
    let writer_values: Option<Vec<&Value>> = match (w.get("const"), w.get("enum")) {
        (Some(constant), _) => Some(vec![constant]),
        (None, Some(Value::Array(values))) => Some(values.iter().collect()),
        _ => None,
    };
    if let Some(constant) = r.get("const") {
        match &writer_values {
            Some(values) if values.iter().all(|v| *v == constant) => {}
            _ => out.push((path.into(), Rule::ConstChanged, format!("the reader accepts only {constant}"))),
        }
        return;
    }
    let Some(Value::Array(reader_values)) = r.get("enum") else {
        return;
    };
    match writer_values {
        Some(values) => {
            for value in values.into_iter().filter(|v| !reader_values.contains(v)) {
                out.push((
                    path.into(),
                    Rule::EnumValueRemoved,
                    format!("the writer may send {value}, the reader does not know it"),
                ));
            }
        }
        None => out.push((
            path.into(),
            Rule::EnumAdded,
            "the reader accepts only listed values, the writer is not limited to them".into(),
        )),
    }
}

fn bounds(r: &Map<String, Value>, w: &Map<String, Value>, path: &str, out: &mut Found) {
    let lower =
        |s: &Map<String, Value>| number(s, "minimum").into_iter().chain(number(s, "exclusiveMinimum")).reduce(f64::max);
    let upper =
        |s: &Map<String, Value>| number(s, "maximum").into_iter().chain(number(s, "exclusiveMaximum")).reduce(f64::min);
    narrowed(path, Rule::RangeNarrowed, "minimum", lower(r), lower(w), |reader, writer| reader > writer, out);
    narrowed(path, Rule::RangeNarrowed, "maximum", upper(r), upper(w), |reader, writer| reader < writer, out);
    narrowed(
        path,
        Rule::RangeNarrowed,
        "minItems",
        number(r, "minItems"),
        number(w, "minItems").or(Some(0.0)),
        |a, b| a > b,
        out,
    );
    narrowed(path, Rule::RangeNarrowed, "maxItems", number(r, "maxItems"), number(w, "maxItems"), |a, b| a < b, out);
}

fn strings(r: &Map<String, Value>, w: &Map<String, Value>, path: &str, out: &mut Found) {
    narrowed(
        path,
        Rule::LengthNarrowed,
        "minLength",
        number(r, "minLength"),
        number(w, "minLength").or(Some(0.0)),
        |a, b| a > b,
        out,
    );
    narrowed(
        path,
        Rule::LengthNarrowed,
        "maxLength",
        number(r, "maxLength"),
        number(w, "maxLength"),
        |a, b| a < b,
        out,
    );
    for (keyword, rule) in [("pattern", Rule::PatternChanged), ("format", Rule::FormatChanged)] {
        if let Some(reader_value) = r.get(keyword)
            && w.get(keyword) != Some(reader_value)
        {
            let writer_value = w.get(keyword).map_or("none".to_string(), Value::to_string);
            out.push((
                path.into(),
                rule,
                format!("the reader requires {keyword} {reader_value}, the writer has {writer_value}"),
            ));
        }
    }
}

/// Reports a bound the reader tightened: `tighter(reader, writer)` says whether it did;
/// a writer without the bound is unbounded.
fn narrowed(
    path: &str,
    rule: Rule,
    keyword: &str,
    reader: Option<f64>,
    writer: Option<f64>,
    tighter: impl Fn(f64, f64) -> bool,
    out: &mut Found,
) {
    let Some(reader) = reader else { return };
    let is_narrower = writer.is_none_or(|writer| tighter(reader, writer));
    if is_narrower {
        let writer_text = writer.map_or("none".to_string(), |w| w.to_string());
        out.push((path.into(), rule, format!("the reader's {keyword} is {reader}, the writer's is {writer_text}")));
    }
}

fn number(schema: &Map<String, Value>, keyword: &str) -> Option<f64> {
    schema.get(keyword).and_then(Value::as_f64)
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let mut current = schema;
    for _ in 0..MAX_DEPTH {
        let Some(reference) = current.get("$ref").and_then(Value::as_str) else {
            return current;
        };
        let Some(target) = reference.strip_prefix('#').and_then(|pointer| root.pointer(pointer)) else {
            return current;
        };
        current = target;
    }
    current
}

fn union(schema: &Value) -> Option<&[Value]> {
    schema.get("anyOf").or_else(|| schema.get("oneOf")).and_then(Value::as_array).map(Vec::as_slice)
}

/// `true`, `{}`, or a schema with nothing but annotations.
fn accepts_anything(schema: &Value) -> bool {
    const ANNOTATIONS: [&str; 6] = ["title", "description", "$schema", "$id", "examples", "default"];
    match schema {
        Value::Bool(b) => *b,
        Value::Object(map) => {
            map.keys().all(|k| ANNOTATIONS.contains(&k.as_str()) || k == "definitions" || k == "$defs")
        }
        _ => false,
    }
}

fn types_of(schema: &Map<String, Value>) -> Option<Vec<String>> {
    match schema.get("type")? {
        Value::String(t) => Some(vec![t.clone()]),
        Value::Array(ts) => Some(ts.iter().filter_map(|t| t.as_str().map(str::to_string)).collect()),
        _ => None,
    }
}

fn is_object_schema(schema: &Map<String, Value>) -> bool {
    types_of(schema).is_some_and(|ts| ts.iter().any(|t| t == "object")) || schema.contains_key("properties")
}

fn string_set(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn child(path: &str, name: &str) -> String {
    format!("{path}.{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An object schema: properties, which are required, and whether the model is closed.
    fn object(properties: Value, required: &[&str], closed: bool) -> Value {
        let mut schema = json!({ "type": "object", "properties": properties, "required": required });
        if closed {
            schema["additionalProperties"] = json!(false);
        }
        schema
    }

    /// Compatible or not in every mode, in the order of [`Mode::ALL`].
    fn verdicts(old: &Value, new: &Value) -> [bool; 7] {
        let versions = [(1, old.clone()), (2, new.clone())];
        Mode::ALL.map(|mode| check(mode, &versions).is_empty())
    }

    /// The expected verdict in every mode from the three a case states: NONE accepts
    /// everything, and with two versions a transitive mode agrees with its plain one.
    fn in_every_mode([backward, forward, full]: [bool; 3]) -> [bool; 7] {
        [true, backward, forward, full, backward, forward, full]
    }

    /// (case, old, new, compatible in [BACKWARD, FORWARD, FULL])
    fn cases() -> Vec<(&'static str, Value, Value, [bool; 3])> {
        let s = json!({ "type": "string" });
        let i = json!({ "type": "integer" });
        vec![
            (
                "add optional property, closed models",
                object(json!({ "a": s }), &["a"], true),
                object(json!({ "a": s, "b": i }), &["a"], true),
                [true, false, false],
            ),
            (
                "add optional property, open models",
                object(json!({ "a": s }), &["a"], false),
                object(json!({ "a": s, "b": i }), &["a"], false),
                [false, true, false],
            ),
            (
                "add required property, closed models",
                object(json!({ "a": s }), &["a"], true),
                object(json!({ "a": s, "b": i }), &["a", "b"], true),
                [false, false, false],
            ),
            (
                "add required property, open models",
                object(json!({ "a": s }), &["a"], false),
                object(json!({ "a": s, "b": i }), &["a", "b"], false),
                [false, true, false],
            ),
            (
                "remove optional property, closed models",
                object(json!({ "a": s, "b": i }), &["a"], true),
                object(json!({ "a": s }), &["a"], true),
                [false, true, false],
            ),
            (
                "remove optional property, open models",
                object(json!({ "a": s, "b": i }), &["a"], false),
                object(json!({ "a": s }), &["a"], false),
                [true, false, false],
            ),
            (
                "remove required property, open models",
                object(json!({ "a": s, "b": i }), &["a", "b"], false),
                object(json!({ "a": s }), &["a"], false),
                [true, false, false],
            ),
            (
                "optional becomes required",
                object(json!({ "a": s }), &[], true),
                object(json!({ "a": s }), &["a"], true),
                [false, true, false],
            ),
            (
                "required becomes optional",
                object(json!({ "a": s }), &["a"], true),
                object(json!({ "a": s }), &[], true),
                [true, false, false],
            ),
            (
                "type change string to integer",
                object(json!({ "a": s }), &["a"], true),
                object(json!({ "a": i }), &["a"], true),
                [false, false, false],
            ),
            ("widening integer to number", i.clone(), json!({ "type": "number" }), [true, false, false]),
            ("enum growth", json!({ "enum": ["a", "b"] }), json!({ "enum": ["a", "b", "c"] }), [true, false, false]),
            ("enum shrinkage", json!({ "enum": ["a", "b", "c"] }), json!({ "enum": ["a", "b"] }), [false, true, false]),
            ("field becomes nullable", s.clone(), json!({ "type": ["string", "null"] }), [true, false, false]),
            ("field no longer nullable", json!({ "type": ["string", "null"] }), s.clone(), [false, true, false]),
            (
                "nullable through anyOf and $ref",
                json!({ "$ref": "#/definitions/A", "definitions": { "A": s } }),
                json!({ "anyOf": [{ "$ref": "#/definitions/A" }, { "type": "null" }], "definitions": { "A": s } }),
                [true, false, false],
            ),
            (
                "nested property type change",
                object(
                    json!({ "lines": { "type": "array", "items": object(json!({ "quantity": i }), &["quantity"], true) } }),
                    &["lines"],
                    true,
                ),
                object(
                    json!({ "lines": { "type": "array", "items": object(json!({ "quantity": s }), &["quantity"], true) } }),
                    &["lines"],
                    true,
                ),
                [false, false, false],
            ),
            (
                "array items widened",
                json!({ "type": "array", "items": i }),
                json!({ "type": "array", "items": { "type": "number" } }),
                [true, false, false],
            ),
            (
                "open model closed",
                object(json!({ "a": s }), &["a"], false),
                object(json!({ "a": s }), &["a"], true),
                [false, true, false],
            ),
            (
                "closed model opened",
                object(json!({ "a": s }), &["a"], true),
                object(json!({ "a": s }), &["a"], false),
                [true, false, false],
            ),
            (
                "maxLength narrowed",
                json!({ "type": "string", "maxLength": 64 }),
                json!({ "type": "string", "maxLength": 32 }),
                [false, true, false],
            ),
            (
                "minimum raised",
                json!({ "type": "integer", "minimum": 0 }),
                json!({ "type": "integer", "minimum": 1 }),
                [false, true, false],
            ),
            (
                "pattern changed",
                json!({ "type": "string", "pattern": "^[A-Z]{3}$" }),
                json!({ "type": "string", "pattern": "^[A-Z]{2}$" }),
                [false, false, false],
            ),
            (
                "identical",
                object(json!({ "a": s }), &["a"], true),
                object(json!({ "a": s }), &["a"], true),
                [true, true, true],
            ),
        ]
    }

    #[test]
    fn every_case_gets_its_expected_verdict_in_every_mode() {
        let mut wrong = Vec::new();
        for (case, old, new, expected) in cases() {
            let actual = verdicts(&old, &new);
            let expected = in_every_mode(expected);
            if actual != expected {
                let detail: Vec<String> = [Mode::Backward, Mode::Forward]
                    .iter()
                    .flat_map(|m| check(*m, &[(1, old.clone()), (2, new.clone())]))
                    .map(|v| v.to_string())
                    .collect();
                wrong.push(format!("{case}: expected {expected:?}, got {actual:?} (modes {:?}) {detail:?}", Mode::ALL));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn every_incompatible_case_is_explained_with_a_path_and_both_versions() {
        for (case, old, new, _) in cases() {
            for mode in Mode::ALL {
                for violation in check(mode, &[(1, old.clone()), (2, new.clone())]) {
                    let text = violation.to_string();
                    assert!(text.starts_with('$'), "{case} [{mode}]: {text}");
                    assert!(text.contains("reading data written by v"), "{case} [{mode}]: {text}");
                    assert!(!violation.detail.is_empty(), "{case} [{mode}]: {text}");
                }
            }
        }
    }

    #[test]
    fn the_transitive_modes_compare_with_every_earlier_version() {
        let s = json!({ "type": "string" });
        let i = json!({ "type": "integer" });
        let versions = [(1, s.clone()), (2, i.clone()), (3, i.clone())];
        let pairs =
            |mode| check(mode, &versions).iter().map(|v| (v.reader_version, v.writer_version)).collect::<Vec<_>>();
        assert_eq!(pairs(Mode::Backward), vec![(2, 1)]);
        assert_eq!(pairs(Mode::BackwardTransitive), vec![(2, 1), (3, 1)]);
        assert_eq!(pairs(Mode::ForwardTransitive), vec![(1, 2), (1, 3)]);
        assert_eq!(pairs(Mode::FullTransitive), vec![(2, 1), (1, 2), (3, 1), (1, 3)]);
    }

    #[test]
    fn a_violation_names_the_path_the_rule_and_both_versions() {
        let old = json!({ "type": "object", "properties": { "lines": { "type": "array", "items": { "type": "object", "properties": { "quantity": { "type": "integer" } }, "required": ["quantity"] } } } });
        let mut new = old.clone();
        new["properties"]["lines"]["items"]["properties"]["quantity"] = json!({ "type": "string" });
        let violations = check(Mode::Backward, &[(1, old), (2, new)]);
        assert_eq!(violations.len(), 1);
        assert_eq!(
            violations[0].to_string(),
            "$.lines[*].quantity: type-changed (v2 reading data written by v1): the writer may send integer, the reader accepts only string"
        );
    }
}

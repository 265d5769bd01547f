//! `orderflow replay <file or dir>`: sends sample API requests and bus events in order
//! (files sorted by path) and reports what was sent and how it was answered.
//!
//! Every file is read and checked before anything is sent, so a bad file in a folder
//! sends nothing rather than half a scenario.

use super::Context;
use super::invoke::read_json_file;
use crate::stack::StackInfo;
use crate::{CliError, Result};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A request to the HTTP API, as in `events/api/*.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiRequest {
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// A JSON value is sent as JSON; a string is sent as it is (for malformed bodies).
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

/// An event for the bus, as in `events/bus/*.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusEvent {
    pub source: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone)]
pub enum Sample {
    Api(ApiRequest),
    Bus(BusEvent),
}

/// What one replayed file got back.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub file: PathBuf,
    pub summary: String,
    pub response: serde_json::Value,
}

impl Replayed {
    /// The order id an API answer carries, if any.
    pub fn order_id(&self) -> Option<&str> {
        self.response.get("orderId").and_then(|v| v.as_str())
    }
}

pub async fn run(context: &Context, path: &Path) -> Result<Vec<Replayed>> {
    let samples = load_samples(path)?;
    context.require_reachable().await?;
    let stack = StackInfo::require(&context.clients, &context.global.stack).await?;
    let http = reqwest::Client::new();
    let mut replayed = Vec::new();
    for (file, sample) in samples {
        let outcome = match &sample {
            Sample::Api(request) => send_api(context, &stack, &http, request).await?,
            Sample::Bus(event) => send_bus(context, &stack, event).await?,
        };
        println!("{}  {}", relative(&file).display(), outcome.0);
        replayed.push(Replayed {
            file,
            summary: outcome.0,
            response: outcome.1,
        });
    }
    println!("replayed {} file(s)", replayed.len());
    Ok(replayed)
}

/// `path` relative to the current directory when it lies below it, for shorter output.
fn relative(path: &Path) -> &Path {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok())
        .unwrap_or(path)
}

/// Every sample under `path` (a file, or a folder walked in path order), checked.
pub fn load_samples(path: &Path) -> Result<Vec<(PathBuf, Sample)>> {
    let files = json_files(path)?;
    if files.is_empty() {
        return Err(CliError::Usage(format!(
            "{}: no .json files to replay",
            path.display()
        )));
    }
    files
        .into_iter()
        .map(|file| Ok((file.clone(), classify(&file, read_json_file(&file)?)?)))
        .collect()
}

fn json_files(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.exists() {
        return Err(CliError::MissingFile(path.to_path_buf()));
    }
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let entries = std::fs::read_dir(path).map_err(|e| CliError::io(path, e))?;
    for entry in entries {
        let entry_path = entry.map_err(|e| CliError::io(path, e))?.path();
        if entry_path.is_dir() {
            files.extend(json_files(&entry_path)?);
        } else if entry_path.extension().is_some_and(|ext| ext == "json") {
            files.push(entry_path);
        }
    }
    files.sort();
    Ok(files)
}

fn classify(file: &Path, value: serde_json::Value) -> Result<Sample> {
    let bad = |reason: String| CliError::BadSample {
        path: file.to_path_buf(),
        reason,
    };
    let keys = |names: &[&str]| names.iter().all(|k| value.get(k).is_some());
    if keys(&["method", "path"]) {
        return serde_json::from_value(value)
            .map(Sample::Api)
            .map_err(|e| bad(format!("not an API request sample: {e}")));
    }
    if keys(&["source", "detail-type", "detail"]) {
        return serde_json::from_value(value)
            .map(Sample::Bus)
            .map_err(|e| bad(format!("not a bus event sample: {e}")));
    }
    if value.get("Records").is_some() || value.get("requestContext").is_some() {
        return Err(bad("is a Lambda event, not something to replay; send it with `orderflow invoke <function> <file>`".into()));
    }
    Err(bad("is neither an API request ({method, path, body}) nor a bus event ({source, detail-type, detail})".into()))
}

async fn send_api(
    context: &Context,
    stack: &StackInfo,
    http: &reqwest::Client,
    request: &ApiRequest,
) -> Result<(String, serde_json::Value)> {
    let url = format!(
        "{}{}",
        stack.api_url(&context.clients.target)?,
        request.path
    );
    let method = reqwest::Method::from_bytes(request.method.to_uppercase().as_bytes())
        .map_err(|_| CliError::Usage(format!("`{}` is not an HTTP method", request.method)))?;
    let mut builder = http.request(method, &url);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    builder = match &request.body {
        Some(serde_json::Value::String(raw)) => builder
            .header("content-type", "application/json")
            .body(raw.clone()),
        Some(json) => builder.json(json),
        None => builder,
    };
    let response = builder
        .send()
        .await
        .map_err(|e| CliError::Failed(format!("{url}: {}", shared::aws::error_text(&e))))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text.clone()));
    Ok((
        format!(
            "{} {} -> {} {}",
            request.method,
            request.path,
            status.as_u16(),
            text
        ),
        body,
    ))
}

async fn send_bus(
    context: &Context,
    stack: &StackInfo,
    event: &BusEvent,
) -> Result<(String, serde_json::Value)> {
    let bus = stack.output("EventBusName")?;
    let entry = PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(&event.source)
        .detail_type(&event.detail_type)
        .detail(event.detail.to_string())
        .build();
    let output = context
        .clients
        .eventbridge()
        .put_events()
        .entries(entry)
        .send()
        .await
        .map_err(|e| CliError::aws("PutEvents", e))?;
    let result = output.entries().first();
    let summary = match result.and_then(|r| r.error_code()) {
        Some(code) => format!(
            "{} to {bus} -> refused: {code} {}",
            event.detail_type,
            result.and_then(|r| r.error_message()).unwrap_or("")
        ),
        None => format!(
            "{} to {bus} -> event {}",
            event.detail_type,
            result.and_then(|r| r.event_id()).unwrap_or("?")
        ),
    };
    Ok((summary, serde_json::Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn it_tells_a_lambda_event_from_a_replayable_sample() {
        let error = classify(Path::new("x.json"), json!({ "Records": [] })).unwrap_err();
        assert!(error.to_string().contains("orderflow invoke"), "{error}");
        assert!(matches!(
            classify(
                Path::new("a.json"),
                json!({ "method": "GET", "path": "/orders/1" })
            ),
            Ok(Sample::Api(_))
        ));
        let bus = json!({ "source": "s", "detail-type": "T", "detail": {} });
        assert!(matches!(
            classify(Path::new("b.json"), bus),
            Ok(Sample::Bus(_))
        ));
    }

    #[test]
    fn it_names_the_file_of_an_unknown_sample() {
        let error = classify(Path::new("odd.json"), json!({ "hello": 1 })).unwrap_err();
        assert!(
            error.to_string().starts_with("odd.json: is neither"),
            "{error}"
        );
    }
}

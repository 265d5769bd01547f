//! `orderflow replay <file or dir>`: sends sample API requests and bus events in order
//! (files sorted by path), reports how each was answered, then waits for every order it
//! placed to reach a final state and prints where each ended.
//!
//! Every file is read and checked before anything is sent, so a bad file in a folder
//! sends nothing rather than half a scenario. `${RUN}` in a file is replaced by an id
//! unique to the replay, so a scenario can be replayed again on the same stack without
//! meeting its own earlier customers, SKUs and stock. `"repeat": N` sends a request N
//! times (bursts), a few at a time, with `${SEQ}` replaced by the request's number.

use crate::context::Context;
use crate::project::read_json_file;
use crate::stacks::stack::StackInfo;
use crate::stacks::target::Clients;
use crate::{CliError, Result};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use services::views::OrderView;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Requests in flight at once while repeating one.
const CONCURRENCY: usize = 8;
/// Repeats above this show a progress bar instead of one line per order.
const QUIET_ABOVE: usize = 20;

/// A request to the HTTP API, as in `events/api/*.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiRequest {
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON value is sent as JSON; a string is sent as it is (for malformed bodies).
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// How many times to send it (default 1).
    #[serde(default)]
    pub repeat: Option<u32>,
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

/// What one request got back.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
    /// The `Retry-After` header in seconds, when the answer had one.
    pub retry_after: Option<u64>,
}

impl Answer {
    /// How long to wait before sending the request again, if it is worth sending again:
    /// 429 (rate limit) and 503 with `Retry-After` (load shedding) are; anything else is
    /// the answer.
    fn wait_before_retry(&self) -> Option<Duration> {
        match (self.status, self.retry_after) {
            (429, _) => Some(Duration::from_millis(500)),
            (503, Some(seconds)) => Some(Duration::from_secs(seconds).min(LONGEST_RETRY_AFTER)),
            _ => None,
        }
    }

    /// The order id an API answer carries, if any.
    pub fn order_id(&self) -> Option<&str> {
        self.body.get("orderId").and_then(|v| v.as_str())
    }
}

/// What one replayed file got back: one answer per request sent.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub file: PathBuf,
    pub answers: Vec<Answer>,
}

impl Replayed {
    pub fn order_ids(&self) -> impl Iterator<Item = &str> {
        self.answers.iter().filter_map(Answer::order_id)
    }
}

/// A new replay id: short, unique enough to keep replays apart.
pub fn new_run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

/// How a replay is sent: how many times, how fast, and whether to wait for the orders.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Requests per second at most (none: as fast as [`CONCURRENCY`] allows).
    pub rate: Option<f64>,
    /// Times the whole path is sent, each under its own run id.
    pub count: u32,
    pub wait: bool,
}

pub async fn run(context: &Context, path: &Path, pace: Pace) -> Result<Vec<OrderView>> {
    if pace.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(CliError::Usage("--rate must be a positive number of requests per second".into()));
    }
    let runs: Vec<(String, Vec<(PathBuf, Sample)>)> = (0..pace.count.max(1))
        .map(|_| {
            let run_id = new_run_id();
            load_samples(path, &run_id).map(|samples| (run_id, samples))
        })
        .collect::<Result<_>>()?;
    context.require_reachable().await?;
    let stack = context.stack_info().await?;
    let api_url = stack.api_url(&context.clients.target)?;
    let http = crate::stacks::api_key::http_client(&context.api_key()?)?;
    let pacer = pace.rate.map(Pacer::per_second);
    let target = Target { clients: &context.clients, stack: &stack, api_url, http, pacer };
    let started = Instant::now();
    let mut replayed = Vec::new();
    for (run_id, samples) in runs {
        println!("replay {run_id} of {}", relative(path).display());
        replayed.extend(send_all(&target, samples).await?);
    }
    let requests: usize = replayed.iter().map(|r| r.answers.len()).sum();
    let seconds = started.elapsed().as_secs_f64();
    println!("sent {requests} requests in {seconds:.1} s ({:.1}/s)", requests as f64 / seconds.max(1e-9));
    let wait = pace.wait;
    let order_ids: Vec<String> = replayed.iter().flat_map(|r| r.order_ids().map(str::to_string)).collect();
    if !wait || order_ids.is_empty() {
        return Ok(Vec::new());
    }
    let views = wait_for_final_states(&target.api_url, &target.http, &order_ids, Duration::ZERO).await;
    print_outcomes(&views, order_ids.len());
    Ok(views)
}

/// `replay --from-archive --since <time>`: the bus's archived events re-delivered.
pub async fn from_archive(context: &Context, since: &str) -> Result<()> {
    let since = chrono::DateTime::parse_from_rfc3339(since)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| CliError::Usage(format!("--since `{since}` is not an RFC 3339 time: {e}")))?;
    context.require_reachable().await?;
    let stack = context.stack_info().await?;
    println!("{}", crate::ops::archive::replay_since(&context.clients, &stack, since).await?);
    Ok(())
}

/// Where replays go: the stack's bus and HTTP API.
pub struct Target<'a> {
    pub clients: &'a Clients,
    pub stack: &'a StackInfo,
    pub api_url: String,
    /// Presents the API key.
    pub http: reqwest::Client,
    /// Spaces requests out to a rate, when set.
    pub pacer: Option<Pacer>,
}

/// Lets requests go at most `rate` per second, across every task that shares it.
#[derive(Debug, Clone)]
pub struct Pacer {
    interval: Duration,
    next: std::sync::Arc<tokio::sync::Mutex<tokio::time::Instant>>,
}

impl Pacer {
    pub fn per_second(rate: f64) -> Self {
        let next = std::sync::Arc::new(tokio::sync::Mutex::new(tokio::time::Instant::now()));
        Self { interval: Duration::from_secs_f64(1.0 / rate), next }
    }

    /// Waits for the next free slot.
    pub async fn wait(&self) {
        let mut next = self.next.lock().await;
        tokio::time::sleep_until(*next).await;
        *next = (*next).max(tokio::time::Instant::now() - self.interval) + self.interval;
    }
}

/// Sends every sample in order and prints one line per file.
pub async fn send_all(target: &Target<'_>, samples: Vec<(PathBuf, Sample)>) -> Result<Vec<Replayed>> {
    let http = target.http.clone();
    let mut replayed = Vec::new();
    for (file, sample) in samples {
        let answers = match &sample {
            Sample::Api(request) => send_api_repeatedly(&target.api_url, &http, target.pacer.as_ref(), request).await?,
            Sample::Bus(event) => {
                if let Some(pacer) = &target.pacer {
                    pacer.wait().await;
                }
                vec![send_bus(target, event).await?]
            }
        };
        println!("{}  {}", relative(&file).display(), describe(&sample, &answers));
        replayed.push(Replayed { file, answers });
    }
    Ok(replayed)
}

fn describe(sample: &Sample, answers: &[Answer]) -> String {
    let what = match sample {
        Sample::Api(request) => format!("{} {}", request.method, request.path),
        Sample::Bus(event) => format!("{} to the bus", event.detail_type),
    };
    if let [answer] = answers {
        return format!("{what} -> {} {}", answer.status, answer.body);
    }
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for answer in answers {
        *statuses.entry(answer.status).or_default() += 1;
    }
    let counts: Vec<String> = statuses.iter().map(|(status, n)| format!("{status} x{n}")).collect();
    format!("{what} x{} -> {}", answers.len(), counts.join(", "))
}

/// Every sample under `path` (a file, or a folder walked in path order), checked, with
/// `${RUN}` replaced by `run_id`.
pub fn load_samples(path: &Path, run_id: &str) -> Result<Vec<(PathBuf, Sample)>> {
    let files = json_files(path)?;
    if files.is_empty() {
        return Err(CliError::Usage(format!("{}: no .json files to replay", path.display())));
    }
    files
        .into_iter()
        .map(|file| {
            let value = read_json_file(&file)?;
            let text = value.to_string().replace("${RUN}", run_id);
            let value = serde_json::from_str(&text)
                .map_err(|e| CliError::BadJson { path: file.clone(), reason: e.to_string() })?;
            Ok((file.clone(), classify(&file, value)?))
        })
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
    let bad = |reason: String| CliError::BadSample { path: file.to_path_buf(), reason };
    let keys = |names: &[&str]| names.iter().all(|k| value.get(k).is_some());
    if keys(&["method", "path"]) {
        return serde_json::from_value(value)
            .map(Sample::Api)
            .map_err(|e| bad(format!("not an API request sample: {e}")));
    }
    if keys(&["source", "detail-type", "detail"]) {
        return serde_json::from_value(value).map(Sample::Bus).map_err(|e| bad(format!("not a bus event sample: {e}")));
    }
    if value.get("Records").is_some() || value.get("requestContext").is_some() {
        return Err(bad(
            "is a Lambda event, not something to replay; send it with `orderflow invoke <function> <file>`".into(),
        ));
    }
    Err(bad("is neither an API request ({method, path, body}) nor a bus event ({source, detail-type, detail})".into()))
}

async fn send_api_repeatedly(
    api_url: &str,
    http: &reqwest::Client,
    pacer: Option<&Pacer>,
    request: &ApiRequest,
) -> Result<Vec<Answer>> {
    let total = request.repeat.unwrap_or(1).max(1) as usize;
    let progress = (total > QUIET_ABOVE).then(|| progress_bar(total as u64, "sending"));
    let mut answers = Vec::with_capacity(total);
    let mut in_flight = tokio::task::JoinSet::new();
    for seq in 0..total {
        if in_flight.len() >= CONCURRENCY
            && let Some(done) = in_flight.join_next().await
        {
            answers.push(done.map_err(|e| CliError::Failed(e.to_string()))??);
            progress.iter().for_each(|p| p.inc(1));
        }
        if let Some(pacer) = pacer {
            pacer.wait().await;
        }
        let (api_url, http, request) = (api_url.to_string(), http.clone(), numbered(request, seq)?);
        in_flight.spawn(async move { send_api(&api_url, &http, &request).await });
    }
    while let Some(done) = in_flight.join_next().await {
        answers.push(done.map_err(|e| CliError::Failed(e.to_string()))??);
        progress.iter().for_each(|p| p.inc(1));
    }
    progress.iter().for_each(ProgressBar::finish_and_clear);
    Ok(answers)
}

/// The request with `${SEQ}` replaced by its number in a repeat (0, 1, ...).
fn numbered(request: &ApiRequest, seq: usize) -> Result<ApiRequest> {
    let mut request = request.clone();
    request.path = request.path.replace("${SEQ}", &seq.to_string());
    if let Some(body) = &request.body {
        let text = body.to_string().replace("${SEQ}", &seq.to_string());
        request.body = Some(serde_json::from_str(&text).map_err(|e| CliError::Failed(e.to_string()))?);
    }
    Ok(request)
}

/// Sends one request as a well-behaved client does: over the key's rate limit (429) it
/// waits half a second, and refused at the door while the saga is behind (503 with
/// `Retry-After`) it waits as long as the API asks, then sends it again; a 503 without
/// `Retry-After` is an outage and is reported at once.
async fn send_api(api_url: &str, http: &reqwest::Client, request: &ApiRequest) -> Result<Answer> {
    let started = Instant::now();
    for _ in 0..MAX_RETRIES {
        let answer = send_api_once(api_url, http, request).await?;
        let Some(wait) = answer.wait_before_retry() else { return Ok(answer) };
        if started.elapsed() + wait > RETRY_PATIENCE {
            return Ok(answer);
        }
        tokio::time::sleep(wait + Duration::from_millis(rand_jitter_ms())).await;
    }
    send_api_once(api_url, http, request).await
}

/// How often a refused request is sent again before its refusal is reported.
const MAX_RETRIES: u32 = 200;
/// How long a request may keep being refused (429 or 503) before the refusal is reported.
const RETRY_PATIENCE: Duration = Duration::from_secs(180);
/// The most a `Retry-After` is honoured for, whatever the server says.
const LONGEST_RETRY_AFTER: Duration = Duration::from_secs(30);

fn rand_jitter_ms() -> u64 {
    u64::from(uuid::Uuid::new_v4().as_bytes()[0]) * 2
}

async fn send_api_once(api_url: &str, http: &reqwest::Client, request: &ApiRequest) -> Result<Answer> {
    let url = format!("{api_url}{}", request.path);
    let method = reqwest::Method::from_bytes(request.method.to_uppercase().as_bytes())
        .map_err(|_| CliError::Usage(format!("`{}` is not an HTTP method", request.method)))?;
    let mut builder = http.request(method, &url);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    builder = match &request.body {
        Some(serde_json::Value::String(raw)) => builder.header("content-type", "application/json").body(raw.clone()),
        Some(json) => builder.json(json),
        None => builder,
    };
    let response =
        builder.send().await.map_err(|e| CliError::Failed(format!("{url}: {}", toolkit::aws::error_text(&e))))?;
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()?.trim().parse().ok());
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    Ok(Answer { status, body, retry_after })
}

async fn send_bus(target: &Target<'_>, event: &BusEvent) -> Result<Answer> {
    let bus = target.stack.output("EventBusName")?;
    let entry = PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(&event.source)
        .detail_type(&event.detail_type)
        .detail(event.detail.to_string())
        .build();
    let output = target
        .clients
        .eventbridge()
        .put_events()
        .entries(entry)
        .send()
        .await
        .map_err(|e| CliError::aws("PutEvents", e))?;
    let result = output.entries().first();
    Ok(match result.and_then(|r| r.error_code()) {
        Some(code) => Answer {
            status: 400,
            body: serde_json::json!({ "error": code, "message": result.and_then(|r| r.error_message()) }),
            retry_after: None,
        },
        None => Answer {
            status: 200,
            body: serde_json::json!({ "eventId": result.and_then(|r| r.event_id()) }),
            retry_after: None,
        },
    })
}

/// Polls the read model until every order is final or the time is up (60 s plus a little
/// per order, plus `extra`); returns the last view of each order found.
pub async fn wait_for_final_states(
    api_url: &str,
    http: &reqwest::Client,
    order_ids: &[String],
    extra: Duration,
) -> Vec<OrderView> {
    let deadline =
        Instant::now() + extra + Duration::from_secs(60) + Duration::from_millis(100) * order_ids.len() as u32;
    let progress = (order_ids.len() > QUIET_ABOVE).then(|| progress_bar(order_ids.len() as u64, "settling"));
    let mut views: BTreeMap<String, OrderView> = BTreeMap::new();
    let mut pending: Vec<String> = order_ids.to_vec();
    while !pending.is_empty() && Instant::now() < deadline {
        let mut still_pending = Vec::new();
        for chunk in pending.chunks(CONCURRENCY) {
            let mut in_flight = tokio::task::JoinSet::new();
            for id in chunk {
                let (http, url, id) = (http.clone(), format!("{api_url}/orders/{id}"), id.clone());
                in_flight.spawn(async move { (id, fetch_view(&http, &url).await) });
            }
            while let Some(Ok((id, view))) = in_flight.join_next().await {
                let terminal = view.as_ref().is_some_and(|v| v.status.is_terminal());
                if let Some(view) = view {
                    views.insert(id.clone(), view);
                }
                if terminal {
                    progress.iter().for_each(|p| p.inc(1));
                } else {
                    still_pending.push(id);
                }
            }
        }
        pending = still_pending;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    progress.iter().for_each(ProgressBar::finish_and_clear);
    order_ids.iter().filter_map(|id| views.remove(id)).collect()
}

async fn fetch_view(http: &reqwest::Client, url: &str) -> Option<OrderView> {
    let response = http.get(url).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

/// One line per order (or a summary for bursts), and the count per final status.
pub fn print_outcomes(views: &[OrderView], placed: usize) {
    if views.len() <= QUIET_ABOVE {
        for view in views {
            let path: Vec<&str> = view.timeline.iter().map(|t| t.event_type.as_str()).collect();
            let reason = view.status_reason.clone().or_else(|| view.rejection_reasons.first().cloned());
            let reason = reason.map(|r| format!("  ({r})")).unwrap_or_default();
            println!("  order {} {:?}: {}{reason}", view.order_id, view.status, path.join(" -> "));
        }
    }
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for view in views {
        let key =
            if view.status.is_terminal() { format!("{:?}", view.status) } else { format!("still {:?}", view.status) };
        *by_status.entry(key).or_default() += 1;
    }
    let missing = placed - views.len();
    let mut summary: Vec<String> = by_status.iter().map(|(status, n)| format!("{status} {n}")).collect();
    if missing > 0 {
        summary.push(format!("not found {missing}"));
    }
    println!("{placed} order(s) placed: {}", summary.join(", "));
}

pub fn progress_bar(length: u64, message: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(length).with_message(message);
    if let Ok(style) = ProgressStyle::with_template("{msg:>9} [{bar:40}] {pos}/{len} {per_sec}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// `path` relative to the current directory when it lies below it, for shorter output.
fn relative(path: &Path) -> &Path {
    std::env::current_dir().ok().and_then(|cwd| path.strip_prefix(cwd).ok()).unwrap_or(path)
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
            classify(Path::new("a.json"), json!({ "method": "GET", "path": "/orders/1" })),
            Ok(Sample::Api(_))
        ));
        let bus = json!({ "source": "s", "detail-type": "T", "detail": {} });
        assert!(matches!(classify(Path::new("b.json"), bus), Ok(Sample::Bus(_))));
    }

    #[test]
    fn it_names_the_file_of_an_unknown_sample() {
        let error = classify(Path::new("odd.json"), json!({ "hello": 1 })).unwrap_err();
        assert!(error.to_string().starts_with("odd.json: is neither"), "{error}");
    }

    #[test]
    fn it_gives_each_replay_its_own_names() {
        let dir = std::env::temp_dir().join(format!("orderflow-run-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("a.json"),
            r#"{"method":"POST","path":"/inventory/SKU-${RUN}/stock","body":{"quantity":1}}"#,
        )
        .unwrap();
        let samples = load_samples(&dir, "abc123").unwrap();
        let Sample::Api(request) = &samples[0].1 else { panic!("an API sample") };
        assert_eq!(request.path, "/inventory/SKU-abc123/stock");
    }

    #[test]
    fn it_sends_again_only_what_the_api_asked_to_be_sent_again() {
        let answer = |status, retry_after| Answer { status, body: json!({}), retry_after };
        assert_eq!(answer(429, None).wait_before_retry(), Some(Duration::from_millis(500)));
        assert_eq!(answer(503, Some(3)).wait_before_retry(), Some(Duration::from_secs(3)));
        assert_eq!(answer(503, Some(86_400)).wait_before_retry(), Some(LONGEST_RETRY_AFTER));
        assert_eq!(answer(503, None).wait_before_retry(), None, "an outage is reported, not retried");
        assert_eq!(answer(400, Some(1)).wait_before_retry(), None);
        assert_eq!(answer(202, None).wait_before_retry(), None);
    }
}

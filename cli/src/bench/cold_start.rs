//! P1 and P4: each function binary spawned against the local Runtime API: spawn to first
//! response (cold), then warm invocations, binary size and peak resident memory.
//!
//! Events are chosen so that the handler does no network I/O (an empty batch; an API
//! request without a key, answered 401), so the figure is the process's own start-up.
//! The sweeper does DynamoDB I/O on every invocation and is left out.

use super::runtime_api::RuntimeApi;
use crate::project::Project;
use crate::{CliError, Result};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ColdStart {
    pub function: String,
    pub binary: String,
    pub size_bytes: u64,
    pub zip_bytes: Option<u64>,
    pub cold_median_ms: f64,
    pub cold_p95_ms: f64,
    pub warm_median_ms: f64,
    pub peak_rss_kb: u64,
}

/// Functions measured, with an event each handles without I/O.
fn event_for(function: &str, project: &Project) -> Option<String> {
    match function {
        "timeout-sweeper" => None,
        "api-ingress" => {
            let path = project.events_dir().join("aws/apigw-v2-get-order.json");
            let mut event: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
            event["headers"].as_object_mut()?.remove("x-api-key");
            Some(event.to_string())
        }
        _ => Some(r#"{"Records":[]}"#.to_string()),
    }
}

/// The binary to measure: the deploy artifact (cargo-lambda's zip, unpacked), else cargo's
/// release build, else the debug build.
fn binary_of(project: &Project, function: &str) -> Option<PathBuf> {
    let target = project.target_dir();
    let zip = crate::stacks::build::Arch::host().release_zip(project, function);
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    // A zip older than the debug build is stale: it would measure old code.
    let stale = modified(&zip) < modified(&target.join("debug").join(function));
    if !stale && let Some(unpacked) = unpack(project, function, &zip) {
        return Some(unpacked);
    }
    [target.join("release").join(function), target.join("debug").join(function)].into_iter().find(|p| p.is_file())
}

/// The `bootstrap` of a deploy zip, unpacked under `.orderflow/bench/<function>/`.
fn unpack(project: &Project, function: &str, zip: &std::path::Path) -> Option<PathBuf> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).ok()?).ok()?;
    let mut entry = archive.by_name("bootstrap").ok()?;
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).ok()?;
    let dir = project.state_dir().join("bench").join(function);
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join("bootstrap");
    std::fs::write(&path, bytes).ok()?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).ok()?;
    Some(path)
}

pub async fn measure(project: &Project, functions: &[String], spawns: usize, warm: usize) -> Result<Vec<ColdStart>> {
    let mut results = Vec::new();
    for function in functions {
        let (Some(event), Some(binary)) = (event_for(function, project), binary_of(project, function)) else {
            continue;
        };
        results.push(measure_one(project, function, &binary, &event, spawns, warm).await?);
    }
    Ok(results)
}

/// The cold-start floor (`build::FLOOR`), measured as the functions are, when its release
/// zip was built (`orderflow bench --build`).
pub async fn measure_floor(project: &Project, spawns: usize, warm: usize) -> Result<Option<ColdStart>> {
    let floor = crate::stacks::build::FLOOR;
    let zip = crate::stacks::build::Arch::host().release_zip(project, floor);
    let Some(binary) = zip.is_file().then(|| unpack(project, floor, &zip)).flatten() else {
        return Ok(None);
    };
    measure_one(project, floor, &binary, r#"{"ping":1}"#, spawns, warm).await.map(Some)
}

async fn measure_one(
    project: &Project,
    function: &str,
    binary: &PathBuf,
    event: &str,
    spawns: usize,
    warm: usize,
) -> Result<ColdStart> {
    let mut colds = Vec::new();
    let (mut warms, mut peak) = (Vec::new(), 0);
    for spawn in 0..spawns.max(1) {
        let invocations = if spawn == 0 { 1 + warm } else { 1 };
        let (cold, warm_times, rss) = run_once(binary, function, event, invocations).await?;
        colds.push(cold);
        warms.extend(warm_times);
        peak = peak.max(rss);
    }
    let zip = crate::stacks::build::Arch::host().release_zip(project, function);
    Ok(ColdStart {
        function: function.to_string(),
        binary: binary.display().to_string(),
        size_bytes: std::fs::metadata(binary).map(|m| m.len()).unwrap_or(0),
        // The zip's size only when its bootstrap is what was measured.
        zip_bytes: binary
            .starts_with(project.state_dir())
            .then(|| std::fs::metadata(zip).ok().map(|m| m.len()))
            .flatten(),
        cold_median_ms: percentile(&mut colds, 0.5),
        cold_p95_ms: percentile(&mut colds, 0.95),
        warm_median_ms: percentile(&mut warms, 0.5),
        peak_rss_kb: peak,
    })
}

/// Spawns the binary, serves `invocations` events; returns the cold time (spawn to first
/// response), each warm invocation's time, and the process's peak resident memory.
async fn run_once(binary: &PathBuf, function: &str, event: &str, invocations: usize) -> Result<(f64, Vec<f64>, u64)> {
    let api =
        RuntimeApi::start(vec![event.to_string(); invocations]).await.map_err(|e| CliError::Failed(e.to_string()))?;
    let spawned = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .envs(function_env(function, &api.address))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| CliError::Failed(format!("{}: {e}", binary.display())))?;
    let answered = api.wait_for(invocations, Duration::from_secs(20)).await;
    let rss = child.id().map_or(0, peak_rss_kb);
    let _ = child.kill().await;
    let timeline = api.timeline().await;
    if !answered || timeline.errors > 0 || timeline.answered.is_empty() {
        return Err(CliError::Failed(format!(
            "{function} did not answer its benchmark events ({} errors)",
            timeline.errors
        )));
    }
    let cold = ms(timeline.answered[0] - spawned);
    let warm = timeline.handed.iter().zip(&timeline.answered).skip(1).map(|(h, a)| ms(*a - *h)).collect();
    Ok((cold, warm, rss))
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0)
}

pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[rank]
}

/// What Lambda gives a function, plus every variable our functions require (dummy values:
/// the benchmark events touch no AWS service; the endpoint is a closed local port).
fn function_env(function: &str, runtime_api: &str) -> Vec<(String, String)> {
    let key = services::access::key_hash("bench");
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", function.to_string()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{function}")),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "bench".into()),
        ("AWS_SECRET_ACCESS_KEY", "bench".into()),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9".into()),
        ("RUST_LOG", "warn".into()),
        ("EVENT_STORE_TABLE", "bench".into()),
        ("ORDER_VIEW_TABLE", "bench".into()),
        ("ANALYTICS_TABLE", "bench".into()),
        ("NOTIFICATIONS_TABLE", "bench".into()),
        ("IDEMPOTENCY_TABLE", "bench".into()),
        ("RATE_LIMIT_TABLE", "bench".into()),
        ("API_KEYS", format!("bench:{key}")),
        ("DEAD_LETTER_QUEUE_URL", "http://127.0.0.1:9/000000000000/bench".into()),
        ("EVENT_BUS_NAME", "bench".into()),
        ("PAYMENT_WEBHOOK_SECRET", "bench".into()),
        ("WEBHOOK_SECRET", "bench".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

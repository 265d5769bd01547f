//! `orderflow test`: every test, as CI runs it. Formatting and lints, the template lint,
//! unit and handler tests, and the end-to-end tests against a private emulator that is
//! started on a free port, deployed with debug builds, and always stopped afterwards.

use super::Global;
use crate::local::emulator::{ManagedEmulator, StopOnDrop, ensure_tools};
use crate::project::Project;
use crate::stacks::build::{self, Profile};
use crate::stacks::deploy::{
    ADMISSION_PARAMETER, DeployRequest, EMULATOR_ADMISSION_BACKLOG_LIMIT, TEST_ADMISSION_WAIT_LIMIT_SECONDS,
    TEST_ORDER_TIMEOUT_SECONDS, WAIT_LIMIT_PARAMETER, deploy,
};
use crate::stacks::target::{Clients, Target};
use crate::test_lanes;
use crate::{CliError, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Instant;
use tokio::process::Command;

/// The tests' own key: high enough that bursts are limited by the emulator, not by us.
pub const TEST_RATE_LIMIT_PER_SECOND: u32 = 2_000;
/// A second key with a low limit, for the rate-limit test (F8).
pub const THROTTLED_RATE_LIMIT_PER_SECOND: u32 = 5;

/// When the test command started: each step prints how far in it begins.
static STARTED: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

pub async fn run(global: Global) -> Result<()> {
    let project = Project::locate()?;
    let started = *STARTED.get_or_init(Instant::now);
    let target = match global.target() {
        Target::Emulator { managed_port: Some(_), .. } => Target::managed(crate::local::emulator::free_port()?),
        Target::Aws { .. } => {
            return Err(CliError::Usage("tests run on an emulator, not on AWS".into()));
        }
        external => external,
    };
    let emulator = match &target {
        Target::Emulator { managed_port: Some(port), .. } => Some(StopOnDrop(ManagedEmulator::new(&project, *port))),
        _ => None,
    };
    let outcome = tokio::select! {
        outcome = all_steps(&project, &global, &target, emulator.as_ref()) => outcome,
        signal = interrupted() => Err(CliError::Failed(format!("interrupted by {signal}"))),
    };
    drop(emulator); // stops the private emulator, on success, failure or interruption alike
    let seconds = started.elapsed().as_secs();
    match outcome {
        Ok(()) => {
            println!("\nall tests passed in {} min {} s", seconds / 60, seconds % 60);
            Ok(())
        }
        Err(error) => {
            Err(CliError::Failed(format!("tests failed after {} min {} s: {error}", seconds / 60, seconds % 60)))
        }
    }
}

/// The pinned tools the checks run, by path.
struct Tools {
    checkov: PathBuf,
    sam: PathBuf,
    asyncapi: PathBuf,
    chromium: PathBuf,
}

/// Installs what is missing (virtualenvs, npm packages, Chromium): mostly downloads, so it
/// runs while clippy compiles (on a fresh machine the two overlap for minutes).
fn install_tools(project: &Project) -> Result<Tools> {
    ensure_tools(project)?;
    Ok(Tools {
        checkov: crate::local::emulator::ensure_checkov(project)?,
        sam: crate::local::emulator::ensure_sam(project)?,
        asyncapi: crate::local::emulator::ensure_asyncapi_parser(project)?,
        chromium: crate::local::emulator::ensure_chromium(project)?,
    })
}

async fn all_steps(project: &Project, global: &Global, target: &Target, emulator: Option<&StopOnDrop>) -> Result<()> {
    let started = *STARTED.get_or_init(Instant::now);
    step(project, "formatting", "cargo", &["fmt", "--all", "--", "--check"], &[]).await?;
    let mut lints = lints_beside(project);
    // The functions' build while the tools install (mostly downloads).
    let installing = {
        let project = project.clone();
        tokio::task::spawn_blocking(move || install_tools(&project))
    };
    let at = started.elapsed().as_secs();
    eprintln!("\n== the functions' build, the tools installing beside it (at {} min {} s)", at / 60, at % 60);
    let building = {
        let project = project.clone();
        tokio::task::spawn_blocking(move || build::build(&project, Profile::Debug))
    };
    // Both waited for, whatever either says: nothing is left running behind a failure.
    let (tools, zips) = (installing.await, building.await);
    let tools = tools.map_err(|e| CliError::Failed(format!("installing the tools: {e}")))??;
    let zips = zips.map_err(|e| CliError::Failed(format!("building the functions: {e}")))??;
    static_checks(project, &tools).await?;
    // The tests compile while the emulator starts and the stack deploys.
    let at = started.elapsed().as_secs();
    eprintln!("\n== tests' build (at {} min {} s): cargo test --workspace --no-run", at / 60, at % 60);
    let tests_built = tokio::spawn({
        let project = project.clone();
        async move { test_lanes::build(&project).await }
    });

    if let Some(StopOnDrop(emulator)) = emulator {
        emulator.start().await?;
        eprintln!("private emulator on {} (log {})", emulator.endpoint(), emulator.log_file().display());
    }
    let endpoint = target.endpoint().unwrap_or_default().to_string();
    crate::local::emulator::check_health(&endpoint)
        .await
        .map_err(|reason| CliError::EmulatorUnreachable { endpoint: endpoint.clone(), reason })?;
    let clients = Clients::new(target.clone()).await;
    let receiver = crate::local::webhook_receiver::start(&project.state_dir().join("test-webhooks.jsonl")).await?;
    let template = std::fs::read_to_string(project.template()).map_err(|e| CliError::io(project.template(), e))?;
    // A timeout long enough for the burst test's orders, short enough to test timeouts.
    let new_key = || format!("ofk_{}", crate::ops::replay::new_run_id());
    let (api_key, throttled_key, admin_key) = (new_key(), new_key(), new_key());
    let api_keys = [
        crate::stacks::api_key::parameter_entry("tests", &api_key, Some(TEST_RATE_LIMIT_PER_SECOND)),
        crate::stacks::api_key::parameter_entry("throttled", &throttled_key, Some(THROTTLED_RATE_LIMIT_PER_SECOND)),
        crate::stacks::api_key::admin_parameter_entry("ops", &admin_key, Some(TEST_RATE_LIMIT_PER_SECOND)),
    ]
    .join(",");
    let parameters = BTreeMap::from([
        ("EmulatorEndpoint".to_string(), endpoint.clone()),
        ("ApiKeys".to_string(), api_keys),
        // The fault matrix runs on this stack: faults hit only orders carrying a marker.
        ("FaultInjection".to_string(), "on".to_string()),
        // Failed and crashed batches come back sooner, so the fault tests finish sooner.
        ("QueueVisibilityTimeout".to_string(), "30".to_string()),
        ("OrderTimeoutSeconds".to_string(), TEST_ORDER_TIMEOUT_SECONDS.to_string()),
        (ADMISSION_PARAMETER.to_string(), EMULATOR_ADMISSION_BACKLOG_LIMIT.to_string()),
        (WAIT_LIMIT_PARAMETER.to_string(), TEST_ADMISSION_WAIT_LIMIT_SECONDS.to_string()),
        ("WebhookUrl".to_string(), receiver.url.clone()),
        // Each function logs each distinct AWS call once: checked against its policy below.
        ("RecordAwsCalls".to_string(), "distinct".to_string()),
    ]);
    let stack = deploy(
        &clients,
        DeployRequest {
            stack: &global.stack,
            template: &template,
            zips: &zips,
            parameters,
            first_deploy: BTreeMap::new(),
        },
    )
    .await?;
    // The stack generated its webhook secrets: the receiver checks with one, the tests
    // sign the provider's callbacks with the other.
    receiver.set_secret(&stack.secret(&clients, "WebhookSecretArn").await?);
    let payment_secret = stack.secret(&clients, "PaymentWebhookSecretArn").await?;

    let webhook_log = receiver.log.display().to_string();
    let throttled_rate = THROTTLED_RATE_LIMIT_PER_SECOND.to_string();
    let chromium = tools.chromium.display().to_string();
    let reports = project.state_dir().join("test-reports");
    let _ = std::fs::remove_dir_all(&reports);
    let report_dir = reports.display().to_string();
    let emulator_log = emulator.map(|StopOnDrop(e)| e.log_file().display().to_string()).unwrap_or_default();
    let env = [
        ("ORDERFLOW_ENDPOINT", endpoint.as_str()),
        ("ORDERFLOW_STACK", global.stack.as_str()),
        ("ORDERFLOW_WEBHOOK_LOG", webhook_log.as_str()),
        ("ORDERFLOW_PAYMENT_WEBHOOK_SECRET", payment_secret.as_str()),
        ("ORDERFLOW_API_KEY", api_key.as_str()),
        ("ORDERFLOW_ADMIN_API_KEY", admin_key.as_str()),
        ("ORDERFLOW_THROTTLED_API_KEY", throttled_key.as_str()),
        ("ORDERFLOW_THROTTLED_RATE", &throttled_rate),
        // Where the functions' log lines go (empty on an emulator the tests did not start).
        ("ORDERFLOW_EMULATOR_LOG", &emulator_log),
        ("ORDERFLOW_REPORT_DIR", &report_dir),
        ("ORDERFLOW_CHROMIUM", &chromium),
    ];
    let tests_started_ms = chrono::Utc::now().timestamp_millis();
    let binaries = tests_built.await.map_err(|e| CliError::Failed(format!("building the tests: {e}")))??;
    let tested = run_tests(project, binaries, &env, started).await;
    if !lints.task.is_finished() {
        eprintln!("\n== waiting for the lints (cargo {})", CLIPPY.join(" "));
    }
    let linted = lints.finished().await;
    match (tested, linted) {
        (Err(tests), Err(lints)) => return Err(CliError::Failed(format!("{tests}; {lints}"))),
        (Err(failed), Ok(())) | (Ok(()), Err(failed)) => return Err(failed),
        (Ok(()), Ok(())) => {}
    }
    print_reports(&reports);
    eprintln!("\n== least privilege: the calls each function made during the tests against its policy");
    super::privileges::check(&clients, &stack, project, tests_started_ms).await
}

/// The template's lint, security checks and SAM validation, the policies' lint, the event
/// catalog and the schema registry.
async fn static_checks(project: &Project, tools: &Tools) -> Result<()> {
    let cfn_lint = project.venv_bin("cfn-lint").display().to_string();
    let template = project.template().display().to_string();
    step(project, "template lint", &cfn_lint, &[&template], &[]).await?;
    let checkov = tools.checkov.display().to_string();
    let config = project.root().join("infra").join("checkov.yaml").display().to_string();
    step(project, "template security checks", &checkov, &["--config-file", &config, "--file", &template], &[]).await?;
    super::privileges::lint(project)?;
    let sam = tools.sam.display().to_string();
    let sam_validate = ["validate", "--lint", "--template", &template, "--region", "us-east-1"];
    step(project, "SAM template validation", &sam, &sam_validate, &[("SAM_CLI_TELEMETRY", "0")]).await?;
    let asyncapi = tools.asyncapi.display().to_string();
    let catalog = project.root().join(crate::generate::catalog::CATALOG_FILE).display().to_string();
    step(project, "event catalog (the AsyncAPI parser)", "node", &[&asyncapi, &catalog], &[]).await?;
    eprintln!("\n== schemas: orderflow schema check");
    super::schema::run(&super::schema::Action::Check, None)
}

/// The clippy command line.
const CLIPPY: [&str; 6] = ["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"];

/// Clippy beside everything else, at the lowest CPU priority, in a target directory of its
/// own: a check shares no compiled unit with a build, so run in line it held the builds
/// and the tests back by 3 min (fresh clone, 2 cores), and sharing the directory would
/// make the builds wait for its lock. Its output is printed whole when it ends.
fn lints_beside(project: &Project) -> Lints {
    let (root, target_dir) = (project.root().to_path_buf(), project.target_dir().join("clippy"));
    let child = Command::new("nice")
        .args(["-n", "19", "cargo"])
        .args(CLIPPY)
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(&root)
        // Its own group, so that stopping it stops the compilers cargo started too.
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let group = child.as_ref().ok().and_then(tokio::process::Child::id);
    let task = tokio::spawn(async move {
        let begun = Instant::now();
        let child = child.map_err(|e| CliError::Failed(format!("lints: cannot run cargo clippy: {e}")))?;
        let output =
            child.wait_with_output().await.map_err(|e| CliError::Failed(format!("lints: cargo clippy: {e}")))?;
        let at = STARTED.get().map_or(0, |started| started.elapsed().as_secs());
        let verdict = if output.status.success() { "passed" } else { "FAILED" };
        eprintln!(
            "\n-- lints (cargo {}) {verdict} in {:.1} s (ended at {} min {} s)",
            CLIPPY.join(" "),
            begun.elapsed().as_secs_f64(),
            at / 60,
            at % 60
        );
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        match output.status.success() {
            true => Ok(()),
            false => Err(CliError::Failed(format!("lints failed ({}); the output is above", output.status))),
        }
    });
    Lints { group, task }
}

/// The lints running beside the rest. Dropped before they end (a failure elsewhere, an
/// interruption), it stops them, cargo's compilers included: nothing is left running.
struct Lints {
    group: Option<u32>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl Lints {
    /// Waits for the lints' verdict.
    async fn finished(&mut self) -> Result<()> {
        let verdict = (&mut self.task).await.map_err(|e| CliError::Failed(format!("the lints: {e}")))?;
        self.group = None; // ended: its group id may be reused
        verdict
    }
}

impl Drop for Lints {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(group) = self.group.take() {
            crate::local::emulator::signal_group(group, "KILL");
        }
    }
}

/// Unit, handler and end-to-end tests: every test binary, in the phases and lanes of
/// [`test_lanes::plan`], then the documentation's examples.
async fn run_tests(
    project: &Project,
    binaries: Vec<test_lanes::TestBinary>,
    env: &[(&str, &str)],
    started: Instant,
) -> Result<()> {
    let mut failed = test_lanes::run(test_lanes::plan(binaries), env, started).await;
    if let Err(error) = step(project, "documentation examples", "cargo", &["test", "--workspace", "--doc"], env).await {
        failed.push(error.to_string());
    }
    match failed.is_empty() {
        true => Ok(()),
        false => Err(CliError::Failed(format!("tests failed: {}; their output is above", failed.join("; ")))),
    }
}

/// The figures the tests measured (e.g. the burst summary), which passing tests cannot print.
fn print_reports(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut files: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    for file in files {
        if let Ok(text) = std::fs::read_to_string(&file) {
            eprintln!("\n== measured: {}\n{}", file.file_stem().unwrap_or_default().to_string_lossy(), text.trim_end());
        }
    }
}

async fn step(project: &Project, name: &str, program: &str, args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let at = STARTED.get().map_or(0, |started| started.elapsed().as_secs());
    eprintln!("\n== {name} (at {} min {} s): {program} {}", at / 60, at % 60, args.join(" "));
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(project.root())
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|e| CliError::Failed(format!("{name}: cannot run {program}: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(CliError::Failed(format!("{name} failed ({status}); the output is above")))
    }
}

async fn interrupted() -> &'static str {
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "Ctrl-C",
        _ = term.recv() => "SIGTERM",
    }
}

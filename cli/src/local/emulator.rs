//! The local emulator: MiniStack from PyPI, installed into the project's virtualenv,
//! run on 127.0.0.1 in the background, and stopped by the PID recorded at start.

use crate::project::Project;
use crate::{CliError, Result};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const HEALTH_PATHS: [&str; 2] = ["/_ministack/health", "/_localstack/health"];

/// Installs the pinned tools (cli/requirements.txt) into `.orderflow/venv` unless the
/// virtualenv already has exactly these pins.
pub fn ensure_tools(project: &Project) -> Result<()> {
    ensure_venv(project, &project.venv(), &project.requirements(), "ministack")
}

/// Installs checkov (cli/requirements-checkov.txt) into its own virtualenv: its pins
/// conflict with MiniStack's (boto3), and only the test command needs it.
pub fn ensure_checkov(project: &Project) -> Result<PathBuf> {
    let venv = project.state_dir().join("checkov-venv");
    ensure_venv(project, &venv, &project.root().join("cli").join("requirements-checkov.txt"), "checkov")?;
    Ok(venv.join("bin").join("checkov"))
}

/// Installs the SAM CLI (cli/requirements-sam.txt) into its own virtualenv: it pins its own
/// boto3 and cfn-lint, apart from MiniStack's and checkov's.
pub fn ensure_sam(project: &Project) -> Result<PathBuf> {
    let venv = project.state_dir().join("sam-venv");
    ensure_venv(project, &venv, &project.root().join("cli").join("requirements-sam.txt"), "sam")?;
    Ok(venv.join("bin").join("sam"))
}

/// The files of the AsyncAPI check: its npm manifest, the lock that pins the parser and
/// everything it pulls in, and the script that runs it.
const ASYNCAPI_FILES: [&str; 3] = ["package.json", "package-lock.json", "validate.cjs"];

/// The AsyncAPI project's parser (npm, pinned by cli/asyncapi/package-lock.json) in
/// `.orderflow/asyncapi`, installed with `npm ci` unless it already holds exactly these
/// files; returns the validation script to run with `node`.
pub fn ensure_asyncapi_parser(project: &Project) -> Result<PathBuf> {
    let source = project.root().join("cli").join("asyncapi");
    let dir = project.state_dir().join("asyncapi");
    let mut digest = Sha256::new();
    for file in ASYNCAPI_FILES {
        digest.update(fs::read(source.join(file)).map_err(|e| CliError::io(source.join(file), e))?);
    }
    let wanted = hex::encode(digest.finalize());
    let stamp = dir.join("orderflow-files.sha256");
    let installed = dir.join("node_modules").join("@asyncapi").join("parser").join("package.json");
    if fs::read_to_string(&stamp).is_ok_and(|have| have.trim() == wanted) && installed.is_file() {
        return Ok(dir.join("validate.cjs"));
    }
    fs::create_dir_all(&dir).map_err(|e| CliError::io(&dir, e))?;
    for file in ASYNCAPI_FILES {
        fs::copy(source.join(file), dir.join(file)).map_err(|e| CliError::io(dir.join(file), e))?;
    }
    let log = project.state_dir().join("install.log");
    eprintln!("installing the AsyncAPI parser into {} with npm (once; under a minute)...", dir.display());
    // --ignore-scripts: the parser needs no install script (one dependency's only reports usage).
    let mut npm = Command::new("npm");
    npm.args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"]).current_dir(&dir);
    run_logged(&mut npm, &log, "npm ci (needs Node.js with npm; Debian: apt-get install nodejs npm)")?;
    fs::write(&stamp, wanted).map_err(|e| CliError::io(&stamp, e))?;
    Ok(dir.join("validate.cjs"))
}

/// Debian's `chromium` for the dashboard test: found on the PATH, else installed with
/// apt-get when running as root (as on CI), else a clear error.
pub fn ensure_chromium(project: &Project) -> Result<PathBuf> {
    let find = || {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths).map(|dir| dir.join("chromium")).find(|candidate| candidate.is_file())
        })
    };
    if let Some(found) = find() {
        return Ok(found);
    }
    let is_root = fs::read_to_string("/proc/self/status")
        .is_ok_and(|status| status.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")));
    if !is_root {
        return Err(CliError::Usage(
            "the dashboard test needs Chromium: install Debian's package (sudo apt-get install chromium)".into(),
        ));
    }
    fs::create_dir_all(project.state_dir()).map_err(|e| CliError::io(project.state_dir(), e))?;
    let log = project.state_dir().join("install.log");
    eprintln!("installing chromium with apt-get (once; a minute or two)...");
    let apt = |args: &[&str]| {
        let mut command = Command::new("apt-get");
        command.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        command
    };
    run_logged(&mut apt(&["update", "-q"]), &log, "apt-get update")?;
    run_logged(
        &mut apt(&["install", "-y", "-q", "--no-install-recommends", "chromium"]),
        &log,
        "apt-get install chromium",
    )?;
    find().ok_or_else(|| CliError::Failed("apt-get installed chromium but it is not on the PATH".into()))
}

fn ensure_venv(project: &Project, venv: &Path, requirements_file: &Path, probe: &str) -> Result<()> {
    let requirements = fs::read(requirements_file).map_err(|e| CliError::io(requirements_file, e))?;
    let stamp = venv.join("orderflow-requirements.sha256");
    let wanted = hex::encode(Sha256::digest(&requirements));
    if fs::read_to_string(&stamp).is_ok_and(|have| have.trim() == wanted) && venv.join("bin").join(probe).is_file() {
        return Ok(());
    }
    fs::create_dir_all(project.state_dir()).map_err(|e| CliError::io(project.state_dir(), e))?;
    let log = project.state_dir().join("install.log");
    eprintln!("installing {} into {} (once; about a minute)...", requirements_file.display(), venv.display());
    run_logged(Command::new("python3").args(["-m", "venv"]).arg(venv), &log, "python3 -m venv")?;
    let pip = venv.join("bin").join("pip");
    run_logged(
        Command::new(&pip).args(["install", "--disable-pip-version-check", "-r"]).arg(requirements_file),
        &log,
        "pip install",
    )?;
    fs::write(&stamp, wanted).map_err(|e| CliError::io(stamp, e))?;
    Ok(())
}

fn run_logged(command: &mut Command, log: &PathBuf, what: &str) -> Result<()> {
    let file = File::options().create(true).append(true).open(log).map_err(|e| CliError::io(log, e))?;
    let err_file = file.try_clone().map_err(|e| CliError::io(log, e))?;
    let status = command.stdout(file).stderr(err_file).status();
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(CliError::Install {
            reason: format!("{what} exited with {status}: {}", tail(log, 5)),
            log: log.clone(),
        }),
        Err(e) => Err(CliError::Install {
            reason: format!("cannot run {what}: {e} (is python3 installed?)"),
            log: log.clone(),
        }),
    }
}

/// Answers whether an AWS emulator serves `endpoint` (MiniStack or LocalStack health).
pub async fn check_health(endpoint: &str) -> std::result::Result<(), String> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().map_err(|e| e.to_string())?;
    let mut last = String::new();
    for path in HEALTH_PATHS {
        match client.get(format!("{endpoint}{path}")).send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => last = format!("{path} answered {}", response.status()),
            Err(e) => last = toolkit::aws::error_text(&e),
        }
    }
    Err(last)
}

/// The emulator this tool runs on one port: its pid and log files.
pub struct ManagedEmulator {
    project: Project,
    port: u16,
    /// Where MiniStack saves its state on a clean stop and loads it on start.
    state_dir: Option<PathBuf>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Started {
    Now { pid: u32 },
    AlreadyRunning { pid: Option<u32> },
}

impl ManagedEmulator {
    pub fn new(project: &Project, port: u16) -> Self {
        Self { project: project.clone(), port, state_dir: None }
    }

    /// An emulator that keeps its state in `dir` across a clean stop and start
    /// (MiniStack's `PERSIST_STATE`; saved only on SIGTERM).
    pub fn with_persistence(self, dir: PathBuf) -> Self {
        Self { state_dir: Some(dir), ..self }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log_file(&self) -> PathBuf {
        self.project.state_dir().join(format!("emulator-{}.log", self.port))
    }

    /// Where MiniStack unpacks each function's zip (under its TMPDIR, our state dir): about
    /// 600 MB with debug builds, removed on stop so that runs do not pile them up.
    fn code_cache(&self) -> PathBuf {
        self.project.state_dir().join(format!("ministack-provided-code-{}", self.port))
    }

    fn pid_file(&self) -> PathBuf {
        self.project.state_dir().join(format!("emulator-{}.pid", self.port))
    }

    /// The recorded PID, if that process is still a running MiniStack.
    pub fn running_pid(&self) -> Option<u32> {
        let pid: u32 = fs::read_to_string(self.pid_file()).ok()?.trim().parse().ok()?;
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        (is_alive(pid) && String::from_utf8_lossy(&cmdline).contains("ministack")).then_some(pid)
    }

    /// Starts MiniStack unless an emulator already answers on the port.
    pub async fn start(&self) -> Result<Started> {
        if check_health(&self.endpoint()).await.is_ok() {
            return Ok(Started::AlreadyRunning { pid: self.running_pid() });
        }
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        if TcpStream::connect_timeout(&address, Duration::from_millis(300)).is_ok() {
            return Err(CliError::PortTaken { port: self.port });
        }
        ensure_tools(&self.project)?;
        let log = self.log_file();
        let out = File::create(&log).map_err(|e| CliError::io(&log, e))?;
        let err = out.try_clone().map_err(|e| CliError::io(&log, e))?;
        let mut command = Command::new(self.project.venv_bin("ministack"));
        if let Some(dir) = &self.state_dir {
            command.env("PERSIST_STATE", "1").env("STATE_DIR", dir);
        }
        let child = command
            .env("GATEWAY_PORT", self.port.to_string())
            .env("BIND_HOST", "127.0.0.1")
            .env("MINISTACK_HOST", "127.0.0.1")
            .env("TMPDIR", self.project.state_dir())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own process group: a Ctrl-C in the terminal does not reach it, and
            // `stop` can end it together with the function processes it spawned.
            .process_group(0)
            .spawn()
            .map_err(|e| CliError::EmulatorStart { reason: e.to_string(), log: log.clone(), tail: String::new() })?;
        let pid = child.id();
        fs::write(self.pid_file(), pid.to_string()).map_err(|e| CliError::io(self.pid_file(), e))?;
        self.wait_until_ready(pid).await?;
        Ok(Started::Now { pid })
    }

    async fn wait_until_ready(&self, pid: u32) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if check_health(&self.endpoint()).await.is_ok() {
                return Ok(());
            }
            if !is_alive(pid) {
                return Err(self.start_error("it exited during start-up"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.stop()?;
        Err(self.start_error(&format!("not ready within {} s", READY_TIMEOUT.as_secs())))
    }

    fn start_error(&self, reason: &str) -> CliError {
        CliError::EmulatorStart { reason: reason.to_string(), log: self.log_file(), tail: tail(&self.log_file(), 15) }
    }

    /// Stops the emulator started here (and the function processes in its group).
    /// Returns false when none was running.
    pub fn stop(&self) -> Result<bool> {
        let Some(pid) = self.running_pid() else {
            let _ = fs::remove_file(self.pid_file());
            let _ = fs::remove_dir_all(self.code_cache());
            return Ok(false);
        };
        signal_group(pid, "TERM");
        // Wait for the whole group: the function processes exit a moment after MiniStack.
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline && group_alive(pid) {
            std::thread::sleep(Duration::from_millis(100));
        }
        if group_alive(pid) {
            signal_group(pid, "KILL");
        }
        let _ = fs::remove_file(self.pid_file());
        let _ = fs::remove_dir_all(self.code_cache());
        Ok(true)
    }
}

/// A private emulator stopped when this is dropped: on success, failure or interruption.
pub struct StopOnDrop(pub ManagedEmulator);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        match self.0.stop() {
            Ok(true) => eprintln!("private emulator on {} stopped", self.0.endpoint()),
            Ok(false) => {}
            Err(error) => eprintln!("could not stop the private emulator on {}: {error}", self.0.endpoint()),
        }
    }
}

/// Signals the process group led by `pid` (the group `start` created).
pub(crate) fn signal_group(pid: u32, signal: &str) {
    let _ = Command::new("kill").arg(format!("-{signal}")).arg("--").arg(format!("-{pid}")).status();
}

/// Whether any live process is in the process group `pgid`.
fn group_alive(pgid: u32) -> bool {
    let Ok(entries) = fs::read_dir("/proc") else {
        return false;
    };
    entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()).any(|pid| {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // After "pid (comm)": state, ppid, pgrp.
        let fields: Vec<&str> =
            stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
        fields.first() != Some(&"Z") && fields.get(2) == Some(&pgid.to_string().as_str())
    })
}

/// Whether `pid` runs (a zombie, an exited child not yet reaped, does not count).
fn is_alive(pid: u32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Format: "pid (comm) state ..."; comm may hold spaces, so read after the last ')'.
    stat.rsplit_once(')').is_some_and(|(_, rest)| rest.split_whitespace().next() != Some("Z"))
}

/// A port nothing listens on now, for a private emulator.
pub fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| CliError::Failed(format!("no free port: {e}")))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| CliError::Failed(format!("no free port: {e}")))
}

/// The last `lines` lines of a log file, indented.
pub fn tail(path: &PathBuf, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].iter().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// The emulator service each resource type of the template needs; the schema registry
    /// and the archive are created only on AWS.
    fn service_of(resource_type: &str) -> Option<String> {
        let service = resource_type.split("::").nth(1)?;
        match service {
            "ApiGatewayV2" => Some("apigateway".into()),
            "Serverless" => Some("lambda".into()),
            "CloudWatch" | "DynamoDB" | "Events" | "Lambda" | "Logs" | "SNS" | "SQS" | "SecretsManager" | "IAM" => {
                Some(service.to_ascii_lowercase())
            }
            _ => None,
        }
    }

    #[test]
    fn the_localstack_compose_file_enables_every_service_the_template_uses() {
        let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        let template = std::fs::read_to_string(root.join("infra/template.yaml")).unwrap();
        let compose: serde_norway::Value =
            serde_norway::from_str(&std::fs::read_to_string(root.join("localstack/docker-compose.yml")).unwrap())
                .unwrap();
        let listed = compose["services"]["localstack"]["environment"]["SERVICES"].as_str().unwrap();
        let enabled: BTreeSet<String> = listed.split(',').map(String::from).collect();
        let mut needed: BTreeSet<String> =
            ["cloudformation", "s3", "sts", "iam", "dynamodbstreams"].map(String::from).into();
        for (id, resource) in crate::project::template_resources(&template).unwrap() {
            if resource.get("Condition").is_some() {
                continue;
            }
            let kind = resource["Type"].as_str().unwrap_or_default();
            needed.insert(service_of(kind).unwrap_or_else(|| panic!("{id}: which service is {kind}?")));
        }
        let missing: Vec<_> = needed.difference(&enabled).collect();
        assert!(missing.is_empty(), "localstack/docker-compose.yml SERVICES lacks {missing:?}");
        let image = compose["services"]["localstack"]["image"].as_str().unwrap();
        assert!(!image.ends_with(":latest") && image.contains(':'), "pin the image: {image}");
    }
}

//! Runs the workspace's test binaries in phases of concurrent lanes.
//!
//! `cargo test` runs one test binary after another. Our end-to-end binaries mostly wait
//! (order timeouts, queue visibility timeouts, a second emulator restarting), so run that
//! way the machine sat idle for minutes. Here they run in three phases, each binary in its
//! own lane: the burst alone, since it measures what the shared stack sustains; then the
//! saga scenarios alone (their mixed burst of 250 orders must settle inside the 60-s order
//! timeout); then the rest at once, with every binary that is not end-to-end in one lane;
//! then the dashboard test alone (it needs the stack to answer its figures promptly).
//! Measured: all at once, the mixed burst ended with 58 of its 60 cancellations (orders
//! timed out); beside the restart test and the inner-loop test's compile, 59 of 60. Each
//! binary's output is printed whole when it ends, so lanes do not interleave.

use crate::project::Project;
use crate::{CliError, Result};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Instant;
use tokio::process::Command;

/// The package of the end-to-end tests (`tests/`).
pub const E2E_PACKAGE: &str = "e2e";
/// The end-to-end binaries of the first two phases; every other binary runs in the third.
pub const PHASES: [&[&str]; 2] = [&["burst_summary"], &["saga_scenarios"]];
/// Run alone after everything else: the dashboard reads the stack's figures, which a
/// busy shared emulator answered in over 10 s in the last phase (twice in CI).
pub const AFTER_THE_REST: [&str; 1] = ["dashboard"];

/// One compiled test binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestBinary {
    pub package: String,
    /// The test target's name (`burst_summary`, or the crate's for unit tests).
    pub name: String,
    pub executable: PathBuf,
    /// The package's folder: cargo runs a test binary there.
    pub dir: PathBuf,
}

impl TestBinary {
    fn label(&self) -> String {
        if self.name.replace('-', "_") == self.package.replace('-', "_") {
            self.package.clone()
        } else {
            format!("{}/{}", self.package, self.name)
        }
    }
}

/// What runs when: phases one after another, lanes within a phase at once, binaries within
/// a lane one after another.
pub type Plan = Vec<Vec<Vec<TestBinary>>>;

/// Builds every test binary of the workspace (`cargo test --no-run`) and names them.
pub async fn build(project: &Project) -> Result<Vec<TestBinary>> {
    let output = Command::new("cargo")
        .args(["test", "--workspace", "--no-run", "--message-format=json-render-diagnostics"])
        .current_dir(project.root())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| CliError::Failed(format!("cannot run cargo test --no-run: {e}")))?;
    if !output.status.success() {
        return Err(CliError::Failed(format!("building the tests failed ({}); the output is above", output.status)));
    }
    Ok(binaries_in(&String::from_utf8_lossy(&output.stdout)))
}

/// The test executables in cargo's JSON messages.
pub fn binaries_in(messages: &str) -> Vec<TestBinary> {
    let mut binaries: Vec<TestBinary> = messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["profile"]["test"] == true)
        .filter_map(|m| {
            let executable = PathBuf::from(m["executable"].as_str()?);
            let manifest = PathBuf::from(m["manifest_path"].as_str()?);
            Some(TestBinary {
                package: package_name(m["package_id"].as_str()?, &manifest),
                name: m["target"]["name"].as_str()?.to_string(),
                executable,
                dir: manifest.parent()?.to_path_buf(),
            })
        })
        .collect();
    binaries.sort_by(|a, b| (&a.package, &a.name).cmp(&(&b.package, &b.name)));
    binaries.dedup();
    binaries
}

/// The package's name: `path+file:///w/tests#e2e@0.1.0` names it after `#`; a package whose
/// folder is its name (`#0.1.0`) is named by its folder.
fn package_name(package_id: &str, manifest: &std::path::Path) -> String {
    let fragment = package_id.rsplit_once('#').map_or("", |(_, f)| f);
    match fragment.split_once('@') {
        Some((name, _)) => name.to_string(),
        None => {
            manifest.parent().and_then(|d| d.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        }
    }
}

/// The phases of [`PHASES`], then one with each other end-to-end binary in its own lane
/// beside one lane of every binary that is not end-to-end. Every binary runs once.
pub fn plan(binaries: Vec<TestBinary>) -> Plan {
    let is_e2e = |b: &TestBinary| b.package == E2E_PACKAGE && b.name != E2E_PACKAGE;
    let mut rest = binaries;
    let mut plan: Plan = Vec::new();
    for names in PHASES {
        let (phase, others): (Vec<_>, Vec<_>) =
            rest.into_iter().partition(|b| is_e2e(b) && names.contains(&b.name.as_str()));
        plan.push(phase.into_iter().map(|b| vec![b]).collect());
        rest = others;
    }
    let (after, rest): (Vec<_>, Vec<_>) =
        rest.into_iter().partition(|b| is_e2e(b) && AFTER_THE_REST.contains(&b.name.as_str()));
    let (e2e, others): (Vec<_>, Vec<_>) = rest.into_iter().partition(is_e2e);
    let mut last: Vec<Vec<TestBinary>> = e2e.into_iter().map(|b| vec![b]).collect();
    last.push(others);
    plan.push(last);
    plan.push(after.into_iter().map(|b| vec![b]).collect());
    plan.into_iter()
        .map(|phase| phase.into_iter().filter(|lane| !lane.is_empty()).collect())
        .filter(|p: &Vec<_>| !p.is_empty())
        .collect()
}

/// Runs the plan with `env`; every binary runs even after a failure. The failures, by name.
pub async fn run(plan: Plan, env: &[(&str, &str)], started: Instant) -> Vec<String> {
    let mut failed = Vec::new();
    for (number, phase) in plan.into_iter().enumerate() {
        let names: Vec<String> = phase.iter().flatten().map(TestBinary::label).collect();
        let at = started.elapsed().as_secs();
        eprintln!("\n== tests, phase {} (at {} min {} s): {}", number + 1, at / 60, at % 60, names.join(", "));
        let lanes = phase.into_iter().map(|lane| run_lane(lane, env, started));
        for lane_failures in futures_util::future::join_all(lanes).await {
            failed.extend(lane_failures);
        }
    }
    failed
}

async fn run_lane(lane: Vec<TestBinary>, env: &[(&str, &str)], started: Instant) -> Vec<String> {
    let mut failed = Vec::new();
    for binary in lane {
        if let Err(reason) = run_one(&binary, env, started).await {
            failed.push(format!("{} ({reason})", binary.label()));
        }
    }
    failed
}

/// Runs one binary with its ignored (end-to-end) tests included, as `cargo test` would, and
/// prints its output whole when it ends.
async fn run_one(binary: &TestBinary, env: &[(&str, &str)], started: Instant) -> std::result::Result<(), String> {
    let began = Instant::now();
    let output = Command::new(&binary.executable)
        .arg("--include-ignored")
        .current_dir(&binary.dir)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", binary.executable.display()))?;
    let at = started.elapsed().as_secs();
    let verdict = if output.status.success() { "passed" } else { "FAILED" };
    eprintln!(
        "\n-- {} {verdict} in {:.1} s (ended at {} min {} s)\n{}{}",
        binary.label(),
        began.elapsed().as_secs_f64(),
        at / 60,
        at % 60,
        String::from_utf8_lossy(&output.stdout).trim_end(),
        tail(&String::from_utf8_lossy(&output.stderr)),
    );
    if output.status.success() { Ok(()) } else { Err(output.status.to_string()) }
}

fn tail(stderr: &str) -> String {
    match stderr.trim_end() {
        "" => String::new(),
        text => format!("\n{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary(package: &str, name: &str) -> TestBinary {
        TestBinary {
            package: package.into(),
            name: name.into(),
            executable: PathBuf::from(format!("/t/{name}")),
            dir: PathBuf::from("/w"),
        }
    }

    #[test]
    fn it_reads_test_executables_from_cargo_messages() {
        let messages = [
            r#"{"reason":"compiler-artifact","package_id":"path+file:///w/tests#e2e@0.1.0","manifest_path":"/w/tests/Cargo.toml","target":{"name":"burst_summary","kind":["test"]},"profile":{"test":true},"executable":"/t/burst"}"#,
            r#"{"reason":"compiler-artifact","package_id":"path+file:///w/functions/payment#0.1.0","manifest_path":"/w/functions/payment/Cargo.toml","target":{"name":"payment","kind":["bin"]},"profile":{"test":false},"executable":"/t/payment"}"#,
            r#"{"reason":"compiler-artifact","package_id":"path+file:///w/functions/payment#0.1.0","manifest_path":"/w/functions/payment/Cargo.toml","target":{"name":"payment","kind":["bin"]},"profile":{"test":true},"executable":"/t/payment-test"}"#,
            r#"{"reason":"compiler-artifact","package_id":"x","manifest_path":"/w/x/Cargo.toml","target":{"name":"x","kind":["lib"]},"profile":{"test":false},"executable":null}"#,
            r#"{"reason":"build-finished","success":true}"#,
        ]
        .join("\n");
        let found = binaries_in(&messages);
        let names: Vec<_> = found.iter().map(|b| (b.package.as_str(), b.executable.to_str().unwrap())).collect();
        assert_eq!(names, [("e2e", "/t/burst"), ("payment", "/t/payment-test")]);
        assert_eq!(found[0].dir, PathBuf::from("/w/tests"));
    }

    #[test]
    fn the_burst_runs_alone_first_and_every_binary_runs_exactly_once() {
        let all = vec![
            binary("e2e", "saga_scenarios"),
            binary("e2e", "burst_summary"),
            binary("e2e", "e2e"),
            binary("orderflow-services", "simulation"),
            binary("e2e", "emulator_restart"),
            binary("domain", "domain"),
            binary("e2e", "fault_matrix"),
            binary("e2e", "dashboard"),
        ];
        let plan = plan(all.clone());
        let names = |phase: &Vec<Vec<TestBinary>>| -> Vec<Vec<String>> {
            phase.iter().map(|lane| lane.iter().map(|b| b.name.clone()).collect()).collect()
        };
        assert_eq!(names(&plan[0]), [vec!["burst_summary"]]);
        assert_eq!(names(&plan[1]), [vec!["saga_scenarios"]]);
        assert_eq!(
            names(&plan[2]),
            [vec!["emulator_restart"], vec!["fault_matrix"], vec!["e2e", "simulation", "domain"]]
        );
        assert_eq!(names(&plan[3]), [vec!["dashboard"]]);
        let mut planned: Vec<_> = plan.into_iter().flatten().flatten().collect();
        let mut expected = all;
        planned.sort_by(|a, b| a.name.cmp(&b.name));
        expected.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(planned, expected);
    }
}

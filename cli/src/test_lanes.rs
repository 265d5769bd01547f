//! Runs the workspace's test binaries in phases of concurrent lanes.
//!
//! `cargo test` runs one test binary after another. Our end-to-end binaries mostly wait
//! (order timeouts, queue visibility timeouts, a second emulator restarting), so run that
//! way the machine sat idle for minutes. Here they run in three phases, each binary in its
//! own lane: the burst alone, since it measures what the shared stack sustains; then the
//! saga scenarios alone (their mixed burst of 250 orders must settle inside the 60-s order
//! timeout); then the rest at once, with every binary that is not end-to-end in one lane;
//! beside all three, at the lowest CPU priority, the CPU-bound binaries that need no
//! emulator ([`IN_THE_BACKGROUND`]); then the dashboard test alone (it needs the stack to
//! answer its figures promptly).
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
/// CPU-bound binaries that need no emulator (the simulation; the scaffold's compile): run
/// from the first phase on at the lowest CPU priority (`nice -n 19`), each in its own lane,
/// so they take only what the emulator leaves idle while the burst and the saga scenarios
/// wait on order timeouts. Measured in the last phase instead: 114 s and 110 s of its
/// 144 s, and the inner-loop test waited 83 s for the scaffold's lock on the target
/// directory. The phase after the rest waits for them.
pub const IN_THE_BACKGROUND: [&str; 2] = ["simulation", "scaffold"];

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

/// Lanes run at once; the binaries of a lane one after another.
pub type Phase = Vec<Vec<TestBinary>>;

/// What runs when: the phases one after another with the background binaries beside them
/// (niced), then the phase after the rest.
#[derive(Debug, Default)]
pub struct Plan {
    pub phases: Vec<Phase>,
    pub background: Vec<TestBinary>,
    pub after: Phase,
}

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
/// beside one lane of every binary that is not end-to-end; [`IN_THE_BACKGROUND`] beside
/// them all; [`AFTER_THE_REST`] last. Every binary runs once.
pub fn plan(binaries: Vec<TestBinary>) -> Plan {
    let is_e2e = |b: &TestBinary| b.package == E2E_PACKAGE && b.name != E2E_PACKAGE;
    let (background, mut rest): (Vec<_>, Vec<_>) =
        binaries.into_iter().partition(|b| IN_THE_BACKGROUND.contains(&b.name.as_str()));
    let mut phases: Vec<Phase> = Vec::new();
    for names in PHASES {
        let (phase, others): (Vec<_>, Vec<_>) =
            rest.into_iter().partition(|b| is_e2e(b) && names.contains(&b.name.as_str()));
        phases.push(phase.into_iter().map(|b| vec![b]).collect());
        rest = others;
    }
    let (after, rest): (Vec<_>, Vec<_>) =
        rest.into_iter().partition(|b| is_e2e(b) && AFTER_THE_REST.contains(&b.name.as_str()));
    let (e2e, others): (Vec<_>, Vec<_>) = rest.into_iter().partition(is_e2e);
    let mut last: Phase = e2e.into_iter().map(|b| vec![b]).collect();
    last.push(others);
    phases.push(last);
    let non_empty = |phase: Phase| -> Phase { phase.into_iter().filter(|lane| !lane.is_empty()).collect() };
    Plan {
        phases: phases.into_iter().map(non_empty).filter(|p| !p.is_empty()).collect(),
        background,
        after: non_empty(after.into_iter().map(|b| vec![b]).collect()),
    }
}

/// Runs the plan with `env`; every binary runs even after a failure. The failures, by name.
pub async fn run(plan: Plan, env: &[(&str, &str)], started: Instant) -> Vec<String> {
    let background = plan.background.into_iter().map(|binary| run_lane(vec![binary], env, started, Niced::Yes));
    let phases = async {
        let mut failed = Vec::new();
        for (number, phase) in plan.phases.into_iter().enumerate() {
            failed.extend(run_phase(number + 1, phase, env, started).await);
        }
        failed
    };
    let (background, mut failed) = futures_util::future::join(futures_util::future::join_all(background), phases).await;
    failed.extend(background.into_iter().flatten());
    if !plan.after.is_empty() {
        failed.extend(run_phase(PHASES.len() + 2, plan.after, env, started).await);
    }
    failed
}

async fn run_phase(number: usize, phase: Phase, env: &[(&str, &str)], started: Instant) -> Vec<String> {
    let names: Vec<String> = phase.iter().flatten().map(TestBinary::label).collect();
    let at = started.elapsed().as_secs();
    eprintln!("\n== tests, phase {number} (at {} min {} s): {}", at / 60, at % 60, names.join(", "));
    let lanes = phase.into_iter().map(|lane| run_lane(lane, env, started, Niced::No));
    futures_util::future::join_all(lanes).await.into_iter().flatten().collect()
}

/// Whether a binary runs at the lowest CPU priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Niced {
    Yes,
    No,
}

async fn run_lane(lane: Vec<TestBinary>, env: &[(&str, &str)], started: Instant, niced: Niced) -> Vec<String> {
    let mut failed = Vec::new();
    for binary in lane {
        if let Err(reason) = run_one(&binary, env, started, niced).await {
            failed.push(format!("{} ({reason})", binary.label()));
        }
    }
    failed
}

/// Runs one binary with its ignored (end-to-end) tests included, as `cargo test` would, and
/// prints its output whole when it ends.
async fn run_one(
    binary: &TestBinary,
    env: &[(&str, &str)],
    started: Instant,
    niced: Niced,
) -> std::result::Result<(), String> {
    let began = Instant::now();
    // `nice` runs the binary in its own place (same process), so kill_on_drop still ends it.
    let mut command = match niced {
        Niced::Yes => {
            let mut nice = Command::new("nice");
            nice.args(["-n", "19"]).arg(&binary.executable);
            nice
        }
        Niced::No => Command::new(&binary.executable),
    };
    let output = command
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
        let names = |phase: &Phase| -> Vec<Vec<String>> {
            phase.iter().map(|lane| lane.iter().map(|b| b.name.clone()).collect()).collect()
        };
        assert_eq!(names(&plan.phases[0]), [vec!["burst_summary"]]);
        assert_eq!(names(&plan.phases[1]), [vec!["saga_scenarios"]]);
        assert_eq!(names(&plan.phases[2]), [vec!["emulator_restart"], vec!["fault_matrix"], vec!["e2e", "domain"]]);
        assert_eq!(plan.phases.len(), 3);
        assert_eq!(plan.background.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(), ["simulation"]);
        assert_eq!(names(&plan.after), [vec!["dashboard"]]);
        let mut planned: Vec<_> = plan
            .phases
            .into_iter()
            .flatten()
            .flatten()
            .chain(plan.background)
            .chain(plan.after.into_iter().flatten())
            .collect();
        let mut expected = all;
        planned.sort_by(|a, b| a.name.cmp(&b.name));
        expected.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(planned, expected);
    }
}

//! P2: handler CPU per event. `cargo bench -p orderflow-services --bench handler_cpu` (criterion, with
//! the release profile's optimisation) times the order-validator's whole handler on
//! batches of 10 realistic `OrderPlaced` messages and a bare `serde_json` parse of the same
//! bodies in the same run; this reads criterion's median estimates for both.

use crate::project::Project;
use crate::{CliError, Result};
use std::path::Path;
use std::process::Command;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandlerCpu {
    pub handler_us_per_event: f64,
    pub bare_parse_us_per_event: f64,
    pub ratio: f64,
}

const GROUP: &str = "handler_cpu";
const HANDLER: &str = "validator_batch_of_10";
const BARE_PARSE: &str = "serde_json_parse_of_the_10_bodies";
const EVENTS_PER_ITERATION: f64 = 10.0;

pub fn measure(project: &Project) -> Result<HandlerCpu> {
    let what = "cargo bench -p orderflow-services --bench handler_cpu";
    eprintln!("$ {what}");
    let status = Command::new("cargo")
        .args(["bench", "-p", "orderflow-services", "--bench", GROUP])
        .current_dir(project.root())
        .status()
        .map_err(|e| CliError::Failed(format!("cannot run `{what}`: {e}")))?;
    if !status.success() {
        return Err(CliError::Failed(format!("`{what}` exited with {status} (its output is above)")));
    }
    let estimates = project.target_dir().join("criterion").join(GROUP);
    let handler_us = median_ns(&estimates.join(HANDLER))? / 1_000.0 / EVENTS_PER_ITERATION;
    let bare_us = median_ns(&estimates.join(BARE_PARSE))? / 1_000.0 / EVENTS_PER_ITERATION;
    Ok(HandlerCpu { handler_us_per_event: handler_us, bare_parse_us_per_event: bare_us, ratio: handler_us / bare_us })
}

/// Criterion's median time per iteration of one benchmark of its last run, in ns.
fn median_ns(benchmark: &Path) -> Result<f64> {
    let path = benchmark.join("new").join("estimates.json");
    let text = std::fs::read_to_string(&path).map_err(|e| CliError::io(&path, e))?;
    let estimates: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| CliError::Failed(format!("{}: not criterion's estimates: {e}", path.display())))?;
    estimates["median"]["point_estimate"]
        .as_f64()
        .filter(|ns| *ns > 0.0)
        .ok_or_else(|| CliError::Failed(format!("{}: no median.point_estimate", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_reads_the_median_of_criterions_estimates_and_names_a_bad_file() {
        let dir = std::env::temp_dir().join(format!("orderflow-estimates-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("new")).unwrap();
        let file = dir.join("new").join("estimates.json");
        std::fs::write(&file, r#"{"mean":{"point_estimate":2.0},"median":{"point_estimate":1500.5}}"#).unwrap();
        assert_eq!(median_ns(&dir).unwrap(), 1500.5);
        std::fs::write(&file, r#"{"mean":{"point_estimate":2.0}}"#).unwrap();
        let error = median_ns(&dir).unwrap_err().to_string();
        assert!(error.contains("no median.point_estimate"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! The bus's event archive, and replaying from it.
//!
//! On AWS the template creates the archive (`AWS::Events::Archive`, named
//! `<stack>-orders`); the emulator does not know that resource type, so after a deploy to
//! an emulator `ensure` creates the same archive through the EventBridge API. A replay
//! re-delivers archived events to the bus, where every rule routes them again: consumers
//! stay idempotent, so nothing happens twice.

use crate::stacks::stack::StackInfo;
use crate::stacks::target::Clients;
use crate::{CliError, Result};
use aws_sdk_eventbridge::types::{ReplayDestination, ReplayState};
use std::time::{Duration, Instant};

/// How long a replay may take before `replay_since` gives up waiting.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(300);

pub fn archive_name(stack: &StackInfo) -> String {
    format!("{}-orders", stack.name)
}

async fn bus_arn(clients: &Clients, stack: &StackInfo) -> Result<String> {
    let bus = stack.output("EventBusName")?;
    let described = clients
        .eventbridge()
        .describe_event_bus()
        .name(bus)
        .send()
        .await
        .map_err(|e| CliError::aws("DescribeEventBus", e))?;
    described.arn().map(str::to_string).ok_or_else(|| CliError::Failed(format!("bus {bus} has no ARN")))
}

/// Creates the archive unless it exists (for targets where the template cannot).
pub async fn ensure(clients: &Clients, stack: &StackInfo) -> Result<()> {
    let name = archive_name(stack);
    if clients.eventbridge().describe_archive().archive_name(&name).send().await.is_ok() {
        return Ok(());
    }
    clients
        .eventbridge()
        .create_archive()
        .archive_name(&name)
        .event_source_arn(bus_arn(clients, stack).await?)
        .retention_days(30)
        .send()
        .await
        .map_err(|e| CliError::aws("CreateArchive", e))?;
    eprintln!("created the event archive {name}");
    Ok(())
}

/// Re-delivers to the bus every archived event from `since` until now; waits for the
/// replay to finish and returns its final state.
pub async fn replay_since(
    clients: &Clients,
    stack: &StackInfo,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<String> {
    let name = archive_name(stack);
    let archive = clients.eventbridge().describe_archive().archive_name(&name).send().await.map_err(|e| {
        CliError::Failed(format!("no event archive {name} ({}); redeploy the stack", toolkit::aws::sdk_error_text(&e)))
    })?;
    let archive_arn = archive.archive_arn().unwrap_or_default().to_string();
    let replay = format!("{}-{}", stack.name, chrono::Utc::now().format("%Y%m%d%H%M%S%3f"));
    let to_time =
        |t: chrono::DateTime<chrono::Utc>| aws_sdk_eventbridge::primitives::DateTime::from_millis(t.timestamp_millis());
    let destination = ReplayDestination::builder()
        .arn(bus_arn(clients, stack).await?)
        .build()
        .map_err(|e| CliError::Failed(e.to_string()))?;
    clients
        .eventbridge()
        .start_replay()
        .replay_name(&replay)
        .event_source_arn(&archive_arn)
        .event_start_time(to_time(since))
        .event_end_time(to_time(chrono::Utc::now()))
        .destination(destination)
        .send()
        .await
        .map_err(|e| CliError::aws("StartReplay", e))?;
    let deadline = Instant::now() + REPLAY_TIMEOUT;
    loop {
        let described = clients
            .eventbridge()
            .describe_replay()
            .replay_name(&replay)
            .send()
            .await
            .map_err(|e| CliError::aws("DescribeReplay", e))?;
        let state = described.state().cloned();
        match state {
            Some(ReplayState::Completed) => return Ok(format!("replay {replay} completed")),
            Some(ReplayState::Failed | ReplayState::Cancelled) => {
                let reason = described.state_reason().unwrap_or("no reason given");
                return Err(CliError::Failed(format!("replay {replay} ended {state:?}: {reason}")));
            }
            _ if Instant::now() > deadline => {
                return Err(CliError::Failed(format!("replay {replay} still running after {REPLAY_TIMEOUT:?}")));
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

//! `orderflow republish --since <time> | --minutes <n>`.

use crate::context::Context;
use crate::{CliError, Result};

/// `--until-quiet` stops after this long without a new event (longer than the queues'
/// default visibility timeout, 60 s), or after [`GIVE_UP_AFTER`].
const QUIET_FOR: std::time::Duration = std::time::Duration::from_secs(90);
const GIVE_UP_AFTER: std::time::Duration = std::time::Duration::from_secs(15 * 60);

pub async fn run(context: &Context, since: Option<&str>, minutes: Option<u32>, until_quiet: bool) -> Result<()> {
    let since = match (since, minutes) {
        (Some(text), None) => chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|e| CliError::Usage(format!("--since `{text}` is not an RFC 3339 time: {e}")))?,
        (None, Some(minutes)) => chrono::Utc::now() - chrono::Duration::minutes(i64::from(minutes)),
        _ => return Err(CliError::Usage("give either --since <RFC 3339 time> or --minutes <n>".into())),
    };
    context.require_reachable().await?;
    let stack = context.stack_info().await?;
    let (done, passes) = if until_quiet {
        crate::ops::republish::republish_until_quiet(&context.clients, &stack, since, QUIET_FOR, GIVE_UP_AFTER).await?
    } else {
        (crate::ops::republish::republish(&context.clients, &stack, since).await?, 1)
    };
    println!(
        "republished {} events of {} streams since {} to {} in {passes} pass(es)",
        done.events,
        done.streams,
        since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        crate::ops::republish::CONSUMERS.join(" and ")
    );
    Ok(())
}

/// The arguments of `orderflow republish`.
#[derive(Debug, clap::Args)]
pub struct RepublishArgs {
    /// Events that occurred at or after this RFC 3339 time.
    #[arg(long, conflicts_with = "minutes")]
    pub since: Option<String>,
    /// Events of the last N minutes.
    #[arg(long)]
    pub minutes: Option<u32>,
    /// Repeat with the events each pass caused until a pass finds nothing new (for an
    /// emulator whose stream pollers stopped: restarted with persisted state).
    #[arg(long)]
    pub until_quiet: bool,
}

impl RepublishArgs {
    /// Runs the command.
    pub async fn run(self, global: super::Global) -> crate::Result<()> {
        run(&global.context().await?, self.since.as_deref(), self.minutes, self.until_quiet).await
    }
}

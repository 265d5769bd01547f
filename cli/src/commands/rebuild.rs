//! `orderflow rebuild <orders|time-index> [--verify] [--limit N]`.

use crate::Result;
use crate::context::Context;
use crate::stacks::stack::StackInfo;

pub async fn run(context: &Context, projection: &str, verify: bool, limit: Option<usize>) -> Result<()> {
    crate::ops::rebuild::check_projection(projection)?;
    context.require_reachable().await?;
    let stack = context.stack_info().await?;
    if projection == "time-index" {
        return time_index(context, &stack, verify, limit).await;
    }
    if verify {
        let (checked, differences) = crate::ops::rebuild::verify(&context.clients, &stack).await?;
        for difference in &differences {
            println!("  {difference}");
        }
        println!("{checked} orders checked: {} differ from the view rebuilt from the store", differences.len());
        return match differences.is_empty() {
            true => Ok(()),
            false => Err(crate::CliError::Failed(format!("{} read-model views differ", differences.len()))),
        };
    }
    let done = crate::ops::rebuild::rebuild(&context.project, &context.clients, &stack, limit).await?;
    println!(
        "rebuilt {} orders from {} events in {:.2} s: {:.0} events/s{}",
        done.streams,
        done.events,
        done.elapsed.as_secs_f64(),
        done.events_per_second(),
        if done.complete { "" } else { " (stopped at --limit; run again to resume from the checkpoint)" }
    );
    Ok(())
}

/// Gives events stored before the time index existed their bucket (or, with `verify`,
/// counts those without one).
async fn time_index(context: &Context, stack: &StackInfo, verify: bool, limit: Option<usize>) -> Result<()> {
    let (client, table) = (context.clients.dynamodb(), stack.output("EventStoreTableName")?);
    if verify {
        let missing = crate::ops::time_backfill::count_unindexed(&client, table).await?;
        println!("{missing} stored events have no time bucket");
        return match missing {
            0 => Ok(()),
            _ => Err(crate::CliError::Failed(format!(
                "{missing} events are not in the time index: run `orderflow rebuild time-index`"
            ))),
        };
    }
    let done = crate::ops::time_backfill::backfill(&client, table, limit).await?;
    println!(
        "indexed {} events in {:.2} s{}",
        done.indexed,
        done.elapsed.as_secs_f64(),
        if done.complete { "" } else { " (stopped at --limit; run again to go on)" }
    );
    Ok(())
}

/// The arguments of `orderflow rebuild`.
#[derive(Debug, clap::Args)]
pub struct RebuildArgs {
    /// `orders` (the order read model) or `time-index` (index events stored before it existed).
    pub projection: String,
    /// Compare the live read model with the one the store rebuilds; write nothing.
    #[arg(long)]
    pub verify: bool,
    /// Stop after this many orders (the checkpoint is kept; the next run resumes).
    #[arg(long)]
    pub limit: Option<usize>,
}

impl RebuildArgs {
    /// Runs the command.
    pub async fn run(self, global: super::Global) -> crate::Result<()> {
        run(&global.context().await?, &self.projection, self.verify, self.limit).await
    }
}

//! `orderflow dlq list | show <queue> | redrive <queue>`.

use crate::context::Context;
use crate::ops::dlq::{self, Letter};
use crate::stacks::stack::StackInfo;
use crate::{CliError, Result};

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Action {
    /// Every dead-letter queue of the stack with its depth.
    List,
    /// Each message of a dead-letter queue: who gave up, why, and where it came from.
    Show {
        /// The queue: its name (`PaymentDeadLetterQueue`) or a unique part of it (`payment`).
        queue: String,
        /// One JSON object per message instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Send every message of a dead-letter queue back to its source, and delete it here.
    Redrive { queue: String },
}

pub async fn run(context: &Context, action: &Action) -> Result<()> {
    context.require_reachable().await?;
    let stack = context.stack_info().await?;
    match action {
        Action::List => list(context, &stack).await,
        Action::Show { queue, json } => {
            let letters = dlq::show(&context.clients, &dlq::find(&stack, queue)?).await?;
            print_letters(&letters, *json);
            Ok(())
        }
        Action::Redrive { queue } => {
            let queue = dlq::find(&stack, queue)?;
            println!("redrive {}", queue.name);
            let outcome = dlq::redrive(&context.clients, &stack, &queue).await?;
            println!("{} sent back, {} left in {}", outcome.sent_back, outcome.failed.len(), queue.name);
            match outcome.failed.is_empty() {
                true => Ok(()),
                false => Err(CliError::Failed(format!("{} messages could not be sent back", outcome.failed.len()))),
            }
        }
    }
}

async fn list(context: &Context, stack: &StackInfo) -> Result<()> {
    println!("{:<36} {:>8} {:>10}", "dead-letter queue", "messages", "in flight");
    for queue in dlq::queues(stack) {
        let (visible, in_flight) = crate::ops::figures::queue_depth(&context.clients, &queue.url).await?;
        println!("{:<36} {visible:>8} {in_flight:>10}", queue.name);
    }
    Ok(())
}

fn print_letters(letters: &[Letter], json: bool) {
    if json {
        for letter in letters {
            println!("{}", serde_json::to_string(letter).unwrap_or_default());
        }
        return;
    }
    if letters.is_empty() {
        println!("(empty)");
    }
    for letter in letters {
        let unknown = || "?".to_string();
        println!("{}  sent {}", letter.message_id, letter.sent_at.clone().unwrap_or_else(unknown));
        println!("  consumer     {}", letter.consumer.clone().unwrap_or_else(|| "(moved by SQS)".into()));
        println!("  reason       {}", letter.reason);
        println!("  source       {}", letter.source.clone().unwrap_or_else(unknown));
        println!(
            "  event        {} (correlation {})",
            letter.event_type.clone().unwrap_or_else(unknown),
            letter.correlation_id.clone().unwrap_or_else(unknown)
        );
    }
}

/// The arguments of `orderflow dlq`.
#[derive(Debug, clap::Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    pub action: Action,
}

impl DlqArgs {
    /// Runs the command.
    pub async fn run(self, global: super::Global) -> crate::Result<()> {
        run(&global.context().await?, &self.action).await
    }
}

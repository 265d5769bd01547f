//! `orderflow trace <order-id> [--json]`.

use crate::Result;
use crate::context::Context;

pub async fn run(context: &Context, order_id: &str, json: bool) -> Result<()> {
    if domain::OrderId::parse(order_id).is_none() {
        return Err(crate::CliError::Usage(format!("`{order_id}` is not an order id (a UUID)")));
    }
    context.require_reachable().await?;
    let stack = context.stack_info().await?;
    let trace = crate::ops::trace::trace(&context.clients, &stack, order_id).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&trace).unwrap_or_default());
    } else {
        print!("{}", crate::ops::trace::render(&trace));
    }
    Ok(())
}

/// The arguments of `orderflow trace`.
#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    pub order_id: String,
    /// The tree as JSON, for tools.
    #[arg(long)]
    pub json: bool,
}

impl TraceArgs {
    /// Runs the command.
    pub async fn run(self, global: super::Global) -> crate::Result<()> {
        run(&global.context().await?, &self.order_id, self.json).await
    }
}

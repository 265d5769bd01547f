//! `orderflow dashboard [--listen-port N]`: the live view, until Ctrl-C.

use crate::Result;
use crate::context::Context;

pub async fn run(context: Context, port: u16) -> Result<()> {
    context.require_reachable().await?;
    let stack = context.stack_info().await?;
    let dashboard = crate::ops::dashboard::start(context.clients, stack, port).await?;
    println!("dashboard on {} (Ctrl-C to stop)", dashboard.url);
    tokio::select! {
        () = dashboard.wait() => Ok(()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// The arguments of `orderflow dashboard`.
#[derive(Debug, clap::Args)]
pub struct DashboardArgs {
    #[arg(long, default_value_t = 8050)]
    pub listen_port: u16,
}

impl DashboardArgs {
    /// Runs the command.
    pub async fn run(self, global: super::Global) -> crate::Result<()> {
        run(global.context().await?, self.listen_port).await
    }
}

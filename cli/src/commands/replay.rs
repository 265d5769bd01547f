//! `orderflow replay`: the arguments; the replay itself is `crate::ops::replay`.

/// The arguments of `orderflow replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// A file or folder of samples (not with --from-archive).
    #[arg(required_unless_present = "from_archive")]
    pub path: Option<std::path::PathBuf>,
    /// Re-deliver the bus's archived events (since --since) instead of samples.
    #[arg(long, requires = "since", conflicts_with_all = ["path", "rate", "count"])]
    pub from_archive: bool,
    /// With --from-archive: events from this RFC 3339 time on.
    #[arg(long)]
    pub since: Option<String>,
    /// Do not wait for the orders to reach a final state.
    #[arg(long)]
    pub no_wait: bool,
    /// At most this many requests per second (e.g. `--rate 20`).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Send the whole file or folder this many times, each under its own run id.
    #[arg(long, default_value_t = 1)]
    pub count: u32,
}

impl ReplayArgs {
    /// Runs the command.
    pub async fn run(self, global: super::Global) -> crate::Result<()> {
        let context = global.context().await?;
        if self.from_archive {
            return crate::ops::replay::from_archive(&context, self.since.as_deref().unwrap_or_default()).await;
        }
        let pace = crate::ops::replay::Pace { rate: self.rate, count: self.count, wait: !self.no_wait };
        crate::ops::replay::run(&context, &self.path.unwrap_or_default(), pace).await.map(drop)
    }
}

//! `orderflow`: run the order-processing system on a local emulator or deploy it to AWS.
use clap::{Parser, Subcommand};
use orderflow::build::Profile;
use orderflow::commands::{self, Context, Global};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "orderflow", version, about = "Event-driven order processing on AWS serverless, locally or on AWS")]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install the local tools if missing, start the emulator, build, deploy, print endpoints.
    Up {
        /// What to deploy: `debug` (host binaries, built in seconds; what the emulator needs)
        /// or `release` (cargo-lambda, optimized, for AWS). Default: debug on the emulator,
        /// release on AWS.
        #[arg(long, value_enum)]
        build: Option<Profile>,
    },
    /// Build the functions and deploy the template to the emulator (or to AWS with --aws).
    Deploy {
        /// What to deploy: `debug` (host binaries, built in seconds; what the emulator needs)
        /// or `release` (cargo-lambda, optimized, for AWS). Default: debug on the emulator,
        /// release on AWS.
        #[arg(long, value_enum)]
        build: Option<Profile>,
    },
    /// Stop the emulator `up` started (its state is not kept).
    Down,
    /// The stack, queue and dead-letter queue depths, and the latest events.
    Status,
    /// Invoke a function with a payload file (e.g. events/aws/sqs-order-placed.json).
    Invoke { function: String, payload: PathBuf },
    /// Send sample API requests or bus events (a file, or a folder in path order, e.g. a
    /// scenario of events/scenarios/), then print where each order ended.
    Replay {
        /// A file or folder of samples (not with --from-archive).
        #[arg(required_unless_present = "from_archive")]
        path: Option<PathBuf>,
        /// Re-deliver the bus's archived events (since --since) instead of samples.
        #[arg(long, requires = "since", conflicts_with_all = ["path", "rate", "count"])]
        from_archive: bool,
        /// With --from-archive: events from this RFC 3339 time on.
        #[arg(long)]
        since: Option<String>,
        /// Do not wait for the orders to reach a final state.
        #[arg(long)]
        no_wait: bool,
        /// At most this many requests per second (e.g. `--rate 20`).
        #[arg(long)]
        rate: Option<f64>,
        /// Send the whole file or folder this many times, each under its own run id.
        #[arg(long, default_value_t = 1)]
        count: u32,
    },
    /// The routing picture drawn from infra/template.yaml (Mermaid, DOT or SVG); `--write`
    /// updates docs/routing.mmd, docs/routing.svg and the picture in docs/routing.md.
    Graph {
        #[arg(long, value_enum, default_value = "mermaid")]
        format: commands::graph::Format,
        #[arg(long)]
        write: bool,
    },
    /// The causal tree of everything an order caused, across every service, with times,
    /// gaps between hops and dead letters.
    Trace {
        order_id: String,
        /// The tree as JSON, for tools.
        #[arg(long)]
        json: bool,
    },
    /// A live web page of the stack on 127.0.0.1: event flow per minute per event type,
    /// queue and DLQ depths, the latest failed events with their reasons.
    Dashboard {
        #[arg(long, default_value_t = 8050)]
        listen_port: u16,
    },
    /// Benchmarks with their targets (P1-P6): cold start, warm invocation, handler CPU per
    /// event, binary size, peak memory, and on a private emulator `up` time, the saga's
    /// rate against the emulator's raw rate, and rebuild speed; a table, and JSON under
    /// bench/ (`--compare` an earlier one).
    Bench {
        /// Cold starts per function.
        #[arg(long, default_value_t = 20)]
        spawns: usize,
        /// Orders in the saga burst on the private emulator.
        #[arg(long, default_value_t = 1000)]
        orders: usize,
        /// Skip the emulator figures (P3, P5, P6).
        #[arg(long)]
        no_emulator: bool,
        /// An earlier report (bench/<date>.json): fail on figures more than 10 % worse.
        #[arg(long)]
        compare: Option<PathBuf>,
        /// Build the release deploy zips first (cargo lambda build --release).
        #[arg(long)]
        build: bool,
    },
    /// Dead-letter queues: list them, show why each message is there, send messages back.
    Dlq {
        #[command(subcommand)]
        action: commands::dlq::Action,
    },
    /// Rebuild a read model (`orders`) from scratch by replaying the event store, with
    /// checkpoints (an interrupted rebuild resumes) and events/s; `--verify` compares instead.
    Rebuild {
        projection: String,
        /// Compare the live read model with the one the store rebuilds; write nothing.
        #[arg(long)]
        verify: bool,
        /// Stop after this many orders (the checkpoint is kept; the next run resumes).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Hand stored events to the stream consumers again (after an emulator restart stalled
    /// them, say); every consumer is idempotent, so events already handled change nothing.
    Republish {
        /// Events that occurred at or after this RFC 3339 time.
        #[arg(long, conflicts_with = "minutes")]
        since: Option<String>,
        /// Events of the last N minutes.
        #[arg(long)]
        minutes: Option<u32>,
        /// Repeat with the events each pass caused until a pass finds nothing new (for an
        /// emulator whose stream pollers stopped: restarted with persisted state).
        #[arg(long)]
        until_quiet: bool,
    },
    /// Set everything up, place a valid and a rejected order, print where each ended.
    Demo {
        /// What to deploy: `debug` (host binaries, built in seconds; what the emulator needs)
        /// or `release` (cargo-lambda, optimized, for AWS). Default: debug on the emulator,
        /// release on AWS.
        #[arg(long, value_enum)]
        build: Option<Profile>,
    },
    /// Run every test: formatting, lints, template lint, schemas, unit, handler and end-to-end tests.
    Test,
    /// The schema registry: generate, check compatibility, validate a file.
    Schema {
        /// The registry folder (default: events/schemas of the checkout).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[command(subcommand)]
        action: commands::schema::Action,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> orderflow::Result<()> {
    match cli.command {
        Command::Up { build } => commands::up::up(cli.global, build).await.map(drop),
        Command::Down => commands::up::down(&cli.global),
        Command::Demo { build } => commands::demo::run(cli.global, build).await,
        Command::Test => commands::test::run(cli.global).await,
        Command::Schema { dir, action } => commands::schema::run(&action, dir.as_deref()),
        Command::Deploy { build } => commands::deploy::run(&Context::new(cli.global).await?, build).await.map(drop),
        Command::Status => commands::status::run(&Context::new(cli.global).await?).await,
        Command::Republish { since, minutes, until_quiet } => {
            commands::republish::run(&Context::new(cli.global).await?, since.as_deref(), minutes, until_quiet).await
        }
        Command::Rebuild { projection, verify, limit } => {
            commands::rebuild::run(&Context::new(cli.global).await?, &projection, verify, limit).await
        }
        Command::Graph { format, write } => commands::graph::run(format, write),
        Command::Trace { order_id, json } => {
            commands::trace::run(&Context::new(cli.global).await?, &order_id, json).await
        }
        Command::Dashboard { listen_port } => {
            commands::dashboard::run(Context::new(cli.global).await?, listen_port).await
        }
        Command::Bench { spawns, orders, no_emulator, compare, build } => {
            let plan = orderflow::bench::Plan { spawns, orders: (!no_emulator).then_some(orders) };
            commands::bench::run(&plan, compare.as_deref(), build).await
        }
        Command::Dlq { action } => commands::dlq::run(&Context::new(cli.global).await?, &action).await,
        Command::Invoke { function, payload } => {
            commands::invoke::run(&Context::new(cli.global).await?, &function, &payload).await
        }
        Command::Replay { from_archive: true, since, .. } => {
            commands::replay::from_archive(&Context::new(cli.global).await?, since.as_deref().unwrap_or_default()).await
        }
        Command::Replay { path, no_wait, rate, count, .. } => {
            let pace = commands::replay::Pace { rate, count, wait: !no_wait };
            let path = path.unwrap_or_default();
            commands::replay::run(&Context::new(cli.global).await?, &path, pace).await.map(drop)
        }
    }
}

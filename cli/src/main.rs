//! `orderflow`: run the order-processing system on a local emulator or deploy it to AWS.
use clap::{Parser, Subcommand};
use orderflow::commands::{self, Global};
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
    Up(commands::up::UpArgs),
    /// Build the functions and deploy the template to the emulator (or to AWS with --aws).
    Deploy(commands::deploy::DeployArgs),
    /// Stop the emulator `up` started (its state is not kept); with --aws, remove the
    /// stack `deploy` made and its artifact bucket (only a stack orderflow deployed).
    Down,
    /// The stack, queue and dead-letter queue depths, and the latest events.
    Status,
    /// Invoke a function with a payload file (e.g. events/aws/sqs-order-placed.json).
    Invoke(commands::invoke::InvokeArgs),
    /// Send sample API requests or bus events (a file, or a folder in path order, e.g. a
    /// scenario of events/scenarios/), then print where each order ended.
    Replay(commands::replay::ReplayArgs),
    /// The routing picture drawn from infra/template.yaml (Mermaid, DOT or SVG); `--write`
    /// updates docs/routing.mmd, docs/routing.svg and the picture in docs/routing.md.
    Graph(commands::graph::GraphArgs),
    /// The causal tree of everything an order caused, across every service, with times,
    /// gaps between hops and dead letters.
    Trace(commands::trace::TraceArgs),
    /// A live web page of the stack on 127.0.0.1: event flow per minute per event type,
    /// queue and DLQ depths, the latest failed events with their reasons.
    Dashboard(commands::dashboard::DashboardArgs),
    /// Benchmarks with their targets (P1-P6): cold start, warm invocation, handler CPU per
    /// event, binary size, peak memory, and on a private emulator `up` time, the saga's
    /// rate against the emulator's raw rate, and rebuild speed; a table, and JSON under
    /// bench/ (`--compare` an earlier one).
    Bench(commands::bench::BenchArgs),
    /// The capacity model of the stack on AWS: orders/s per default quota, what saturates
    /// first, cost per million orders, from the newest bench report and AWS's published
    /// quotas and prices; `--write` updates docs/capacity.md.
    Capacity(commands::capacity::CapacityArgs),
    /// The event catalog: an AsyncAPI 3.0 document of every channel, message (each schema
    /// version) and function operation, from the template and the schema registry;
    /// `--write` updates docs/asyncapi.yaml.
    Catalog(commands::catalog::CatalogArgs),
    /// The `ApiKeys` parameter for the checkout's key (its SHA-256, never the key), for
    /// deploys by other tools: `sam deploy --parameter-overrides ApiKeys=$(orderflow api-key)`.
    ApiKey(commands::api_key::ApiKeyArgs),
    /// Env files for `cargo lambda watch --env-file`: each function's environment on the
    /// deployed stack, in .orderflow/env/<function>.env.
    LambdaEnv(commands::lambda_env::LambdaEnvArgs),
    /// Scaffold a new function: `new consumer <name> --on <EventType>,...` writes its crate,
    /// its rule, queues and policy in the template, and the generated docs.
    #[command(subcommand)]
    New(commands::new::NewArgs),
    /// Least privilege from behaviour: the AWS calls each function recorded
    /// (`RecordAwsCalls=distinct`) against the policy the template grants it, both ways.
    Privileges(commands::privileges::PrivilegesArgs),
    /// Dead-letter queues: list them, show why each message is there, send messages back.
    Dlq(commands::dlq::DlqArgs),
    /// Rebuild a read model (`orders`) from scratch by replaying the event store, with
    /// checkpoints (an interrupted rebuild resumes) and events/s; `--verify` compares instead.
    Rebuild(commands::rebuild::RebuildArgs),
    /// Hand stored events to the stream consumers again (after an emulator restart stalled
    /// them, say); every consumer is idempotent, so events already handled change nothing.
    Republish(commands::republish::RepublishArgs),
    /// Set everything up, place a valid and a rejected order, print where each ended.
    Demo(commands::demo::DemoArgs),
    /// Run every test: formatting, lints, template lint, schemas, unit, handler and end-to-end tests.
    Test,
    /// The schema registry: generate, check compatibility, validate a file.
    Schema(commands::schema::SchemaArgs),
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
    let global = cli.global;
    match cli.command {
        Command::Up(args) => args.run(global).await,
        Command::Deploy(args) => args.run(global).await,
        Command::Down => commands::up::down(&global).await,
        Command::Status => commands::status::run(&global.context().await?).await,
        Command::Invoke(args) => args.run(global).await,
        Command::Replay(args) => args.run(global).await,
        Command::Graph(args) => args.run(global),
        Command::Trace(args) => args.run(global).await,
        Command::Dashboard(args) => args.run(global).await,
        Command::Bench(args) => args.run(global).await,
        Command::Capacity(args) => args.run(global),
        Command::Catalog(args) => args.run(global),
        Command::ApiKey(args) => args.run(global),
        Command::LambdaEnv(args) => args.run(global).await,
        Command::New(args) => args.run(global),
        Command::Dlq(args) => args.run(global).await,
        Command::Privileges(args) => args.run(global).await,
        Command::Rebuild(args) => args.run(global).await,
        Command::Republish(args) => args.run(global).await,
        Command::Demo(args) => args.run(global).await,
        Command::Test => commands::test::run(global).await,
        Command::Schema(args) => args.run(global),
    }
}

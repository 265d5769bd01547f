//! Every failure the tool reports, each with what went wrong and what to do about it.

use std::path::PathBuf;
use thiserror::Error;

pub type Result<T, E = CliError> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum CliError {
    #[error(
        "the emulator at {endpoint} does not answer ({reason})\n  hint: start one with `orderflow up`, or fix --endpoint / AWS_ENDPOINT_URL"
    )]
    EmulatorUnreachable { endpoint: String, reason: String },
    #[error(
        "port {port} on 127.0.0.1 is taken by a program that is not an AWS emulator\n  hint: stop that program or choose another port with --port"
    )]
    PortTaken { port: u16 },
    #[error("the emulator did not start: {reason}\n  its log ({}) ends with:\n{tail}", log.display())]
    EmulatorStart { reason: String, log: PathBuf, tail: String },
    #[error("installing the local tools (ministack, cargo-lambda, cfn-lint) failed: {reason}\n  the full output is in {}", log.display())]
    Install { reason: String, log: PathBuf },
    #[error("build failed: {0}")]
    Build(String),
    #[error("deploy of stack {stack} failed: {reason}")]
    Deploy { stack: String, reason: String },
    #[error(
        "stack {stack} does not exist on {target}\n  hint: deploy it first with `orderflow up` (or `orderflow deploy`)"
    )]
    StackMissing { stack: String, target: String },
    #[error("{}: no such file or directory", .0.display())]
    MissingFile(PathBuf),
    #[error("{}: not valid JSON: {reason}", path.display())]
    BadJson { path: PathBuf, reason: String },
    #[error("{}: {reason}", path.display())]
    BadSample { path: PathBuf, reason: String },
    #[error("{0}")]
    Usage(String),
    #[error("{operation} failed: {reason}")]
    Aws { operation: &'static str, reason: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn aws<E, R>(operation: &'static str, error: aws_sdk_sts::error::SdkError<E, R>) -> Self
    where
        E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        CliError::Aws { operation, reason: toolkit::aws::sdk_error_text(&error) }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CliError::Io { path: path.into(), source }
    }
}

//! This machine: the emulator the CLI installs, starts and stops, the local HTTP servers'
//! request reading, the test run's webhook receiver, and the functions' env files for
//! `cargo lambda watch`.

pub mod emulator;
pub mod lambda_env;
pub mod local_http;
pub mod webhook_receiver;

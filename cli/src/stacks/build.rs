//! Builds the Lambda functions the template names and zips each `bootstrap`.
//!
//! - `Release`: `cargo lambda build --release --output-format zip`, the deploy artifact
//!   (Amazon Linux glibc through zig; runs on the emulator and on AWS).
//! - `Debug`: the debug binaries `cargo build`/`cargo test` already made, zipped as
//!   `bootstrap`: seconds instead of minutes, for tests on the emulator (it runs
//!   bootstraps as host processes).

use crate::project::Project;
use crate::{CliError, Result};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    Debug,
    Release,
}

/// The CPU the release zips are built for (the template's `Architecture` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Arm64,
}

impl Arch {
    pub const PARAMETER: &str = "Architecture";

    /// The value of the template's `Architecture` parameter.
    pub fn parameter(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }

    pub fn from_parameter(value: &str) -> Result<Self> {
        match value {
            "x86_64" => Ok(Arch::X86_64),
            "arm64" => Ok(Arch::Arm64),
            other => Err(CliError::Usage(format!("Architecture must be x86_64 or arm64, not `{other}`"))),
        }
    }

    /// This machine's: the emulator runs bootstraps as host processes.
    pub fn host() -> Self {
        match std::env::consts::ARCH {
            "aarch64" => Arch::Arm64,
            _ => Arch::X86_64,
        }
    }

    /// Where cargo-lambda writes this architecture's zips (apart, so both can exist).
    fn lambda_dir(self, project: &Project) -> PathBuf {
        match self {
            Arch::X86_64 => project.target_dir().join("lambda"),
            Arch::Arm64 => project.target_dir().join("lambda-arm64"),
        }
    }

    /// The release deploy zip of `function` that cargo-lambda writes for this architecture.
    pub fn release_zip(self, project: &Project, function: &str) -> PathBuf {
        self.lambda_dir(project).join(function).join("bootstrap.zip")
    }
}

/// The functions the template deploys: the crate each `AWS::Serverless::Function`'s
/// `CodeUri: ../functions/<crate>` names. A template that does not parse names none (the
/// deploy then reports why it does not parse).
pub fn template_functions(template: &str) -> Vec<String> {
    function_code_uris(template).unwrap_or_default().into_iter().filter_map(|(_, folder)| folder).collect()
}

/// Each function resource's logical id with the crate its `CodeUri` names (`None` when the
/// `CodeUri` is not `../functions/<crate>`).
pub fn function_code_uris(template: &str) -> Result<Vec<(String, Option<String>)>> {
    let resources = crate::project::template_resources(template)?;
    Ok(resources
        .into_iter()
        .filter(|(_, r)| r.get("Type").and_then(serde_norway::Value::as_str) == Some("AWS::Serverless::Function"))
        .map(|(id, r)| {
            let uri = r.get("Properties").and_then(|p| p.get("CodeUri")).and_then(serde_norway::Value::as_str);
            let folder = uri.and_then(|u| u.strip_prefix("../functions/")).map(|n| n.trim_end_matches('/').to_string());
            (id, folder)
        })
        .collect())
}

/// Builds every function for this machine and returns the zip of each, by function name.
pub fn build(project: &Project, profile: Profile) -> Result<BTreeMap<String, PathBuf>> {
    build_for(project, profile, Arch::host())
}

/// Builds every function (release builds for `arch`) and returns the zip of each.
pub fn build_for(project: &Project, profile: Profile, arch: Arch) -> Result<BTreeMap<String, PathBuf>> {
    let template = fs::read_to_string(project.template()).map_err(|e| CliError::io(project.template(), e))?;
    let functions = template_functions(&template);
    if functions.is_empty() {
        return Err(CliError::Build(format!(
            "{} names no function (CodeUri: ../functions/<name>)",
            project.template().display()
        )));
    }
    match profile {
        Profile::Debug => build_debug(project, &functions),
        Profile::Release => build_release(project, &functions, arch),
    }
}

fn package_args(functions: &[String]) -> Vec<String> {
    functions.iter().flat_map(|f| ["-p".to_string(), f.clone()]).collect()
}

fn run(command: &mut Command, what: &str) -> Result<()> {
    eprintln!("$ {what}");
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(CliError::Build(format!("`{what}` exited with {status} (its output is above)"))),
        Err(e) => Err(CliError::Build(format!("cannot run `{what}`: {e}"))),
    }
}

/// The debug zips a previous debug build left (the test command builds them first).
pub fn debug_zips(project: &Project) -> Result<BTreeMap<String, PathBuf>> {
    let template = fs::read_to_string(project.template()).map_err(|e| CliError::io(project.template(), e))?;
    let out_dir = project.state_dir().join("build").join("debug");
    template_functions(&template)
        .into_iter()
        .map(|function| {
            let zip = out_dir.join(format!("{function}.zip"));
            match zip.is_file() {
                true => Ok((function, zip)),
                false => Err(CliError::MissingFile(zip)),
            }
        })
        .collect()
}

fn build_debug(project: &Project, functions: &[String]) -> Result<BTreeMap<String, PathBuf>> {
    let args = package_args(functions);
    run(
        Command::new("cargo").arg("build").args(&args).current_dir(project.root()),
        &format!("cargo build {}", args.join(" ")),
    )?;
    let out_dir = project.state_dir().join("build").join("debug");
    fs::create_dir_all(&out_dir).map_err(|e| CliError::io(&out_dir, e))?;
    functions
        .iter()
        .map(|function| {
            let binary = project.target_dir().join("debug").join(function);
            let zip_path = out_dir.join(format!("{function}.zip"));
            zip_bootstrap(&binary, &zip_path)?;
            Ok((function.clone(), zip_path))
        })
        .collect()
}

fn build_release(project: &Project, functions: &[String], arch: Arch) -> Result<BTreeMap<String, PathBuf>> {
    crate::local::emulator::ensure_tools(project)?;
    let lambda_dir = arch.lambda_dir(project);
    let mut args: Vec<String> = ["lambda", "build", "--release", "--output-format", "zip"].map(String::from).into();
    if arch == Arch::Arm64 {
        args.push("--arm64".into());
    }
    args.extend(["--lambda-dir".to_string(), lambda_dir.display().to_string()]);
    args.extend(package_args(functions));
    let path = format!("{}:{}", project.venv().join("bin").display(), std::env::var("PATH").unwrap_or_default());
    run(
        Command::new("cargo").args(&args).env("PATH", path).current_dir(project.root()),
        &format!("cargo {}", args.join(" ")),
    )?;
    functions
        .iter()
        .map(|function| {
            let zip_path = arch.release_zip(project, function);
            if !zip_path.is_file() {
                return Err(CliError::Build(format!("cargo lambda did not produce {}", zip_path.display())));
            }
            Ok((function.clone(), zip_path))
        })
        .collect()
}

/// The cold-start floor's name: `shared/toolkit/examples/hello.rs`, the runtime and an echo.
pub const FLOOR: &str = "hello";

/// Builds the cold-start floor exactly as the functions' release zips are built (cargo-lambda,
/// release profile, this machine's architecture) and returns its zip.
pub fn build_floor(project: &Project) -> Result<PathBuf> {
    crate::local::emulator::ensure_tools(project)?;
    let arch = Arch::host();
    let mut args: Vec<String> = ["lambda", "build", "--release", "--output-format", "zip"].map(String::from).into();
    if arch == Arch::Arm64 {
        args.push("--arm64".into());
    }
    args.extend(["--lambda-dir".to_string(), arch.lambda_dir(project).display().to_string()]);
    args.extend(
        ["-p", "orderflow-toolkit", "--example", FLOOR, "--no-default-features", "--features", "lambda"]
            .map(String::from),
    );
    let path = format!("{}:{}", project.venv().join("bin").display(), std::env::var("PATH").unwrap_or_default());
    run(
        Command::new("cargo").args(&args).env("PATH", path).current_dir(project.root()),
        &format!("cargo {}", args.join(" ")),
    )?;
    let zip_path = arch.release_zip(project, FLOOR);
    match zip_path.is_file() {
        true => Ok(zip_path),
        false => Err(CliError::Build(format!("cargo lambda did not produce {}", zip_path.display()))),
    }
}

/// Zips `binary` as an executable `bootstrap`, as Lambda's custom runtimes expect.
fn zip_bootstrap(binary: &Path, zip_path: &Path) -> Result<()> {
    let bytes = fs::read(binary).map_err(|e| CliError::Build(format!("{}: {e} (was it built?)", binary.display())))?;
    let file = File::create(zip_path).map_err(|e| CliError::io(zip_path, e))?;
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1))
        .unix_permissions(0o755);
    let write_error = |e: &dyn std::fmt::Display| CliError::Build(format!("{}: {e}", zip_path.display()));
    zip.start_file("bootstrap", options).map_err(|e| write_error(&e))?;
    zip.write_all(&bytes).map_err(|e| write_error(&e))?;
    zip.finish().map_err(|e| write_error(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_reads_the_function_names_from_the_template() {
        let function = |id: &str, uri: &str| {
            format!("  {id}:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: {uri}\n")
        };
        let template = format!(
            "Resources:\n{}{}{}  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      CodeUri: ../functions/not-a-function\n",
            function("A", "../functions/api-ingress"),
            function("B", "../functions/projector/"),
            function("C", "s3://x/y")
        );
        assert_eq!(template_functions(&template), vec!["api-ingress", "projector"]);
        assert_eq!(function_code_uris(&template).unwrap()[2], ("C".to_string(), None));
    }
}

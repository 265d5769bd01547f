//! `orderflow lambda-env [function]`: writes `.orderflow/env/<function>.env` from the
//! deployed stack, for `cargo lambda watch --env-file` (the inner loop: edit, save, invoke).

use super::Context;
use crate::Result;
use crate::stack::StackInfo;

/// The arguments of `orderflow lambda-env`.
#[derive(Debug, clap::Args)]
pub struct LambdaEnvArgs {
    /// Only this function (default: every function of the template).
    pub function: Option<String>,
}

impl LambdaEnvArgs {
    /// Runs the command.
    pub async fn run(self, global: super::Global) -> Result<()> {
        let context = Context::new(global).await?;
        context.require_reachable().await?;
        let stack = StackInfo::require(&context.clients, &context.global.stack).await?;
        let written =
            crate::lambda_env::write(&context.clients, &stack, &context.project, self.function.as_deref()).await?;
        for file in &written {
            println!("wrote {}", file.strip_prefix(context.project.root()).unwrap_or(file).display());
        }
        let function = self.function.as_deref().unwrap_or("order-validator");
        println!(
            "\nthen, with cargo-lambda on the PATH (.orderflow/venv/bin has it):\n  \
             cargo lambda watch -p {function} --env-file .orderflow/{}/{function}.env\n  \
             cargo lambda invoke {function} --data-file events/aws/<sample>.json",
            crate::lambda_env::ENV_DIR
        );
        Ok(())
    }
}

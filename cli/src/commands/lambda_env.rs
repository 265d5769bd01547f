//! `orderflow lambda-env [function]`: writes `.orderflow/env/<function>.env` from the
//! deployed stack, for `cargo lambda watch --env-file` (the inner loop: edit, save, invoke).

use crate::Result;

/// The arguments of `orderflow lambda-env`.
#[derive(Debug, clap::Args)]
pub struct LambdaEnvArgs {
    /// Only this function (default: every function of the template).
    pub function: Option<String>,
}

impl LambdaEnvArgs {
    /// Runs the command.
    pub async fn run(self, global: super::Global) -> Result<()> {
        let context = global.context().await?;
        context.require_reachable().await?;
        let stack = context.stack_info().await?;
        let written =
            crate::local::lambda_env::write(&context.clients, &stack, &context.project, self.function.as_deref())
                .await?;
        for file in &written {
            println!("wrote {}", file.strip_prefix(context.project.root()).unwrap_or(file).display());
        }
        let function = self.function.as_deref().unwrap_or("order-validator");
        println!(
            "\nthen, with cargo-lambda on the PATH (.orderflow/venv/bin has it):\n  \
             cargo lambda watch -p {function} --env-file .orderflow/{}/{function}.env\n  \
             cargo lambda invoke {function} --data-file events/aws/<sample>.json",
            crate::local::lambda_env::ENV_DIR
        );
        Ok(())
    }
}

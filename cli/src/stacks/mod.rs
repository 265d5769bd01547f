//! Targets and stacks: SDK clients for the emulator or AWS, the functions' build, deploys
//! through change sets, stack outputs, teardown, API keys, and the permissions a deploy and
//! each function need.

pub mod api_key;
pub mod build;
pub mod deploy;
pub mod deployer_policy;
pub mod destroy;
pub mod iam_lint;
pub mod least_privilege;
pub mod stack;
pub mod target;

//! The IAM policy the user who runs `orderflow deploy --aws` needs, derived from behaviour:
//! the actions the CLI's own requests needed (recorded by [`crate::stacks::target::CallRecorder`]
//! while the deploy-path test deploys, plans, redeploys and removes a stack), plus what
//! CloudFormation does with the caller's credentials for each resource type the stack
//! really holds (the create, update and delete handler permissions of CloudFormation's
//! resource schemas, as cfn-lint ships them in the project's virtualenv).

use crate::project::Project;
use crate::stacks::target::Clients;
use crate::{CliError, Result};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where the derived policies are kept (`<name>.json`); docs/aws.md links them.
pub const POLICY_DIR: &str = "infra/deployer-policy";
/// The commands' own calls: for the deploying user.
pub const COMMANDS: &str = "deployer-commands";
/// What CloudFormation does for the stack's resources: the deploying user's too, or a
/// CloudFormation service role's. Apart because together they pass a managed policy's
/// 6,144 characters.
pub const HANDLERS_POLICY: &str = "deployer-cloudformation";
/// Set to 1 to rewrite the files under [`POLICY_DIR`] from a run instead of failing on a difference.
pub const WRITE_ENV: &str = "ORDERFLOW_WRITE_DEPLOYER_POLICY";
/// Actions IAM does not authorize (`sts:GetCallerIdentity` needs no permission).
const NEEDS_NO_PERMISSION: [&str; 1] = ["sts:GetCallerIdentity"];
/// The handlers CloudFormation runs for a deploy, an update and `down`.
const HANDLERS: [&str; 3] = ["create", "update", "delete"];
/// The region whose resource schemas are read: permissions do not vary by region.
const SCHEMA_REGION: &str = "us-east-1";

/// The resource types a deployed stack holds after its transforms (the SAM transform
/// turns one function into a function, a role, event source mappings...).
pub async fn resource_types(clients: &Clients, stack: &str) -> Result<BTreeSet<String>> {
    let output = clients
        .cloudformation()
        .describe_stack_resources()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| CliError::aws("DescribeStackResources", e))?;
    Ok(output.stack_resources().iter().filter_map(|r| r.resource_type().map(str::to_string)).collect())
}

/// The types of the template's resources that carry a `Condition` (the archive and the
/// schema registry exist only on AWS): a stack on the emulator does not show them.
pub fn conditional_types(template: &str) -> Result<BTreeSet<String>> {
    let resources = crate::project::template_resources(template)?;
    Ok(resources
        .iter()
        .filter(|(_, resource)| resource.get("Condition").is_some())
        .filter_map(|(_, resource)| resource.get("Type").and_then(serde_norway::Value::as_str).map(str::to_string))
        .collect())
}

/// The permissions CloudFormation's handlers for each type need, by type.
pub fn handler_permissions(project: &Project, types: &BTreeSet<String>) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let schemas = schemas_dir(project)?;
    let providers = crate::project::read_json_file(&schemas.join("providers").join(format!("{SCHEMA_REGION}.json")))?;
    let mut permissions = BTreeMap::new();
    for kind in types {
        let file = providers[kind.as_str()].as_str().ok_or_else(|| {
            CliError::Failed(format!("{kind}: no CloudFormation resource schema for it in {}", schemas.display()))
        })?;
        let schema = crate::project::read_json_file(&schemas.join("resources").join(format!("{file}.json")))?;
        let actions = HANDLERS
            .iter()
            .flat_map(|handler| schema["handlers"][handler]["permissions"].as_array().into_iter().flatten())
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        permissions.insert(kind.clone(), actions);
    }
    Ok(permissions)
}

/// cfn-lint's copy of CloudFormation's resource schemas, in the project's virtualenv.
fn schemas_dir(project: &Project) -> Result<PathBuf> {
    let lib = project.venv().join("lib");
    let found = std::fs::read_dir(&lib)
        .map_err(|e| CliError::io(&lib, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .map(|python| python.join("site-packages/cfnlint/data/schemas"))
        .find(|dir| dir.is_dir());
    found.ok_or_else(|| {
        CliError::Failed(format!("no cfn-lint schemas under {}: run `orderflow up` once", lib.display()))
    })
}

/// The two policy documents, by name: the CLI's own actions, by service, on the
/// resources they act on; and everything CloudFormation's handlers need for the stack's
/// resource types, on `*` because CloudFormation names most resources at creation.
pub fn documents(
    cli_actions: &BTreeSet<String>,
    handlers: &BTreeMap<String, BTreeSet<String>>,
) -> BTreeMap<&'static str, Value> {
    let mut by_service: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for action in cli_actions.iter().filter(|a| !NEEDS_NO_PERMISSION.contains(&a.as_str())) {
        by_service.entry(action.split(':').next().unwrap_or_default()).or_default().insert(action);
    }
    let commands: Vec<Value> = by_service
        .into_iter()
        .map(|(service, actions)| {
            json!({
                "Sid": format!("Orderflow{}", capitalized(service)),
                "Effect": "Allow",
                "Action": actions,
                "Resource": command_resources(service),
            })
        })
        .collect();
    let on_behalf: BTreeSet<&str> =
        handlers.values().flatten().map(String::as_str).filter(|a| is_action_name(a)).collect();
    let handlers = json!({ "Sid": "CloudFormationHandlers", "Effect": "Allow", "Action": on_behalf, "Resource": "*" });
    BTreeMap::from([
        (COMMANDS, json!({ "Version": "2012-10-17", "Statement": commands })),
        (HANDLERS_POLICY, json!({ "Version": "2012-10-17", "Statement": [handlers] })),
    ])
}

/// What the commands act on: the stacks, their change sets and the SAM transform; the
/// artifact buckets `deploy` names `<stack>-artifacts-<account>-<region>`.
fn command_resources(service: &str) -> Value {
    match service {
        "cloudformation" => json!([
            "arn:aws:cloudformation:*:*:stack/*/*",
            "arn:aws:cloudformation:*:*:changeSet/*/*",
            "arn:aws:cloudformation:*:aws:transform/Serverless-2016-10-31"
        ]),
        "s3" => json!(["arn:aws:s3:::*-artifacts-*", "arn:aws:s3:::*-artifacts-*/*"]),
        _ => json!("*"),
    }
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// `service:Action` with an alphanumeric action: the schemas hold at least one entry that
/// is not an IAM action at all (`s3:REST.PUT.OBJECT`).
fn is_action_name(action: &str) -> bool {
    action.split_once(':').is_some_and(|(service, name)| {
        !service.is_empty() && !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric())
    })
}

/// Compares the derived policies with the kept ones; rewrites the files instead when
/// [`WRITE_ENV`] is 1. The error names every action added or gone.
pub fn check_or_write(root: &Path, derived: &BTreeMap<&str, Value>) -> Result<()> {
    let dir = root.join(POLICY_DIR);
    let path_of = |name: &str| dir.join(format!("{name}.json"));
    if std::env::var(WRITE_ENV).as_deref() == Ok("1") {
        std::fs::create_dir_all(&dir).map_err(|e| CliError::io(&dir, e))?;
        for (name, policy) in derived {
            let text = format!("{}\n", serde_json::to_string_pretty(policy).unwrap_or_default());
            std::fs::write(path_of(name), text).map_err(|e| CliError::io(path_of(name), e))?;
        }
        return Ok(());
    }
    let (mut kept_actions, mut derived_actions) = (BTreeSet::new(), BTreeSet::new());
    for (name, policy) in derived {
        let kept = crate::project::read_json_file(&path_of(name)).unwrap_or(Value::Null);
        kept_actions.extend(actions_of(name, &kept));
        derived_actions.extend(actions_of(name, policy));
        if &kept != policy && actions_of(name, &kept) == actions_of(name, policy) {
            kept_actions.insert(format!("{name}: (the same actions, written differently)"));
        }
    }
    let added: Vec<_> = derived_actions.difference(&kept_actions).collect();
    let gone: Vec<_> = kept_actions.difference(&derived_actions).collect();
    if added.is_empty() && gone.is_empty() {
        return Ok(());
    }
    Err(CliError::Failed(format!(
        "{POLICY_DIR} is stale: needed now and not listed {added:?}; listed and no longer needed {gone:?}; \
         rerun the deploy-path test with {WRITE_ENV}=1 and commit the files"
    )))
}

/// Every action of a policy document, as `<policy>/<statement>: <action>`.
fn actions_of(name: &str, policy: &Value) -> BTreeSet<String> {
    let statements = policy["Statement"].as_array().into_iter().flatten();
    statements
        .flat_map(|s| {
            let sid = format!("{name}/{}", s["Sid"].as_str().unwrap_or_default());
            s["Action"].as_array().into_iter().flatten().filter_map(Value::as_str).map(move |a| format!("{sid}: {a}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_holds_the_commands_actions_and_the_handlers_not_what_needs_no_permission() {
        let cli = BTreeSet::from(["sts:GetCallerIdentity".to_string(), "cloudformation:CreateChangeSet".to_string()]);
        let handlers = BTreeMap::from([(
            "AWS::SQS::Queue".to_string(),
            BTreeSet::from(["sqs:CreateQueue".to_string(), "sqs:DeleteQueue".to_string()]),
        )]);
        let policies = documents(&cli, &handlers);
        let commands = &policies[COMMANDS]["Statement"];
        assert_eq!(commands[0]["Sid"], "OrderflowCloudformation");
        assert_eq!(commands[0]["Action"], json!(["cloudformation:CreateChangeSet"]));
        assert_eq!(commands.as_array().unwrap().len(), 1, "nothing for sts:GetCallerIdentity");
        assert_eq!(policies[HANDLERS_POLICY]["Statement"][0]["Action"], json!(["sqs:CreateQueue", "sqs:DeleteQueue"]));
    }

    #[test]
    fn only_iam_action_names_are_kept_from_the_schemas() {
        assert!(is_action_name("lambda:CreateFunction"));
        assert!(!is_action_name("s3:REST.PUT.OBJECT"));
        assert!(!is_action_name("s3:"));
    }

    #[test]
    fn resources_created_under_a_condition_are_counted_though_the_emulator_lacks_them() {
        let template = "Resources:\n  Archive:\n    Type: AWS::Events::Archive\n    Condition: OnAws\n  Queue:\n    Type: AWS::SQS::Queue\n";
        assert_eq!(conditional_types(template).unwrap(), BTreeSet::from(["AWS::Events::Archive".to_string()]));
    }

    #[test]
    fn a_stale_policy_names_what_was_added_and_what_is_gone() {
        let dir = std::env::temp_dir().join(format!("deployer-policy-{}", std::process::id()));
        std::fs::create_dir_all(dir.join(POLICY_DIR)).unwrap();
        let kept = documents(&BTreeSet::from(["s3:PutObject".to_string()]), &BTreeMap::new());
        for (name, policy) in &kept {
            std::fs::write(dir.join(POLICY_DIR).join(format!("{name}.json")), policy.to_string()).unwrap();
        }
        let derived = documents(&BTreeSet::from(["s3:CreateBucket".to_string()]), &BTreeMap::new());
        let error = check_or_write(&dir, &derived).unwrap_err().to_string();
        assert!(error.contains("s3:CreateBucket") && error.contains("s3:PutObject"), "{error}");
        assert!(check_or_write(&dir, &kept).is_ok());
        let _ = std::fs::remove_dir_all(dir);
    }
}

//! Every IAM policy we ship, linted offline by parliament (pinned in the checkers'
//! virtualenv): each function's policy from the template, written as IAM documents with
//! ARNs in AWS's form, and the deploying user's (infra/deployer-policy/).
//! Any finding fails, except the few [`NOT_FAULTS`] named one by one with the reason.

use crate::project::Project;
use crate::stacks::least_privilege::policies;
use crate::{CliError, Result};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};

/// A placeholder account and region: parliament checks the ARN's form, not its values.
const EXAMPLE_ACCOUNT: &str = "123456789012";
const EXAMPLE_REGION: &str = "us-east-1";

/// Findings about the deploying user's policies that are parliament's limits, not faults:
/// (issue, the string it is about). Its action list (1.6.4) predates actions that
/// CloudFormation's resource schemas name, and it does not know the ARN form of AWS's own
/// transforms (account `aws`). One by one, so a misspelt action still fails. (Its own
/// `ignore_locations` setting does not work from a config file in 1.6.4.)
const NOT_FAULTS: [(&str, &str); 12] = [
    ("UNKNOWN_ACTION", "apigateway:TagResource"),
    ("UNKNOWN_ACTION", "apigateway:UntagResource"),
    ("UNKNOWN_ACTION", "dynamodb:AssociateTableReplica"),
    ("UNKNOWN_ACTION", "kms:ReEncrypt"),
    ("UNKNOWN_ACTION", "lambda:AssociateRuntimeAlias"),
    ("UNKNOWN_ACTION", "lambda:PassCapacityProvider"),
    ("UNKNOWN_ACTION", "lambda:PutFunctionScalingConfig"),
    ("UNKNOWN_ACTION", "logs:PutBearerTokenAuthentication"),
    ("UNKNOWN_ACTION", "logs:PutLogGroupDeletionProtection"),
    ("UNKNOWN_ACTION", "s3:GetObjectMetadata"),
    ("UNKNOWN_PREFIX", "s3files:ListMountTargets"),
    ("INVALID_ARN", "arn:aws:cloudformation:*:aws:transform/Serverless-2016-10-31"),
];

/// Each function's policy as an IAM document, by function name: one statement per
/// resource, with the actions granted on it.
pub fn policy_documents(template: &str) -> Result<BTreeMap<String, Value>> {
    let types = types_by_logical_id(template)?;
    let mut documents = BTreeMap::new();
    for (function, policy) in policies(template)? {
        let mut by_resource: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
        for (action, target) in &policy.grants {
            by_resource.entry(example_arn(target, &types)?).or_default().insert(action);
        }
        let statements: Vec<Value> = by_resource
            .into_iter()
            .map(|(arn, actions)| json!({ "Effect": "Allow", "Action": actions, "Resource": arn }))
            .collect();
        documents.insert(function, json!({ "Version": "2012-10-17", "Statement": statements }));
    }
    Ok(documents)
}

fn types_by_logical_id(template: &str) -> Result<BTreeMap<String, String>> {
    let resources = crate::project::template_resources(template)?;
    Ok(resources
        .into_iter()
        .filter_map(|(id, resource)| Some((id, resource.get("Type")?.as_str()?.to_string())))
        .collect())
}

/// The ARN a grant's resource (`Logical` or `Logical/index/x`) has on AWS.
fn example_arn(target: &str, types: &BTreeMap<String, String>) -> Result<String> {
    let (logical, suffix) = target.split_once('/').map_or((target, String::new()), |(l, s)| (l, format!("/{s}")));
    let kind = types.get(logical).map(String::as_str).unwrap_or("(not in the template)");
    let at = |service: &str| format!("arn:aws:{service}:{EXAMPLE_REGION}:{EXAMPLE_ACCOUNT}");
    match kind {
        "AWS::DynamoDB::Table" => Ok(format!("{}:table/{logical}{suffix}", at("dynamodb"))),
        "AWS::SQS::Queue" => Ok(format!("{}:{logical}", at("sqs"))),
        "AWS::Events::EventBus" => Ok(format!("{}:event-bus/{logical}", at("events"))),
        "AWS::SNS::Topic" => Ok(format!("{}:{logical}", at("sns"))),
        other => Err(CliError::Failed(format!(
            "{target}: a policy grants on a resource of type {other}, which the lint cannot name"
        ))),
    }
}

/// Writes every policy into `.orderflow/iam-policies/` and runs parliament over them.
pub fn lint(project: &Project, parliament: &Path) -> Result<usize> {
    let template = std::fs::read_to_string(project.template()).map_err(|e| CliError::io(project.template(), e))?;
    let dir = project.state_dir().join("iam-policies");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| CliError::io(&dir, e))?;
    let mut documents = policy_documents(&template)?;
    let deployer = project.root().join(crate::stacks::deployer_policy::POLICY_DIR);
    for name in [crate::stacks::deployer_policy::COMMANDS, crate::stacks::deployer_policy::HANDLERS_POLICY] {
        documents.insert(name.into(), crate::project::read_json_file(&deployer.join(format!("{name}.json")))?);
    }
    for (name, document) in &documents {
        let file = dir.join(format!("{name}.json"));
        let text = serde_json::to_string_pretty(document).unwrap_or_default();
        std::fs::write(&file, text).map_err(|e| CliError::io(&file, e))?;
    }
    let output = Command::new(parliament)
        .arg("--directory")
        .arg(&dir)
        .args(["--include_policy_extension", ".json", "--json"])
        .stdin(Stdio::null()) // parliament reads a policy from stdin when it is not a terminal
        .output()
        .map_err(|e| CliError::Failed(format!("cannot run {}: {e}", parliament.display())))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let findings: Vec<String> = stdout.lines().filter_map(fault).collect();
    if !findings.is_empty() {
        return Err(CliError::Failed(format!("IAM policy lint (parliament):\n  {}", findings.join("\n  "))));
    }
    if !output.status.success() && stdout.trim().is_empty() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(CliError::Failed(format!("parliament failed ({}): {}", output.status, stderr.trim())));
    }
    Ok(documents.len())
}

/// A finding as a person reads it (the policy, the issue, its detail), unless it is one
/// of [`NOT_FAULTS`].
fn fault(line: &str) -> Option<String> {
    let Ok(finding) = serde_json::from_str::<Value>(line) else { return Some(line.to_string()) };
    let file = finding["location"]["filepath"].as_str().unwrap_or_default();
    let policy = Path::new(file).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let issue = finding["issue"].as_str().unwrap_or_default();
    let about = finding["location"]["string"].as_str().unwrap_or_default();
    let deployers = [crate::stacks::deployer_policy::COMMANDS, crate::stacks::deployer_policy::HANDLERS_POLICY];
    if deployers.contains(&policy.as_str()) && NOT_FAULTS.contains(&(issue, about)) {
        return None;
    }
    Some(format!("{policy}: {issue} ({}) {} {about}", finding["severity"], finding["detail"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_becomes_a_statement_on_the_resources_aws_arn() {
        let template = "Resources:
  Store: { Type: AWS::DynamoDB::Table }
  Dlq: { Type: AWS::SQS::Queue }
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub \"${AWS::StackName}-payment\"
      Policies:
        - Statement:
            - { Effect: Allow, Action: [dynamodb:Query], Resource: !Sub \"${Store.Arn}/index/byTime\" }
            - { Effect: Allow, Action: [dynamodb:PutItem, dynamodb:Query], Resource: !GetAtt Store.Arn }
            - { Effect: Allow, Action: [sqs:SendMessage], Resource: !GetAtt Dlq.Arn }
";
        let documents = policy_documents(template).unwrap();
        let statements = documents["payment"]["Statement"].as_array().unwrap().clone();
        assert_eq!(statements.len(), 3, "{statements:?}");
        assert!(statements.contains(&json!({ "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": "arn:aws:sqs:us-east-1:123456789012:Dlq" })));
        assert!(statements.contains(&json!({ "Effect": "Allow", "Action": ["dynamodb:Query"], "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/Store/index/byTime" })));
    }

    #[test]
    fn a_finding_fails_unless_it_is_a_named_limit_of_the_linter_on_the_deployer_policy() {
        let finding = |file: &str, issue: &str, string: &str| {
            json!({ "issue": issue, "severity": "LOW", "detail": "d", "location": { "string": string, "filepath": file } })
                .to_string()
        };
        let deployer = ".orderflow/iam-policies/deployer-cloudformation.json";
        assert_eq!(fault(&finding(deployer, "UNKNOWN_ACTION", "kms:ReEncrypt")), None);
        assert!(fault(&finding(deployer, "UNKNOWN_ACTION", "kms:ReEncrpyt")).is_some(), "a misspelling fails");
        let payment = ".orderflow/iam-policies/payment.json";
        assert!(
            fault(&finding(payment, "UNKNOWN_ACTION", "kms:ReEncrypt")).unwrap().starts_with("payment: UNKNOWN_ACTION")
        );
        assert!(fault("not json").is_some());
    }

    #[test]
    fn a_grant_on_a_resource_the_lint_cannot_name_is_an_error_naming_it() {
        let types = BTreeMap::from([("Bucket".to_string(), "AWS::S3::Bucket".to_string())]);
        let error = example_arn("Bucket", &types).unwrap_err().to_string();
        assert!(error.contains("Bucket") && error.contains("AWS::S3::Bucket"), "{error}");
    }
}

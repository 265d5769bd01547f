//! Least privilege checked against behaviour: the calls each function made (recorded by
//! the toolkit with `RecordAwsCalls`, read back from the function's log group) set
//! against what the template's policy for that function grants, both ways. A call the
//! policy does not allow names the function, action and resource; a grant no call used
//! is reported unless the function's `Metadata: UnexercisedGrants` says why it is needed.

use crate::stacks::stack::StackInfo;
use crate::stacks::target::Clients;
use crate::{CliError, Result};
use serde_norway::Value;
use std::collections::{BTreeMap, BTreeSet};

/// One action on one resource, as IAM names them: `dynamodb:Query`, `table/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Call {
    pub action: String,
    pub resource: String,
}

/// A function's policy as the template writes it: (action, resource as logical id plus a
/// suffix such as `/index/byCustomer`), and the grants it says are not exercised, why.
#[derive(Debug, Default)]
pub struct Policy {
    pub grants: BTreeSet<(String, String)>,
    pub unexercised: BTreeMap<(String, String), String>,
}

/// Every function's policy, by the name it is deployed under without the stack prefix
/// (`analytics` for `FunctionName: !Sub "${AWS::StackName}-analytics"`).
pub fn policies(template: &str) -> Result<BTreeMap<String, Policy>> {
    let resources = crate::project::template_resources(template)?;
    let mut policies = BTreeMap::new();
    for (_, resource) in
        resources.iter().filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function"))
    {
        let properties = &resource["Properties"];
        let Some(name) = substituted(&properties["FunctionName"])
            .and_then(|n| n.strip_prefix("${AWS::StackName}-").map(str::to_string))
        else {
            continue;
        };
        let mut policy = Policy::default();
        for statement in properties["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|p| p["Statement"].as_sequence())
            .flatten()
        {
            for action in strings(&statement["Action"]) {
                for target in listed(&statement["Resource"]).iter().filter_map(resource_ref) {
                    policy.grants.insert((action.clone(), target));
                }
            }
        }
        for marked in resource["Metadata"]["UnexercisedGrants"].as_sequence().into_iter().flatten() {
            let (Some(action), Some(target), Some(reason)) =
                (marked["Action"].as_str(), marked["Resource"].as_str(), marked["Reason"].as_str())
            else {
                return Err(CliError::Failed(format!(
                    "{name}: UnexercisedGrants entries need Action, Resource and Reason"
                )));
            };
            policy.unexercised.insert((action.to_string(), target.to_string()), reason.to_string());
        }
        policies.insert(name, policy);
    }
    Ok(policies)
}

/// The text of a `!Sub` (or a plain string).
fn substituted(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "!Sub" => tagged.value.as_str(),
        Value::String(text) => Some(text),
        _ => None,
    }
}

fn strings(value: &Value) -> Vec<String> {
    listed(value).iter().filter_map(|v| v.as_str().map(str::to_string)).collect()
}

fn listed(value: &Value) -> Vec<Value> {
    match value {
        Value::Sequence(list) => list.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// `LogicalId` plus a suffix, from `!GetAtt X.Arn`, `!Ref X` or `!Sub "${X.Arn}/index/Y"`.
fn resource_ref(value: &Value) -> Option<String> {
    let Value::Tagged(tagged) = value else { return None };
    let text = tagged.value.as_str()?;
    match tagged.tag.to_string().as_str() {
        "!GetAtt" => text.split('.').next().map(str::to_string),
        "!Ref" => Some(text.to_string()),
        "!Sub" => {
            let inner = text.strip_prefix("${")?;
            let (reference, suffix) = inner.split_once('}')?;
            Some(format!("{}{suffix}", reference.split('.').next()?))
        }
        _ => None,
    }
}

/// The stack's resources as IAM resource names end (`table/<name>`, `queue/<name>`,
/// `event-bus/<name>`), by logical id.
pub async fn physical_names(clients: &Clients, stack: &StackInfo) -> Result<BTreeMap<String, String>> {
    let output = clients
        .cloudformation()
        .describe_stack_resources()
        .stack_name(&stack.name)
        .send()
        .await
        .map_err(|e| CliError::aws("DescribeStackResources", e))?;
    let mut names = BTreeMap::new();
    for resource in output.stack_resources() {
        let (Some(logical), Some(physical), Some(kind)) =
            (resource.logical_resource_id(), resource.physical_resource_id(), resource.resource_type())
        else {
            continue;
        };
        let name = match kind {
            "AWS::DynamoDB::Table" => format!("table/{physical}"),
            "AWS::SQS::Queue" => format!("queue/{}", physical.rsplit('/').next().unwrap_or(physical)),
            "AWS::Events::EventBus" => format!("event-bus/{}", physical.rsplit('/').next().unwrap_or(physical)),
            _ => continue,
        };
        names.insert(logical.to_string(), name);
    }
    Ok(names)
}

/// The distinct calls each function recorded since `since_ms`, from its log group.
pub async fn recorded_calls(
    clients: &Clients,
    stack: &StackInfo,
    functions: impl Iterator<Item = &String>,
    since_ms: i64,
) -> Result<BTreeMap<String, BTreeSet<Call>>> {
    let mut recorded = BTreeMap::new();
    for function in functions {
        let group = format!("/aws/lambda/{}", stack.function_name(function));
        let mut calls = BTreeSet::new();
        let mut pages = clients
            .logs()
            .filter_log_events()
            .log_group_name(&group)
            .filter_pattern(format!("\"{}\"", toolkit::aws::AWS_CALL))
            .start_time(since_ms)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                // A function never invoked has no log group.
                Err(e) if toolkit::aws::error_text(&e).contains("ResourceNotFound") => break,
                Err(e) => return Err(CliError::aws("FilterLogEvents", e)),
            };
            for event in page.events() {
                calls.extend(calls_in_line(event.message().unwrap_or_default()));
            }
        }
        recorded.insert(function.clone(), calls);
    }
    Ok(recorded)
}

/// The calls of one `aws call` log line (none for any other line).
pub fn calls_in_line(line: &str) -> Vec<Call> {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(line.trim()) else { return Vec::new() };
    if json["message"].as_str() != Some(toolkit::aws::AWS_CALL) {
        return Vec::new();
    }
    json["calls"]
        .as_str()
        .unwrap_or_default()
        .split(';')
        .filter_map(|call| call.split_once(' '))
        .map(|(action, resource)| Call { action: action.to_string(), resource: resource.to_string() })
        .collect()
}

/// What the check found.
#[derive(Debug, Default)]
pub struct Findings {
    /// Calls a function made that its policy does not allow: `function: action resource`.
    pub denied: Vec<String>,
    /// Grants no call used and no `UnexercisedGrants` entry explains.
    pub unused: Vec<String>,
    /// `UnexercisedGrants` entries that are no longer true: the grant is gone, or used.
    pub stale: Vec<String>,
    /// Distinct calls checked.
    pub checked: usize,
}

/// Sets the recorded calls against the policies (logical ids resolved with `names`).
pub fn check(
    policies: &BTreeMap<String, Policy>,
    names: &BTreeMap<String, String>,
    recorded: &BTreeMap<String, BTreeSet<Call>>,
) -> Findings {
    let mut findings = Findings::default();
    let resolve = |target: &str| -> String {
        let (logical, suffix) = target.split_once('/').map_or((target, String::new()), |(l, s)| (l, format!("/{s}")));
        names.get(logical).map_or_else(|| target.to_string(), |name| format!("{name}{suffix}"))
    };
    for (function, policy) in policies {
        let granted: BTreeSet<Call> = policy
            .grants
            .iter()
            .map(|(action, target)| Call { action: action.clone(), resource: resolve(target) })
            .collect();
        let calls = recorded.get(function).cloned().unwrap_or_default();
        findings.checked += calls.len();
        for call in calls.iter().filter(|call| !granted.contains(call)) {
            findings.denied.push(format!("{function}: {} {}", call.action, call.resource));
        }
        for (action, target) in &policy.grants {
            let used = calls.contains(&Call { action: action.clone(), resource: resolve(target) });
            let marked = policy.unexercised.contains_key(&(action.clone(), target.clone()));
            if !used && !marked {
                findings.unused.push(format!("{function}: {action} {target}"));
            }
            if used && marked {
                findings.stale.push(format!("{function}: {action} {target} is marked unexercised but was called"));
            }
        }
        for (action, target) in policy.unexercised.keys().filter(|grant| !policy.grants.contains(grant)) {
            findings.stale.push(format!("{function}: {action} {target} is marked unexercised but not granted"));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> String {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml")).unwrap()
    }

    #[test]
    fn every_function_of_the_template_has_its_policy_read() {
        let policies = policies(&template()).unwrap();
        assert!(policies.len() >= 10, "{:?}", policies.keys());
        let fraud = &policies["fraud-detector"];
        assert!(
            fraud.grants.contains(&("dynamodb:Query".into(), "OrderViewTable/index/byOwnerCustomer".into())),
            "{:?}",
            fraud.grants
        );
        assert!(policies["outbox-relay"].grants.contains(&("events:PutEvents".into(), "OrderEventBus".into())));
    }

    #[test]
    fn every_grant_the_template_marks_unexercised_is_granted_and_has_a_reason() {
        for (function, policy) in policies(&template()).unwrap() {
            for (grant, reason) in &policy.unexercised {
                assert!(policy.grants.contains(grant), "{function}: {grant:?} is marked but not granted");
                assert!(reason.len() > 10, "{function}: {grant:?} needs a reason");
            }
        }
    }

    #[test]
    fn a_call_outside_the_policy_is_named_and_an_unused_grant_too() {
        let mut policy = Policy::default();
        policy.grants.insert(("dynamodb:Query".into(), "Store".into()));
        policy.grants.insert(("dynamodb:PutItem".into(), "Store".into()));
        policy.grants.insert(("sqs:SendMessage".into(), "Dlq".into()));
        policy.unexercised.insert(("sqs:SendMessage".into(), "Dlq".into()), "parks poison".into());
        let policies = BTreeMap::from([("payment".to_string(), policy)]);
        let names =
            BTreeMap::from([("Store".to_string(), "table/s".to_string()), ("Dlq".to_string(), "queue/d".to_string())]);
        let call = |action: &str, resource: &str| Call { action: action.into(), resource: resource.into() };
        let recorded = BTreeMap::from([(
            "payment".to_string(),
            BTreeSet::from([call("dynamodb:Query", "table/s"), call("dynamodb:DeleteItem", "table/s")]),
        )]);
        let findings = check(&policies, &names, &recorded);
        assert_eq!(findings.denied, ["payment: dynamodb:DeleteItem table/s"]);
        assert_eq!(findings.unused, ["payment: dynamodb:PutItem Store"]);
        assert!(findings.stale.is_empty());

        let mut policies = policies;
        let payment = policies.get_mut("payment").unwrap();
        payment.unexercised.insert(("dynamodb:Query".into(), "Store".into()), "wrong: it is called".into());
        payment.unexercised.insert(("sqs:DeleteMessage".into(), "Dlq".into()), "not granted".into());
        assert_eq!(check(&policies, &names, &recorded).stale.len(), 2);
    }

    #[test]
    fn a_recorded_line_reads_back_as_its_calls() {
        let line = r#"{"level":"INFO","message":"aws call","calls":"dynamodb:PutItem table/a;dynamodb:UpdateItem table/b","function":"f"}"#;
        assert_eq!(calls_in_line(line).len(), 2);
        assert!(calls_in_line(r#"{"message":"counted"}"#).is_empty());
        assert!(calls_in_line("START RequestId: x").is_empty());
    }
}

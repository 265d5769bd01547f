//! Deploys `infra/template.yaml` the same way to the emulator and to AWS: upload the
//! zips to S3, point each function's `CodeUri` at its zip, then a CloudFormation change
//! set (create, wait, execute, wait). On failure, the failing resources and reasons.

use crate::stacks::stack::StackInfo;
use crate::stacks::target::{Clients, Target};
use crate::{CliError, Result};
use aws_sdk_cloudformation::types::{Capability, ChangeSetType, Parameter, StackStatus, Tag};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// CloudFormation's limit for an inline template body; larger ones go through S3.
const MAX_TEMPLATE_BODY: usize = 51_200;
/// The template parameter of the saga's backlog limit (load shedding at `POST /orders`).
pub const ADMISSION_PARAMETER: &str = "AdmissionBacklogLimit";
/// The backlog limit on the local emulator, which moves 7-20 orders/s on 2 cores
/// (docs/performance.md): 200 messages keep a step's wait near 10-30 s, well inside the
/// tests' 60 s order timeout; above it a new order is refused at the door instead
/// (docs/reliability.md has the measurement).
pub const EMULATOR_ADMISSION_BACKLOG_LIMIT: u32 = 200;
/// The order timeout the test stack is deployed with (the e2e timeout test waits for it).
pub const TEST_ORDER_TIMEOUT_SECONDS: u32 = 60;
/// The template parameter of the longest wait a consumer may report before `POST /orders`
/// answers 503.
pub const WAIT_LIMIT_PARAMETER: &str = "AdmissionWaitLimitSeconds";
/// The test stack's wait limit: a sixth of its order timeout, which an order's five saga
/// steps (each behind the relay and a queue) share; the backlog limit alone let 37 of 507
/// accepted orders time out in a burst on a busy machine.
pub const TEST_ADMISSION_WAIT_LIMIT_SECONDS: u32 = 10;
/// The tag every stack `deploy` creates or updates carries (value [`DEPLOYED_BY`]).
pub const DEPLOYED_BY_TAG: &str = "orderflow:deployed-by";
pub const DEPLOYED_BY: &str = "orderflow";
const CHANGE_SET_TIMEOUT: Duration = Duration::from_secs(300);
const STACK_TIMEOUT: Duration = Duration::from_secs(1800);

pub struct DeployRequest<'a> {
    pub stack: &'a str,
    pub template: &'a str,
    pub zips: &'a BTreeMap<String, PathBuf>,
    /// Set on this deploy, whether the stack is new or not.
    pub parameters: BTreeMap<String, String>,
    /// Set only when the stack is created (e.g. the CLI's own API key): a redeploy keeps
    /// whatever the stack holds, so it never resets `ApiKeys` to this checkout's key.
    pub first_deploy: BTreeMap<String, String>,
}

/// The names of the template's parameters.
fn declared_parameters(template: &str) -> Result<std::collections::BTreeSet<String>> {
    let parsed: serde_norway::Value =
        serde_norway::from_str(template).map_err(|e| CliError::Failed(format!("the template: {e}")))?;
    let parameters = parsed.get("Parameters").and_then(serde_norway::Value::as_mapping);
    Ok(parameters.map(|p| p.keys().filter_map(|k| k.as_str().map(str::to_string)).collect()).unwrap_or_default())
}

/// One parameter of a change set: a value, or the stack's previous value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParameterValue {
    Set(String),
    Previous,
}

/// What a change set passes: the given values; on an update, every other parameter the
/// stack already has keeps its value (CloudFormation would otherwise fall back to the
/// template's default); on a create, the first-deploy values.
pub fn change_set_parameters(
    given: &BTreeMap<String, String>,
    first_deploy: &BTreeMap<String, String>,
    previous: Option<&std::collections::BTreeSet<String>>,
) -> BTreeMap<String, ParameterValue> {
    let mut parameters: BTreeMap<String, ParameterValue> =
        given.iter().map(|(k, v)| (k.clone(), ParameterValue::Set(v.clone()))).collect();
    match previous {
        Some(previous) => {
            for key in previous {
                parameters.entry(key.clone()).or_insert(ParameterValue::Previous);
            }
        }
        None => {
            for (key, value) in first_deploy {
                parameters.entry(key.clone()).or_insert_with(|| ParameterValue::Set(value.clone()));
            }
        }
    }
    parameters
}

/// A change set made and described, not executed.
struct ChangeSet {
    name: String,
    /// False when the change set creates the stack.
    existing: bool,
    has_changes: bool,
}

/// Uploads the zips and the template, then makes a change set from them: what a deploy
/// executes and a plan describes.
async fn create_change_set(clients: &Clients, request: &DeployRequest<'_>) -> Result<ChangeSet> {
    let bucket = artifact_bucket(clients, request.stack).await?;
    let mut code_uris = BTreeMap::new();
    for (function, zip) in request.zips {
        code_uris.insert(function.clone(), upload(clients, &bucket, function, zip).await?);
    }
    let template = deployable_template(request.template, &code_uris)?;
    let template_source = template_source(clients, &bucket, template).await?;
    let deploy_error = |reason: String| CliError::Deploy { stack: request.stack.to_string(), reason };

    let existing = prepare_stack(clients, request.stack).await?;
    let change_set_type = if existing { ChangeSetType::Update } else { ChangeSetType::Create };
    let previous = match existing {
        // Only those the new template still declares: CloudFormation refuses the others.
        true => {
            let declared = declared_parameters(request.template)?;
            let held = StackInfo::parameter_keys(clients, request.stack).await?;
            Some(held.into_iter().filter(|key| declared.contains(key)).collect())
        }
        false => None,
    };
    let parameters = change_set_parameters(&request.parameters, &request.first_deploy, previous.as_ref());
    let name = format!("orderflow-{}", chrono::Utc::now().format("%Y%m%d%H%M%S%3f"));
    let mut create = clients
        .cloudformation()
        .create_change_set()
        .stack_name(request.stack)
        .change_set_name(&name)
        .change_set_type(change_set_type)
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
        .capabilities(Capability::CapabilityAutoExpand)
        // `down --aws` removes only stacks carrying it.
        .tags(Tag::builder().key(DEPLOYED_BY_TAG).value(DEPLOYED_BY).build())
        .set_parameters(Some(
            parameters
                .iter()
                .map(|(k, v)| match v {
                    ParameterValue::Set(value) => Parameter::builder().parameter_key(k).parameter_value(value).build(),
                    ParameterValue::Previous => Parameter::builder().parameter_key(k).use_previous_value(true).build(),
                })
                .collect(),
        ));
    create = match &template_source {
        TemplateSource::Body(body) => create.template_body(body),
        TemplateSource::Url(url) => create.template_url(url),
    };
    create.send().await.map_err(|e| deploy_error(toolkit::aws::sdk_error_text(&e)))?;
    let has_changes = wait_for_change_set(clients, request.stack, &name).await.map_err(deploy_error)?;
    Ok(ChangeSet { name, existing, has_changes })
}

pub async fn deploy(clients: &Clients, request: DeployRequest<'_>) -> Result<StackInfo> {
    let started = Instant::now();
    let started_at = chrono::Utc::now().timestamp() - 1;
    let change_set = create_change_set(clients, &request).await?;
    let cfn = clients.cloudformation();
    if !change_set.has_changes {
        eprintln!("stack {} is already up to date", request.stack);
        let _ = cfn.delete_change_set().stack_name(request.stack).change_set_name(&change_set.name).send().await;
        return StackInfo::require(clients, request.stack).await;
    }
    cfn.execute_change_set()
        .stack_name(request.stack)
        .change_set_name(&change_set.name)
        .send()
        .await
        .map_err(|e| CliError::aws("ExecuteChangeSet", e))?;
    let stack = wait_for_stack(clients, request.stack).await?;
    if !stack.status.ends_with("_COMPLETE") || stack.status.contains("ROLLBACK") {
        let failures = failed_resources(clients, request.stack, started_at).await;
        let reason = format!("stack ended in {}{failures}", stack.status);
        return Err(CliError::Deploy { stack: request.stack.to_string(), reason });
    }
    if clients.target.endpoint().is_some() {
        // The template creates the bus archive only on AWS (the emulator lacks the type).
        crate::ops::archive::ensure(&clients.unrecorded(), &stack).await?;
    }
    eprintln!("deployed stack {} ({}) in {:.1} s", request.stack, stack.status, started.elapsed().as_secs_f64());
    Ok(stack)
}

/// One resource change a deploy would make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedChange {
    /// `Add`, `Modify`, `Remove` (CloudFormation's words).
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// For a modification: `True` when the resource is replaced, `Conditional` when it may be.
    pub replacement: Option<String>,
}

/// What a deploy of `request` would change, without changing anything (as `sam deploy
/// --no-execute-changeset`): the zips and the template are uploaded and a change set is
/// made, described and deleted, with the stack it would have created.
pub async fn plan(clients: &Clients, request: DeployRequest<'_>) -> Result<Vec<PlannedChange>> {
    let change_set = create_change_set(clients, &request).await?;
    let cfn = clients.cloudformation();
    let mut changes = Vec::new();
    if change_set.has_changes {
        let mut pages = cfn
            .describe_change_set()
            .stack_name(request.stack)
            .change_set_name(&change_set.name)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| CliError::aws("DescribeChangeSet", e))?;
            changes.extend(page.changes().iter().filter_map(|c| c.resource_change()).map(|c| PlannedChange {
                action: c.action().map(|a| a.as_str().to_string()).unwrap_or_default(),
                logical_id: c.logical_resource_id().unwrap_or_default().to_string(),
                resource_type: c.resource_type().unwrap_or_default().to_string(),
                replacement: c.replacement().map(|r| r.as_str().to_string()),
            }));
        }
    }
    let _ = cfn.delete_change_set().stack_name(request.stack).change_set_name(&change_set.name).send().await;
    if !change_set.existing {
        // A change set that creates a stack leaves it in REVIEW_IN_PROGRESS.
        cfn.delete_stack().stack_name(request.stack).send().await.map_err(|e| CliError::aws("DeleteStack", e))?;
    }
    Ok(changes)
}

/// `<stack>-artifacts-<account>-<region>`, created on first use.
async fn artifact_bucket(clients: &Clients, stack: &str) -> Result<String> {
    let bucket = artifact_bucket_name(clients, stack).await?;
    let region = region_of(clients);
    let s3 = clients.s3();
    if s3.head_bucket().bucket(&bucket).send().await.is_ok() {
        return Ok(bucket);
    }
    let mut create = s3.create_bucket().bucket(&bucket);
    if region != "us-east-1" {
        let constraint = aws_sdk_s3::types::BucketLocationConstraint::from(region.as_str());
        create = create.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder().location_constraint(constraint).build(),
        );
    }
    create.send().await.map_err(|e| CliError::aws("CreateBucket", e))?;
    Ok(bucket)
}

/// The region the clients act in.
fn region_of(clients: &Clients) -> String {
    clients
        .config
        .region()
        .map_or_else(|| crate::stacks::target::DEFAULT_REGION.into(), std::string::ToString::to_string)
}

/// The name of the stack's artifact bucket: `<stack>-artifacts-<account>-<region>`.
pub async fn artifact_bucket_name(clients: &Clients, stack: &str) -> Result<String> {
    let identity = caller_identity(clients).await?;
    let account = identity.account().unwrap_or("000000000000");
    let region = region_of(clients);
    Ok(format!("{stack}-artifacts-{account}-{region}").to_lowercase())
}

/// Who these clients act as (`sts:GetCallerIdentity`, which needs no permission).
async fn caller_identity(
    clients: &Clients,
) -> Result<aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput> {
    clients.sts().get_caller_identity().send().await.map_err(|e| unreachable_or(clients, "GetCallerIdentity", e))
}

/// The template parameter naming who besides the relay may put events on the order bus.
pub const BUS_PUBLISHERS_PARAMETER: &str = "BusPublisherArns";

/// The principal patterns of whoever these clients act as, as the bus policy's
/// `aws:PrincipalArn` sees them: so the operator who deploys may also replay and redrive.
pub async fn deploying_principal(clients: &Clients) -> Result<Vec<String>> {
    let identity = caller_identity(clients).await?;
    Ok(principal_patterns(identity.arn().unwrap_or_default()))
}

/// `aws:PrincipalArn` of a caller `GetCallerIdentity` names: a user or root as it is; an
/// assumed role's session is its role, whose path the session ARN does not show (so both
/// with and without one).
pub fn principal_patterns(caller: &str) -> Vec<String> {
    let parts: Vec<&str> = caller.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, "sts", "", account, resource] if resource.starts_with("assumed-role/") => {
            let role = resource.trim_start_matches("assumed-role/").split('/').next().unwrap_or_default();
            vec![
                format!("arn:{partition}:iam::{account}:role/{role}"),
                format!("arn:{partition}:iam::{account}:role/*/{role}"),
            ]
        }
        _ if caller.is_empty() => Vec::new(),
        _ => vec![caller.to_string()],
    }
}

/// A first call that cannot reach an emulator says so plainly.
fn unreachable_or<E, R>(
    clients: &Clients,
    operation: &'static str,
    error: aws_sdk_sts::error::SdkError<E, R>,
) -> CliError
where
    E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let text = toolkit::aws::sdk_error_text(&error);
    match &clients.target {
        Target::Emulator { endpoint, .. } if text.contains("dispatch") || text.contains("onnect") => {
            CliError::EmulatorUnreachable { endpoint: endpoint.clone(), reason: text }
        }
        _ => CliError::Aws { operation, reason: text },
    }
}

/// Uploads a zip under its content hash (unchanged code is not uploaded again) and
/// returns its `s3://` URI.
async fn upload(clients: &Clients, bucket: &str, function: &str, zip: &PathBuf) -> Result<String> {
    let bytes = tokio::fs::read(zip).await.map_err(|e| CliError::io(zip, e))?;
    let key = format!("{function}/{}.zip", hex::encode(Sha256::digest(&bytes)));
    let s3 = clients.s3();
    if s3.head_object().bucket(bucket).key(&key).send().await.is_err() {
        s3.put_object()
            .bucket(bucket)
            .key(&key)
            .body(bytes.into())
            .send()
            .await
            .map_err(|e| CliError::aws("PutObject", e))?;
    }
    Ok(format!("s3://{bucket}/{key}"))
}

/// The template CloudFormation receives: each function's `CodeUri: ../functions/<name>`
/// pointed at its uploaded zip (a literal URI: the SAM translator cannot resolve `!Ref` in
/// `CodeUri`). Edited through the YAML parser and sent as JSON, in which every short-form
/// tag has its long form (`!Ref x` is `{"Ref": "x"}`): a YAML writer would leave
/// `2012-10-17` unquoted, which YAML 1.1 readers (PyYAML, so the SAM translator) take for a date.
pub fn deployable_template(template: &str, code_uris: &BTreeMap<String, String>) -> Result<String> {
    let mut doc: serde_norway::Value =
        serde_norway::from_str(template).map_err(|e| CliError::Failed(format!("the template: {e}")))?;
    let resources = doc.get_mut("Resources").and_then(serde_norway::Value::as_mapping_mut);
    let resources = resources.ok_or_else(|| CliError::Failed("the template has no Resources".into()))?;
    for (id, resource) in resources.iter_mut() {
        if resource.get("Type").and_then(serde_norway::Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let id = id.as_str().unwrap_or_default().to_string();
        let code_uri = resource.get_mut("Properties").and_then(|p| p.get_mut("CodeUri"));
        let code_uri =
            code_uri.ok_or_else(|| CliError::Build(format!("function {id} of the template has no CodeUri")))?;
        let folder = code_uri.as_str().and_then(|u| u.strip_prefix("../functions/")).map(|n| n.trim_end_matches('/'));
        let name = folder.ok_or_else(|| {
            CliError::Build(format!("function {id}: CodeUri {code_uri:?} is not ../functions/<crate>"))
        })?;
        let uri = code_uris
            .get(name)
            .ok_or_else(|| CliError::Build(format!("function {name} of the template was not built")))?;
        *code_uri = serde_norway::Value::String(uri.clone());
    }
    Ok(long_form(doc).to_string())
}

/// A YAML template value as CloudFormation's JSON: `!GetAtt a.b` is `{"Fn::GetAtt": ["a", "b"]}`,
/// `!Ref` and `!Condition` keep their names, every other tag `X` becomes `Fn::X`.
fn long_form(value: serde_norway::Value) -> serde_json::Value {
    use serde_json::Value as Json;
    use serde_norway::Value as Yaml;
    match value {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => Json::Bool(b),
        Yaml::Number(n) => serde_json::to_value(&n).unwrap_or(Json::Null),
        Yaml::String(s) => Json::String(s),
        Yaml::Sequence(items) => Json::Array(items.into_iter().map(long_form).collect()),
        Yaml::Mapping(map) => Json::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let key = match key {
                        Yaml::String(s) => s,
                        other => serde_norway::to_string(&other).unwrap_or_default().trim().to_string(),
                    };
                    (key, long_form(value))
                })
                .collect(),
        ),
        Yaml::Tagged(tagged) => {
            let name = tagged.tag.to_string().trim_start_matches('!').to_string();
            let inner = match (name.as_str(), tagged.value) {
                ("GetAtt", Yaml::String(path)) => match path.split_once('.') {
                    Some((resource, attribute)) => serde_json::json!([resource, attribute]),
                    None => Json::String(path),
                },
                (_, value) => long_form(value),
            };
            let key = match name.as_str() {
                "Ref" | "Condition" => name,
                _ => format!("Fn::{name}"),
            };
            serde_json::json!({ key: inner })
        }
    }
}

enum TemplateSource {
    Body(String),
    Url(String),
}

async fn template_source(clients: &Clients, bucket: &str, template: String) -> Result<TemplateSource> {
    if template.len() <= MAX_TEMPLATE_BODY {
        return Ok(TemplateSource::Body(template));
    }
    let key = format!("templates/{}.yaml", hex::encode(Sha256::digest(template.as_bytes())));
    clients
        .s3()
        .put_object()
        .bucket(bucket)
        .key(&key)
        .body(template.into_bytes().into())
        .send()
        .await
        .map_err(|e| CliError::aws("PutObject", e))?;
    let url = match clients.target.endpoint() {
        Some(endpoint) => format!("{endpoint}/{bucket}/{key}"),
        None => format!("https://{bucket}.s3.amazonaws.com/{key}"),
    };
    Ok(TemplateSource::Url(url))
}

/// Whether the stack exists for an update. A stack whose creation failed cannot be
/// updated: it is deleted first.
async fn prepare_stack(clients: &Clients, stack: &str) -> Result<bool> {
    let Some(info) = StackInfo::find(clients, stack).await? else {
        return Ok(false);
    };
    match StackStatus::from(info.status.as_str()) {
        StackStatus::ReviewInProgress => Ok(false),
        StackStatus::RollbackComplete | StackStatus::RollbackFailed | StackStatus::CreateFailed => {
            eprintln!("stack {stack} is in {} after a failed create; deleting it first", info.status);
            clients
                .cloudformation()
                .delete_stack()
                .stack_name(stack)
                .send()
                .await
                .map_err(|e| CliError::aws("DeleteStack", e))?;
            let deadline = Instant::now() + STACK_TIMEOUT;
            while Instant::now() < deadline
                && StackInfo::find(clients, stack).await?.is_some_and(|s| s.status != "DELETE_COMPLETE")
            {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Ok(false)
        }
        _ => Ok(true),
    }
}

/// Waits for the change set; `Ok(false)` when it holds no changes.
async fn wait_for_change_set(clients: &Clients, stack: &str, name: &str) -> std::result::Result<bool, String> {
    let deadline = Instant::now() + CHANGE_SET_TIMEOUT;
    while Instant::now() < deadline {
        let output = clients
            .cloudformation()
            .describe_change_set()
            .stack_name(stack)
            .change_set_name(name)
            .send()
            .await
            .map_err(|e| toolkit::aws::sdk_error_text(&e))?;
        let status = output.status().map(|s| s.as_str().to_string()).unwrap_or_default();
        let reason = output.status_reason().unwrap_or_default().to_string();
        match status.as_str() {
            "CREATE_COMPLETE" => return Ok(true),
            "FAILED" if reason.contains("didn't contain changes") || reason.contains("No updates") => {
                return Ok(false);
            }
            "FAILED" => return Err(format!("change set failed: {reason}")),
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    Err(format!("change set {name} not ready within {} s", CHANGE_SET_TIMEOUT.as_secs()))
}

async fn wait_for_stack(clients: &Clients, stack: &str) -> Result<StackInfo> {
    let deadline = Instant::now() + STACK_TIMEOUT;
    let mut last_status = String::new();
    loop {
        let info = StackInfo::require(clients, stack).await?;
        if info.status != last_status {
            eprintln!("  {stack}: {}", info.status);
            last_status = info.status.clone();
        }
        if !info.status.ends_with("_IN_PROGRESS") || Instant::now() > deadline {
            return Ok(info);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// At most this many stack events are read (newest first) to explain a failed deployment.
const MAX_STACK_EVENTS: usize = 1_000;

/// The failed resources of the latest deployment, one per line, with their reasons. The
/// events come newest first, a page at a time: reading stops at the first event older than
/// the deployment (a long-lived stack has thousands).
pub(crate) async fn failed_resources(clients: &Clients, stack: &str, since_epoch_secs: i64) -> String {
    let mut events = clients.cloudformation().describe_stack_events().stack_name(stack).into_paginator().items().send();
    let mut lines = Vec::new();
    for _ in 0..MAX_STACK_EVENTS {
        let Ok(Some(event)) = events.next().await.transpose() else { break };
        if event.timestamp().is_some_and(|t| t.secs() < since_epoch_secs) {
            break;
        }
        if event.resource_status().is_some_and(|s| s.as_str().ends_with("_FAILED")) {
            lines.push(format!(
                "\n  {} ({}): {} {}",
                event.logical_resource_id().unwrap_or("?"),
                event.resource_type().unwrap_or("?"),
                event.resource_status().map(aws_sdk_cloudformation::types::ResourceStatus::as_str).unwrap_or("?"),
                event.resource_status_reason().unwrap_or("")
            ));
        }
    }
    lines.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deploying_principal_is_what_the_bus_policy_sees() {
        assert_eq!(principal_patterns("arn:aws:iam::123456789012:user/ops"), ["arn:aws:iam::123456789012:user/ops"]);
        assert_eq!(
            principal_patterns("arn:aws:sts::123456789012:assumed-role/Deployer/ci-run-7"),
            ["arn:aws:iam::123456789012:role/Deployer", "arn:aws:iam::123456789012:role/*/Deployer"]
        );
        assert_eq!(principal_patterns("arn:aws-cn:sts::1:assumed-role/R/s")[0], "arn:aws-cn:iam::1:role/R");
        assert!(principal_patterns("").is_empty());
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_redeploy_keeps_every_parameter_it_was_not_given() {
        let previous = ["ApiKeys", "OrderTimeoutSeconds", "WebhookUrl"].map(String::from).into();
        let parameters =
            change_set_parameters(&map(&[("WebhookUrl", "http://x")]), &map(&[("ApiKeys", "cli:ab")]), Some(&previous));
        assert_eq!(parameters["ApiKeys"], ParameterValue::Previous, "not reset to this checkout's key");
        assert_eq!(parameters["OrderTimeoutSeconds"], ParameterValue::Previous);
        assert_eq!(parameters["WebhookUrl"], ParameterValue::Set("http://x".into()));
    }

    #[test]
    fn the_parameters_a_template_declares_are_read_from_it() {
        let template = include_str!("../../../infra/template.yaml");
        let declared = declared_parameters(template).unwrap();
        assert!(declared.contains("ApiKeys") && declared.contains("OrderTimeoutSeconds"), "{declared:?}");
        assert!(!declared.contains("WebhookSecret"), "a parameter an older stack may hold, not declared any more");
    }

    #[test]
    fn a_first_deploy_takes_the_first_deploy_values_unless_given_others() {
        let given = map(&[("ApiKeys", "ops:cd")]);
        let parameters = change_set_parameters(&given, &map(&[("ApiKeys", "cli:ab"), ("X", "1")]), None);
        assert_eq!(parameters["ApiKeys"], ParameterValue::Set("ops:cd".into()));
        assert_eq!(parameters["X"], ParameterValue::Set("1".into()));
    }

    #[test]
    fn it_points_every_code_uri_at_its_uploaded_zip_and_writes_long_forms() {
        let template = "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: ../functions/api-ingress\n      Role: !GetAtt FnRole.Arn\n      Environment: { Variables: { TABLE: !Ref Table, URL: !Sub 'https://${Api}' } }\n  Policy:\n    Type: AWS::IAM::ManagedPolicy\n    Properties: { PolicyDocument: { Version: '2012-10-17' } }\n";
        let uris = BTreeMap::from([("api-ingress".to_string(), "s3://b/api-ingress/abc.zip".to_string())]);
        let deployed: serde_json::Value = serde_json::from_str(&deployable_template(template, &uris).unwrap()).unwrap();
        let function = &deployed["Resources"]["Fn"]["Properties"];
        assert_eq!(function["CodeUri"], "s3://b/api-ingress/abc.zip");
        assert_eq!(function["Role"], serde_json::json!({ "Fn::GetAtt": ["FnRole", "Arn"] }));
        assert_eq!(function["Environment"]["Variables"]["TABLE"], serde_json::json!({ "Ref": "Table" }));
        assert_eq!(function["Environment"]["Variables"]["URL"], serde_json::json!({ "Fn::Sub": "https://${Api}" }));
        assert_eq!(deployed["Resources"]["Policy"]["Properties"]["PolicyDocument"]["Version"], "2012-10-17");
    }

    #[test]
    fn it_refuses_a_template_naming_a_function_that_was_not_built() {
        let template = "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: ../functions/nope\n";
        let error = deployable_template(template, &BTreeMap::new()).unwrap_err();
        assert_eq!(error.to_string(), "build failed: function nope of the template was not built");
        let elsewhere = template.replace("../functions/nope", "src/nope");
        let error = deployable_template(&elsewhere, &BTreeMap::new()).unwrap_err();
        assert!(error.to_string().contains("function Fn: CodeUri"), "{error}");
    }

    #[test]
    fn the_real_template_has_no_short_form_left_once_deployable() {
        let template = include_str!("../../../infra/template.yaml");
        let uris = crate::stacks::build::template_functions(template)
            .into_iter()
            .map(|n| (n.clone(), format!("s3://b/{n}.zip")))
            .collect();
        let deployed = deployable_template(template, &uris).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&deployed).unwrap();
        assert_eq!(parsed["Transform"], "AWS::Serverless-2016-10-31");
        assert!(!deployed.contains("../functions/"));
    }
}

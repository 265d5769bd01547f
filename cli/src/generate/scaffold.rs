//! `orderflow new consumer <name> --on <EventType>,...`: a new function that takes events
//! of those types from the order event bus, with everything that makes it part of the
//! system: its crate (on the toolkit, with a test), the workspace member, and in the
//! template a rule, a queue with its dead-letter queue and queue policy, and the function
//! with its least-privilege policy; then the generated docs that read the template
//! (routing picture, event catalog, capacity model) are written again.

use crate::project::Project;
use crate::{CliError, Result};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConsumer {
    /// The crate and function name, in kebab case (`audit-log`).
    pub name: String,
    /// The event types its rule routes to it.
    pub handles: Vec<String>,
}

impl NewConsumer {
    /// Checks the name (kebab case, not taken) and the event types (known events).
    pub fn new(name: &str, handles: &[String], events: &BTreeSet<String>, taken: &[String]) -> Result<Self> {
        let kebab = name
            .split('-')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
            && name.starts_with(|c: char| c.is_ascii_lowercase());
        if !kebab || name.len() > 40 {
            return Err(CliError::Usage(format!(
                "`{name}`: a function name is lowercase words joined by `-`, at most 40 characters (e.g. audit-log)"
            )));
        }
        if taken.iter().any(|t| t == name) {
            return Err(CliError::Usage(format!("a function `{name}` exists already")));
        }
        let unknown: Vec<&String> = handles.iter().filter(|h| !events.contains(*h)).collect();
        if handles.is_empty() || !unknown.is_empty() {
            return Err(CliError::Usage(format!(
                "--on takes event types of the schema registry; unknown: {unknown:?}; the events are: {}",
                events.iter().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let mut handles = handles.to_vec();
        handles.dedup();
        Ok(Self { name: name.to_string(), handles })
    }

    /// `audit-log` → `AuditLog`: the prefix of its logical ids in the template.
    pub fn logical_prefix(&self) -> String {
        self.name
            .split('-')
            .map(|part| {
                let mut chars = part.chars();
                chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
            })
            .collect()
    }

    /// The crate's files, by path under the checkout.
    pub fn crate_files(&self) -> Vec<(PathBuf, String)> {
        let dir = PathBuf::from("functions").join(&self.name);
        let manifest = format!(
            "[package]\nname = \"{}\"\nversion.workspace = true\nedition.workspace = true\nrust-version.workspace = true\n\
             license.workspace = true\n\n[dependencies]\ntoolkit = {{ workspace = true, features = [\"lambda\", \"sqs\"] }}\n\
             services.workspace = true\nlambda_runtime.workspace = true\ntokio.workspace = true\ntracing.workspace = true\n\n\
             [dev-dependencies]\nserde_json.workspace = true\n\n[lints]\nworkspace = true\n",
            self.name
        );
        vec![(dir.join("Cargo.toml"), manifest), (dir.join("src").join("main.rs"), self.main_rs())]
    }

    fn main_rs(&self) -> String {
        let types = self.handles.iter().map(|h| format!("\"{h}\"")).collect::<Vec<_>>().join(", ");
        let first = &self.handles[0];
        MAIN_RS
            .replace("{name}", &self.name)
            .replace("{types_list}", &self.handles.join(", "))
            .replace("{types}", &types)
            .replace("{first}", first)
    }

    /// The template's resources for it: rule, queue, dead-letter queue, queue policy, function.
    pub fn template_block(&self) -> String {
        TEMPLATE_BLOCK
            .replace("{P}", &self.logical_prefix())
            .replace("{name}", &self.name)
            .replace("{types}", &self.handles.join(", "))
    }
}

/// Adds the block at the end of the template's resources (before `Outputs:`).
pub fn add_to_template(template: &str, block: &str) -> Result<String> {
    let at = template
        .find("\nOutputs:\n")
        .ok_or_else(|| CliError::Failed("infra/template.yaml has no `Outputs:` section to add before".into()))?;
    Ok(format!("{}\n{block}{}", &template[..at], &template[at..]))
}

/// Adds `functions/<name>` to the workspace's members, after the last function.
pub fn add_member(manifest: &str, name: &str) -> Result<String> {
    let last = manifest
        .lines()
        .rfind(|line| line.trim_start().starts_with("\"functions/"))
        .ok_or_else(|| CliError::Failed("Cargo.toml lists no functions/ member to add after".into()))?;
    let at = manifest.find(last).unwrap_or_default() + last.len();
    let indent = &last[..last.len() - last.trim_start().len()];
    Ok(format!("{}\n{indent}\"functions/{name}\",{}", &manifest[..at], &manifest[at..]))
}

/// Writes everything into the checkout at `project`; returns the files written.
pub fn scaffold(project: &Project, consumer: &NewConsumer) -> Result<Vec<PathBuf>> {
    let root = project.root();
    if root.join("functions").join(&consumer.name).exists() {
        return Err(CliError::Usage(format!("functions/{} exists already", consumer.name)));
    }
    let read = |path: &PathBuf| std::fs::read_to_string(path).map_err(|e| CliError::io(path, e));
    let write = |path: &PathBuf, text: &str| std::fs::write(path, text).map_err(|e| CliError::io(path, e));
    // Both edits are made in memory first, so a refusal leaves nothing half-written.
    let manifest_path = root.join("Cargo.toml");
    let manifest = add_member(&read(&manifest_path)?, &consumer.name)?;
    let template = add_to_template(&read(&project.template())?, &consumer.template_block())?;
    crate::generate::graph::from_template(&template)?;
    let mut written = Vec::new();
    for (path, text) in consumer.crate_files() {
        let path = root.join(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| CliError::io(dir, e))?;
        }
        write(&path, &text)?;
        written.push(path);
    }
    write(&manifest_path, &manifest)?;
    write(&project.template(), &template)?;
    written.extend([manifest_path, project.template()]);
    written.extend(regenerate_docs(project, &template)?);
    Ok(written)
}

/// The docs generated from the template: routing picture, event catalog, capacity model.
fn regenerate_docs(project: &Project, template: &str) -> Result<Vec<PathBuf>> {
    let docs = project.root().join("docs");
    crate::generate::graph::write_docs(project, &crate::generate::graph::from_template(template)?)?;
    let catalog = project.root().join(crate::generate::catalog::CATALOG_FILE);
    let text = crate::generate::catalog::render(template, &project.events_dir().join("schemas"))?;
    std::fs::write(&catalog, text).map_err(|e| CliError::io(&catalog, e))?;
    let (report_path, report) = crate::generate::capacity::newest_report(&project.root().join("bench"))?;
    let source = report_path.strip_prefix(project.root()).unwrap_or(&report_path).display().to_string();
    let capacity = docs.join("capacity.md");
    let text = crate::generate::capacity::render(&report, &source, template)?;
    std::fs::write(&capacity, text).map_err(|e| CliError::io(&capacity, e))?;
    Ok(vec![docs.join("routing.md"), docs.join("routing.mmd"), docs.join("routing.svg"), catalog, capacity])
}

const MAIN_RS: &str = r#"//! `{name}`: takes {types_list} from the order event bus, through its own SQS queue
//! (rule, queue and dead-letter queue in infra/template.yaml). Made by `orderflow new
//! consumer`: what it does with each event goes in `handle`.
// rustc computes the layout of main's future (runtime, SDK and handler futures nested)
// deeper than its default query depth of 128: "queries overflow the depth limit".
#![recursion_limit = "256"]

use lambda_runtime::{Error, LambdaEvent, service_fn};
use services::handlers::envelope_in;
use toolkit::batch::{RecordError, process_sqs_batch};
use toolkit::deadletter::SqsDeadLetters;
use toolkit::envelope::EventEnvelope;
use toolkit::events::SqsEvent;
use toolkit::{aws, config, observability};

const CONSUMER: &str = "{name}";
/// The event types its rule routes to it.
const HANDLES: &[&str] = &[{types}];

#[tokio::main]
async fn main() -> Result<(), Error> {
    observability::init_logging();
    let dlq_url = config::required("DEAD_LETTER_QUEUE_URL", "the SQS queue for events it can never handle")?;
    let sdk = aws::sdk_config().await;
    let dead_letters = SqsDeadLetters::new(aws::sqs(&sdk), dlq_url);
    let dead_letters = &dead_letters;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        // Each message on its own: a failure is reported for that message only, and what
        // can never be handled is parked in the dead-letter queue with its reason.
        let response = process_sqs_batch(CONSUMER, dead_letters, event.payload, |message| async move {
            handle(&envelope_in(&message)?).await
        })
        .await;
        Ok::<_, Error>(response)
    }))
    .await
}

/// One event. SQS delivers at least once and in any order: make what this does idempotent
/// (`toolkit::idempotency::run_once` runs an effect once per key). Return
/// `RecordError::Poison` for what no retry can fix (it is parked with the reason) and
/// `RecordError::Retryable` to have the event delivered again.
async fn handle(event: &EventEnvelope) -> Result<(), RecordError> {
    if !HANDLES.contains(&event.event_type.as_str()) {
        return Err(RecordError::Poison(format!("{CONSUMER} does not handle {}", event.event_type)));
    }
    tracing::info!(event_type = %event.event_type, stream_id = %event.stream_id, version = event.version, "handled");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event_type: &str) -> EventEnvelope {
        serde_json::from_value(serde_json::json!({
            "eventId": "8b0e7f6a-1c2d-4e3f-9a8b-7c6d5e4f3a21",
            "streamId": "order-3f1c9a52-7d4e-4b8a-9c61-2e5f8d0a7b13",
            "version": 1,
            "eventType": event_type,
            "schemaVersion": 1,
            "occurredAt": "2026-11-22T10:00:00.000Z",
            "correlationId": "test",
            "causationId": "test",
            "payload": {}
        }))
        .expect("an event envelope")
    }

    #[tokio::test]
    async fn it_handles_what_its_rule_routes_and_parks_anything_else() {
        assert!(handle(&event("{first}")).await.is_ok());
        assert!(matches!(handle(&event("NotRoutedHere")).await, Err(RecordError::Poison(_))));
    }
}
"#;

const TEMPLATE_BLOCK: &str = r#"  # ---------------------------------------------------------------- {name} (orderflow new consumer)
  {P}Rule:
    Type: AWS::Events::Rule
    Properties:
      Description: {types} go to {name}.
      EventBusName: !Ref OrderEventBus
      EventPattern:
        source: [orderflow.orders]
        detail-type: [{types}]
      Targets:
        - { Id: {P}Queue, Arn: !GetAtt {P}Queue.Arn }

  {P}Queue:
    Type: AWS::SQS::Queue
    Properties:
      SqsManagedSseEnabled: true
      QueueName: !Sub "${AWS::StackName}-{name}"
      VisibilityTimeout: !Ref QueueVisibilityTimeout
      RedrivePolicy: { deadLetterTargetArn: !GetAtt {P}DeadLetterQueue.Arn, maxReceiveCount: 3 }

  {P}DeadLetterQueue:
    Type: AWS::SQS::Queue
    Properties:
      SqsManagedSseEnabled: true
      QueueName: !Sub "${AWS::StackName}-{name}-dlq"
      MessageRetentionPeriod: 1209600

  {P}QueuePolicy:
    Type: AWS::SQS::QueuePolicy
    Properties:
      Queues: [!Ref {P}Queue]
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: { Service: events.amazonaws.com }
            Action: sqs:SendMessage
            Resource: !GetAtt {P}Queue.Arn
            Condition: { ArnEquals: { aws:SourceArn: !GetAtt {P}Rule.Arn } }

  {P}Function:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      UnexercisedGrants:
        - { Action: sqs:SendMessage, Resource: {P}DeadLetterQueue, Reason: "parks an event it can never handle" }
    Properties:
      FunctionName: !Sub "${AWS::StackName}-{name}"
      CodeUri: ../functions/{name}
      Description: Takes {types} from the order event bus.
      Environment:
        Variables:
          DEAD_LETTER_QUEUE_URL: !Ref {P}DeadLetterQueue
      Policies:
        - Statement:
            - { Effect: Allow, Action: [sqs:SendMessage], Resource: !GetAtt {P}DeadLetterQueue.Arn }
      Events:
        {P}Queue:
          Type: SQS
          Properties: { Queue: !GetAtt {P}Queue.Arn, BatchSize: 10, FunctionResponseTypes: [ReportBatchItemFailures] }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn events() -> BTreeSet<String> {
        ["OrderPlaced", "OrderRejected"].map(String::from).into()
    }

    #[test]
    fn a_name_and_event_types_are_checked_before_anything_is_written() {
        let on = |types: &[&str]| types.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert!(NewConsumer::new("audit-log", &on(&["OrderPlaced"]), &events(), &[]).is_ok());
        for bad in ["Audit", "audit_log", "-audit", "audit--log", "9lives", ""] {
            assert!(NewConsumer::new(bad, &on(&["OrderPlaced"]), &events(), &[]).is_err(), "{bad}");
        }
        let taken = NewConsumer::new("payment", &on(&["OrderPlaced"]), &events(), &["payment".into()]);
        assert!(taken.unwrap_err().to_string().contains("exists"));
        let unknown = NewConsumer::new("audit", &on(&["OrderShipped"]), &events(), &[]).unwrap_err().to_string();
        assert!(unknown.contains("OrderShipped") && unknown.contains("OrderPlaced"), "{unknown}");
        assert!(NewConsumer::new("audit", &[], &events(), &[]).is_err());
    }

    #[test]
    fn the_template_gains_a_routed_consumer_that_the_routing_and_the_policies_read() {
        let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml")).unwrap();
        let consumer =
            NewConsumer::new("audit-log", &["OrderPlaced".into(), "OrderRejected".into()], &events(), &[]).unwrap();
        assert_eq!(consumer.logical_prefix(), "AuditLog");
        let updated = add_to_template(&template, &consumer.template_block()).unwrap();
        let routing = crate::generate::graph::from_template(&updated).unwrap();
        let edge = |from: &str, to: &str| routing.edges.iter().any(|e| e.from == from && e.to == to);
        assert!(edge("OrderEventBus", "AuditLogRule") && edge("AuditLogRule", "AuditLogQueue"));
        assert!(edge("AuditLogQueue", "AuditLogFunction") && edge("AuditLogQueue", "AuditLogDeadLetterQueue"));
        let policies = crate::stacks::least_privilege::policies(&updated).unwrap();
        let policy = &policies["audit-log"];
        assert_eq!(policy.grants.len(), 1);
        assert_eq!(policy.unexercised.len(), 1, "its only grant is marked: the tests never park its events");
        assert!(crate::stacks::build::template_functions(&updated).contains(&"audit-log".to_string()));
    }

    #[test]
    fn the_workspace_gains_the_member_after_the_last_function() {
        let manifest = "[workspace]\nmembers = [\n    \"shared/toolkit\",\n    \"functions/a\",\n    \"functions/b\",\n    \"cli\",\n]\n";
        let updated = add_member(manifest, "audit-log").unwrap();
        assert!(updated.contains("    \"functions/b\",\n    \"functions/audit-log\",\n    \"cli\","), "{updated}");
        assert!(add_member("[workspace]\nmembers = []\n", "x").is_err());
    }
}

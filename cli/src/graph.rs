//! The routing picture, drawn from `infra/template.yaml` itself: sources, the bus and its
//! rules (with their patterns), the topic and its filtered subscriptions, queues and their
//! DLQs, functions with what triggers them and what they write, tables and their streams.
//! Output as Mermaid (for docs/routing.md), DOT, and SVG (rendered in process).

use crate::{CliError, Result};
use serde_norway::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Api,
    Schedule,
    Function,
    Table,
    Bus,
    Rule,
    Topic,
    Queue,
    DeadLetterQueue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: Kind,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub label: String,
}

/// Nodes by the template's logical id, and the edges between them.
#[derive(Debug, Default, Clone)]
pub struct Routing {
    pub nodes: BTreeMap<String, Node>,
    pub edges: Vec<Edge>,
}

impl Routing {
    /// The functions (by name) that take batches from an SQS queue.
    pub fn sqs_consumers(&self) -> std::collections::BTreeSet<String> {
        self.functions_fed_by("batches")
    }

    /// The functions (by name) that read a table's stream.
    pub fn stream_consumers(&self) -> std::collections::BTreeSet<String> {
        self.functions_fed_by("stream")
    }

    fn functions_fed_by(&self, label: &str) -> std::collections::BTreeSet<String> {
        let feeding = self.edges.iter().filter(|e| e.label == label);
        feeding.filter_map(|e| self.nodes.get(&e.to)).map(|node| node.label.clone()).collect()
    }
}

/// Reads the routing from the template's text.
pub fn from_template(text: &str) -> Result<Routing> {
    let mut routing = Routing::default();
    for (id, resource) in crate::project::template_resources(text)? {
        let Some(kind) = resource.get("Type").and_then(Value::as_str) else { continue };
        let id = id.as_str();
        let properties = resource.get("Properties").cloned().unwrap_or(Value::Null);
        routing.add(id, kind, &properties);
    }
    routing.edges.retain(|e| e.from != e.to);
    routing.edges.sort();
    routing.edges.dedup();
    Ok(routing)
}

impl Routing {
    fn node(&mut self, id: &str, kind: Kind, label: impl Into<String>) {
        self.nodes.insert(id.to_string(), Node { kind, label: label.into() });
    }

    fn edge(&mut self, from: &str, to: &str, label: impl Into<String>) {
        self.edges.push(Edge { from: from.to_string(), to: to.to_string(), label: label.into() });
    }

    fn add(&mut self, id: &str, kind: &str, properties: &Value) {
        match kind {
            "AWS::Serverless::Function" => self.function(id, properties),
            "AWS::DynamoDB::Table" => {
                let streamed = properties.get("StreamSpecification").is_some();
                self.node(id, Kind::Table, if streamed { format!("{id} (stream)") } else { id.to_string() });
            }
            "AWS::Events::EventBus" => self.node(id, Kind::Bus, id),
            "AWS::Events::Rule" => self.rule(id, properties),
            "AWS::SNS::Topic" => self.node(id, Kind::Topic, id),
            "AWS::SNS::Subscription" => {
                if let (Some(topic), Some(queue)) =
                    (reference(properties.get("TopicArn")), reference(properties.get("Endpoint")))
                {
                    self.edge(&topic, &queue, filter_summary(properties.get("FilterPolicy")));
                }
            }
            "AWS::SQS::Queue" => self.queue(id, properties),
            "AWS::ApiGatewayV2::Api" => self.node(id, Kind::Api, "HTTP API"),
            "AWS::ApiGatewayV2::Integration" => {
                if let (Some(api), Some(function)) =
                    (reference(properties.get("ApiId")), reference(properties.get("IntegrationUri")))
                {
                    self.edge(&api, &function, "routes");
                }
            }
            _ => {}
        }
    }

    fn function(&mut self, id: &str, properties: &Value) {
        let name = properties
            .get("CodeUri")
            .and_then(Value::as_str)
            .and_then(|uri| uri.rsplit('/').next())
            .unwrap_or(id)
            .to_string();
        self.node(id, Kind::Function, name);
        let events = properties.get("Events").and_then(Value::as_mapping).into_iter().flatten();
        for (event_id, event) in events {
            let source = event.get("Properties").cloned().unwrap_or(Value::Null);
            match event.get("Type").and_then(Value::as_str) {
                Some("SQS") => {
                    if let Some(queue) = reference(source.get("Queue")) {
                        self.edge(&queue, id, "batches");
                    }
                }
                Some("DynamoDB") => {
                    if let Some(table) = reference(source.get("Stream")) {
                        self.edge(&table, id, "stream");
                    }
                }
                Some("Schedule") => {
                    let schedule = format!("{}Schedule", event_id.as_str().unwrap_or(id));
                    let expression = source.get("Schedule").and_then(Value::as_str).unwrap_or("schedule");
                    self.node(&schedule, Kind::Schedule, expression);
                    self.edge(&schedule, id, "fires");
                }
                _ => {}
            }
        }
        for (action, resource) in policy_grants(properties) {
            let label = match action.as_str() {
                "dynamodb:PutItem" | "dynamodb:UpdateItem" => "writes",
                "events:PutEvents" => "publishes",
                "sqs:SendMessage" => "parks poison",
                _ => continue,
            };
            self.edge(id, &resource, label);
        }
    }

    fn rule(&mut self, id: &str, properties: &Value) {
        let pattern = properties.get("EventPattern").map(pattern_summary).unwrap_or_default();
        self.node(id, Kind::Rule, if pattern.is_empty() { id.to_string() } else { format!("{id}: {pattern}") });
        if let Some(bus) = reference(properties.get("EventBusName")) {
            self.edge(&bus, id, "matches");
        }
        for target in properties.get("Targets").and_then(Value::as_sequence).into_iter().flatten() {
            if let Some(to) = reference(target.get("Arn")) {
                self.edge(id, &to, "delivers");
            }
        }
    }

    fn queue(&mut self, id: &str, properties: &Value) {
        let kind = if id.contains("DeadLetter") { Kind::DeadLetterQueue } else { Kind::Queue };
        let fifo = properties.get("FifoQueue").and_then(Value::as_bool) == Some(true);
        self.node(id, kind, if fifo { format!("{id} (FIFO)") } else { id.to_string() });
        if let Some(redrive) = properties.get("RedrivePolicy") {
            let receives = redrive.get("maxReceiveCount").and_then(Value::as_u64).unwrap_or(0);
            if let Some(dlq) = reference(redrive.get("deadLetterTargetArn")) {
                self.edge(id, &dlq, format!("after {receives} receives"));
            }
        }
    }
}

/// The logical id a `!Ref X`, `!GetAtt X.Attr` (or their long forms) points at.
pub(crate) fn reference(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Tagged(tagged) => {
            let inner = tagged.value.as_str()?;
            Some(inner.split('.').next().unwrap_or(inner).to_string())
        }
        Value::Mapping(map) => {
            let (key, inner) = map.iter().next()?;
            match key.as_str()? {
                "Ref" => inner.as_str().map(str::to_string),
                "Fn::GetAtt" => inner.as_sequence()?.first()?.as_str().map(str::to_string),
                _ => None,
            }
        }
        _ => None,
    }
}

/// (action, logical id) for every action of every statement of the function's policies.
pub(crate) fn policy_grants(properties: &Value) -> Vec<(String, String)> {
    let mut grants = Vec::new();
    let policies = properties.get("Policies").and_then(Value::as_sequence).into_iter().flatten();
    for statement in policies.filter_map(|p| p.get("Statement")).filter_map(Value::as_sequence).flatten() {
        let actions: Vec<String> = match statement.get("Action") {
            Some(Value::Sequence(list)) => list.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            Some(Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        let resources: Vec<String> = match statement.get("Resource") {
            Some(Value::Sequence(list)) => list.iter().filter_map(|r| reference(Some(r))).collect(),
            other => reference(other).into_iter().collect(),
        };
        for action in &actions {
            grants.extend(resources.iter().map(|r| (action.clone(), r.clone())));
        }
    }
    grants
}

/// `detail-type` values (and other top-level keys) of an event pattern, in one line.
fn pattern_summary(pattern: &Value) -> String {
    let Some(map) = pattern.as_mapping() else { return String::new() };
    map.iter()
        .filter(|(key, _)| key.as_str() != Some("source"))
        .map(|(key, value)| format!("{} {}", key.as_str().unwrap_or("?"), compact(value)))
        .collect::<Vec<_>>()
        .join("; ")
}

fn filter_summary(policy: Option<&Value>) -> String {
    match policy {
        Some(policy) => format!("filter {}", compact(policy)),
        None => "all".into(),
    }
}

/// A YAML value as short flow-style text.
fn compact(value: &Value) -> String {
    match value {
        Value::Sequence(items) => format!("[{}]", items.iter().map(compact).collect::<Vec<_>>().join(", ")),
        Value::Mapping(map) => format!(
            "{{{}}}",
            map.iter().map(|(k, v)| format!("{}: {}", compact(k), compact(v))).collect::<Vec<_>>().join(", ")
        ),
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        Value::Tagged(tagged) => compact(&tagged.value),
        Value::Null => "null".into(),
    }
}

/// The picture as a Mermaid flowchart.
pub fn mermaid(routing: &Routing) -> String {
    let mut out = String::from("flowchart LR\n");
    for (id, node) in &routing.nodes {
        let label = node.label.replace('"', "'");
        let shape = match node.kind {
            Kind::Api => format!("{id}([\"{label}\"])"),
            Kind::Schedule => format!("{id}([\"⏱ {label}\"])"),
            Kind::Function => format!("{id}[[\"λ {label}\"]]"),
            Kind::Table => format!("{id}[(\"{label}\")]"),
            Kind::Bus => format!("{id}{{{{\"{label}\"}}}}"),
            Kind::Rule => format!("{id}{{\"{label}\"}}"),
            Kind::Topic => format!("{id}>\"{label}\"]"),
            Kind::Queue => format!("{id}[/\"{label}\"/]"),
            Kind::DeadLetterQueue => format!("{id}[\\\"{label}\"\\]"),
        };
        out.push_str(&format!("  {shape}\n"));
    }
    for edge in &routing.edges {
        let label = edge.label.replace('"', "'").replace('|', "/");
        out.push_str(&format!("  {} -->|\"{label}\"| {}\n", edge.from, edge.to));
    }
    out
}

/// The picture in Graphviz DOT.
pub fn dot(routing: &Routing) -> String {
    let mut out = String::from("digraph routing {\n  rankdir=LR;\n");
    for (id, node) in &routing.nodes {
        let shape = match node.kind {
            Kind::Api | Kind::Schedule => "ellipse",
            Kind::Function => "box",
            Kind::Table => "cylinder",
            Kind::Bus | Kind::Rule => "diamond",
            Kind::Topic | Kind::Queue | Kind::DeadLetterQueue => "box",
        };
        let label = node.label.replace('"', "'");
        out.push_str(&format!("  {id} [shape={shape}, label=\"{label}\"];\n"));
    }
    for edge in &routing.edges {
        out.push_str(&format!("  {} -> {} [label=\"{}\"];\n", edge.from, edge.to, edge.label.replace('"', "'")));
    }
    out.push_str("}\n");
    out
}

/// The picture as SVG, laid out in process from the DOT text.
pub fn svg(routing: &Routing) -> Result<String> {
    let text = dot(routing);
    let mut parser = layout::gv::DotParser::new(&text);
    let graph = parser.process().map_err(|e| CliError::Failed(format!("the routing picture's DOT: {e}")))?;
    let mut builder = layout::gv::GraphBuilder::new();
    builder.visit_graph(&graph);
    let mut visual = builder.get();
    let mut writer = layout::backends::svg::SVGWriter::new();
    visual.do_it(false, false, false, &mut writer);
    Ok(writer.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> String {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml")).unwrap()
    }

    #[test]
    fn the_sqs_consumers_are_the_functions_fed_by_queues_and_not_the_stream_consumers() {
        let routing = from_template(&template()).unwrap();
        let consumers = routing.sqs_consumers();
        for function in ["order-validator", "payment", "notifier", "analytics"] {
            assert!(consumers.contains(function), "{function} missing from {consumers:?}");
        }
        for function in ["outbox-relay", "projector", "api-ingress", "timeout-sweeper"] {
            assert!(!consumers.contains(function), "{function} is not an SQS consumer: {consumers:?}");
        }
        let stream = routing.stream_consumers();
        assert!(stream.contains("outbox-relay") && stream.contains("projector"), "{stream:?}");
        assert!(stream.is_disjoint(&consumers), "{stream:?} / {consumers:?}");
    }

    #[test]
    fn the_picture_has_every_rule_topic_queue_function_and_table_of_the_template() {
        let text = template();
        let picture = mermaid(&from_template(&text).unwrap());
        let routed = [
            "AWS::Events::Rule",
            "AWS::SNS::Topic",
            "AWS::SQS::Queue",
            "AWS::Serverless::Function",
            "AWS::DynamoDB::Table",
            "AWS::Events::EventBus",
        ];
        let template: Value = serde_norway::from_str(&text).unwrap();
        let mut checked = 0;
        for (id, resource) in template["Resources"].as_mapping().unwrap() {
            if routed.contains(&resource["Type"].as_str().unwrap()) {
                let id = id.as_str().unwrap();
                assert!(picture.contains(&format!("  {id}")), "{id} is missing from the picture");
                checked += 1;
            }
        }
        assert!(checked > 30, "only {checked} resources checked");
    }

    #[test]
    fn the_picture_follows_an_order_from_the_api_to_shipping() {
        let routing = from_template(&template()).unwrap();
        let has = |from: &str, to: &str| routing.edges.iter().any(|e| e.from == from && e.to == to);
        assert!(has("HttpApi", "ApiIngressFunction"));
        assert!(has("ApiIngressFunction", "EventStoreTable"));
        assert!(has("EventStoreTable", "OutboxRelayFunction"));
        assert!(has("OutboxRelayFunction", "OrderEventBus"));
        assert!(has("OrderEventBus", "OrderPlacedRule") && has("OrderPlacedRule", "OrderValidationQueue"));
        assert!(has("OrderValidationQueue", "OrderValidationDeadLetterQueue"));
        assert!(has("CustomerNotificationsTopic", "EmailNotificationsQueue"));
    }

    #[test]
    fn the_committed_picture_is_the_one_the_template_draws() {
        let routing = from_template(&template()).unwrap();
        let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/");
        let committed = std::fs::read_to_string(format!("{docs}routing.mmd")).unwrap_or_default();
        assert!(
            committed == mermaid(&routing),
            "docs/routing.mmd is stale: run `cargo run -p orderflow -- graph --write` and commit docs/"
        );
        let page = std::fs::read_to_string(format!("{docs}routing.md")).unwrap();
        assert!(page.contains(&mermaid(&routing)), "docs/routing.md's picture is stale: run `orderflow graph --write`");
        let svg = std::fs::read_to_string(format!("{docs}routing.svg")).unwrap_or_default();
        // Long labels wrap in the SVG: check the first word of each.
        let first_word = |label: &str| label.split([' ', ':']).next().unwrap_or_default().to_string();
        assert!(routing.nodes.values().all(|n| svg.contains(&first_word(&n.label))), "docs/routing.svg is stale");
    }
}

//! What `infra/template.yaml` must say for the guarantees to hold on AWS, read from the
//! template itself: every alarm reaches someone, nothing the bus cannot deliver vanishes.

use serde_norway::Value;

fn resources() -> Vec<(String, Value)> {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml")).expect("the template");
    orderflow::project::template_resources(&template).expect("the template's resources")
}

fn of_type(wanted: &str) -> Vec<(String, Value)> {
    resources().into_iter().filter(|(_, resource)| resource["Type"].as_str() == Some(wanted)).collect()
}

/// `!Ref Name` or `!GetAtt Name.Attribute`, as the logical id it names.
fn named(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) => tagged.value.as_str().map(|s| s.split('.').next().unwrap_or(s).to_string()),
        _ => None,
    }
}

#[test]
fn every_alarm_tells_the_operations_topic_when_it_fires_and_when_it_clears() {
    let alarms = of_type("AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 15, "{} alarms", alarms.len());
    for (id, alarm) in alarms {
        for actions in ["AlarmActions", "OKActions"] {
            let targets: Vec<Option<String>> = alarm["Properties"][actions]
                .as_sequence()
                .unwrap_or_else(|| panic!("{id} has no {actions}"))
                .iter()
                .map(named)
                .collect();
            assert_eq!(targets, vec![Some("OperationsTopic".to_string())], "{id}: {actions}");
        }
    }
}

#[test]
fn every_rule_target_retries_for_a_day_then_keeps_what_it_could_not_deliver() {
    let rules = of_type("AWS::Events::Rule");
    assert!(rules.len() >= 7);
    for (id, rule) in rules {
        for target in rule["Properties"]["Targets"].as_sequence().expect("targets") {
            let dead_letters = named(&target["DeadLetterConfig"]["Arn"]);
            assert_eq!(dead_letters.as_deref(), Some("BusDeliveryDeadLetterQueue"), "{id}: DeadLetterConfig");
            let retry = &target["RetryPolicy"];
            assert_eq!(retry["MaximumEventAgeInSeconds"].as_u64(), Some(86_400), "{id}: RetryPolicy");
            assert!(retry["MaximumRetryAttempts"].as_u64().is_some_and(|n| n > 0), "{id}: RetryPolicy");
        }
    }
}

#[test]
fn the_bus_delivery_queue_takes_messages_from_every_rule_and_no_one_else() {
    let policy =
        resources().into_iter().find(|(id, _)| id == "BusDeliveryDeadLetterQueuePolicy").expect("the queue's policy").1;
    let statement = &policy["Properties"]["PolicyDocument"]["Statement"][0];
    let sources: Vec<String> = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
        .as_sequence()
        .expect("source ARNs")
        .iter()
        .filter_map(named)
        .collect();
    let mut rules: Vec<String> = of_type("AWS::Events::Rule").into_iter().map(|(id, _)| id).collect();
    rules.sort();
    let mut sources = sources;
    sources.sort();
    assert_eq!(sources, rules);
}

/// Every number `key: <n>` in the template, in seconds by `per`.
fn numbers_after(template: &str, key: &str) -> Vec<i64> {
    template.lines().filter_map(|line| line.trim().strip_prefix(key)?.trim().parse().ok()).collect()
}

#[test]
fn every_dedup_record_outlives_every_window_that_can_bring_its_message_back() {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml")).expect("the template");
    let kept = services::config::DEDUP_RETENTION_DAYS * 86_400;
    let dlq = numbers_after(&template, "MessageRetentionPeriod:");
    let archive: Vec<i64> = numbers_after(&template, "RetentionDays:").into_iter().map(|d| d * 86_400).collect();
    let timeout = template.split("  OrderTimeoutSeconds:").nth(1).expect("the parameter");
    let longest_timeout =
        numbers_after(timeout.split("\n  ").take(8).collect::<Vec<_>>().join("\n").as_str(), "MaxValue:");
    assert!(!dlq.is_empty() && !archive.is_empty() && !longest_timeout.is_empty());
    let stream = 86_400;
    for (window, seconds) in dlq
        .iter()
        .map(|s| ("a dead-letter queue's retention", *s))
        .chain(archive.iter().map(|s| ("the archive's replay", *s)))
        .chain(longest_timeout.iter().map(|s| ("an order's timeout", *s)))
        .chain([("the stream's retention", stream)])
    {
        assert!(
            kept > seconds,
            "dedup records live {kept} s, {window} {seconds} s: a redelivery then repeats its effect"
        );
    }
}

#[test]
fn every_queue_hides_a_received_batch_for_six_times_its_functions_timeout() {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml")).expect("the template");
    let doc: Value = serde_norway::from_str(&template).expect("YAML");
    let global_timeout = doc["Globals"]["Function"]["Timeout"].as_u64().expect("a global timeout");
    let seconds = |value: &Value| match value {
        Value::Tagged(_) => {
            named(value).and_then(|parameter| doc["Parameters"][parameter.as_str()]["Default"].as_u64())
        }
        other => other.as_u64(),
    };
    let mut checked = 0;
    for (id, function) in of_type("AWS::Serverless::Function") {
        let timeout = function["Properties"]["Timeout"].as_u64().unwrap_or(global_timeout);
        let events = function["Properties"]["Events"].as_mapping().cloned().unwrap_or_default();
        for (_, event) in events.iter().filter(|(_, e)| e["Type"].as_str() == Some("SQS")) {
            let queue = named(&event["Properties"]["Queue"]).expect("a queue");
            let visibility =
                seconds(&doc["Resources"][queue.as_str()]["Properties"]["VisibilityTimeout"]).unwrap_or(30);
            assert!(visibility >= 6 * timeout, "{queue} hides a batch {visibility} s; {id} may run {timeout} s");
            checked += 1;
        }
    }
    assert!(checked >= 9, "{checked} SQS sources");
}

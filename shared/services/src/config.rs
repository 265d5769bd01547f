//! Function configuration from the environment, with errors that say what is missing.

pub use toolkit::config::{ConfigError, parsed_or, required};

pub fn event_store_table() -> Result<String, ConfigError> {
    required("EVENT_STORE_TABLE", "the DynamoDB table of the event store")
}

pub fn order_view_table() -> Result<String, ConfigError> {
    required("ORDER_VIEW_TABLE", "the DynamoDB table of the order read model")
}

pub fn analytics_table() -> Result<String, ConfigError> {
    required("ANALYTICS_TABLE", "the DynamoDB table of sales and order counts")
}

pub fn idempotency_table() -> Result<String, ConfigError> {
    required("IDEMPOTENCY_TABLE", "the DynamoDB table of idempotency records")
}

pub fn rate_limit_table() -> Result<String, ConfigError> {
    required("RATE_LIMIT_TABLE", "the DynamoDB table of per-key request counters")
}

/// `API_KEYS` (`name:sha256hex[:per second],...`) with `RATE_LIMIT_PER_SECOND` as the
/// default limit. Empty means no caller is accepted, which is refused here as a mistake.
#[cfg(feature = "api")]
pub fn api_keys() -> Result<crate::access::ApiKeys, ConfigError> {
    let default = parsed_or("RATE_LIMIT_PER_SECOND", 50u32, "a whole number of requests per second")?;
    let text = required("API_KEYS", "the hashed API keys callers present in x-api-key")?;
    crate::access::ApiKeys::parse(&text, default)
        .map_err(|e| ConfigError::Unparsable { name: "API_KEYS", reason: e.to_string() })
}

pub fn notifications_table() -> Result<String, ConfigError> {
    required("NOTIFICATIONS_TABLE", "the DynamoDB table of notifications sent")
}

/// `WEBHOOK_URL` and `WEBHOOK_SECRET`: where webhook notifications go and how they are
/// signed; `None` when no URL is set.
pub fn webhook() -> Result<Option<(String, String)>, ConfigError> {
    match std::env::var("WEBHOOK_URL") {
        Ok(url) if !url.trim().is_empty() => {
            Ok(Some((url, required("WEBHOOK_SECRET", "the secret webhook notifications are signed with")?)))
        }
        _ => Ok(None),
    }
}

pub fn payment_webhook_secret() -> Result<String, ConfigError> {
    required("PAYMENT_WEBHOOK_SECRET", "the secret the payment provider signs its callbacks with")
}

pub fn event_bus_name() -> Result<String, ConfigError> {
    required("EVENT_BUS_NAME", "the EventBridge bus events are published to")
}

pub fn dead_letter_queue_url() -> Result<String, ConfigError> {
    required("DEAD_LETTER_QUEUE_URL", "the SQS queue for records this function can never process")
}

/// The validator's limits: `MAX_ORDER_TOTAL_MINOR` and `MAX_LINE_QUANTITY`, else the defaults.
pub fn validation_policy() -> Result<domain::ValidationPolicy, ConfigError> {
    let default = domain::ValidationPolicy::default();
    Ok(domain::ValidationPolicy {
        max_order_total_minor: parsed_or(
            "MAX_ORDER_TOTAL_MINOR",
            default.max_order_total_minor,
            "an amount in minor units",
        )?,
        max_line_quantity: parsed_or("MAX_LINE_QUANTITY", default.max_line_quantity, "a whole number")?,
        ..default
    })
}

/// Fraud screening: `FRAUD_LARGE_ORDER_MINOR`, `FRAUD_MAX_RECENT_ORDERS`, `FRAUD_HOLD_AT`, else the defaults.
pub fn fraud_policy() -> Result<domain::FraudPolicy, ConfigError> {
    let default = domain::FraudPolicy::default();
    Ok(domain::FraudPolicy {
        large_order_minor: parsed_or("FRAUD_LARGE_ORDER_MINOR", default.large_order_minor, "an amount in minor units")?,
        max_recent_orders: parsed_or("FRAUD_MAX_RECENT_ORDERS", default.max_recent_orders, "a whole number")?,
        hold_at: parsed_or("FRAUD_HOLD_AT", default.hold_at, "a whole number")?,
        ..default
    })
}

/// `FRAUD_VELOCITY_WINDOW_SECONDS` (default 600): how far back a customer's orders count.
pub fn fraud_velocity_window() -> Result<chrono::Duration, ConfigError> {
    let seconds: i64 = parsed_or("FRAUD_VELOCITY_WINDOW_SECONDS", 600, "a number of seconds")?;
    Ok(chrono::Duration::seconds(seconds))
}

/// The bounds of `ORDER_TIMEOUT_SECONDS` (and of the template's `OrderTimeoutSeconds`): the
/// sweeper runs once a minute, so less than a minute would time out orders still moving;
/// more than a day would hold stock and authorizations for days.
/// How long every record that deduplicates a message is kept (idempotency records of
/// charges, voids, notifications, webhooks and API commands; analytics' applied markers):
/// longer than the longest window that can bring a message back. Those windows are the
/// bus archive's replay (30 days, `RetentionDays`), a dead-letter queue's redrive (14
/// days, `MessageRetentionPeriod`), the stream's 24 hours and an order's timeout (at most
/// a day, `OrderTimeoutSeconds`); `cli/tests/template.rs` fails when the template's grow
/// past it.
pub const DEDUP_RETENTION_DAYS: i64 = 31;

/// [`DEDUP_RETENTION_DAYS`] as a duration.
pub fn dedup_retention() -> chrono::Duration {
    chrono::Duration::days(DEDUP_RETENTION_DAYS)
}

pub const ORDER_TIMEOUT_BOUNDS: std::ops::RangeInclusive<i64> = 60..=86_400;

/// `ORDER_TIMEOUT_SECONDS` (default 900): how long an order may stay in a status that is not final.
pub fn order_timeout() -> Result<chrono::Duration, ConfigError> {
    let expected = "a number of seconds from 60 to 86400";
    let seconds: i64 = parsed_or("ORDER_TIMEOUT_SECONDS", 900, expected)?;
    if !ORDER_TIMEOUT_BOUNDS.contains(&seconds) {
        let value = seconds.to_string();
        return Err(ConfigError::Invalid { name: "ORDER_TIMEOUT_SECONDS", value, expected });
    }
    Ok(chrono::Duration::seconds(seconds))
}

/// How long an order the API accepted stays off the saga's queues (the store's stream,
/// the relay, the bus; more under load) plus the backlog reading's age: admission counts
/// the orders every instance admitted that long as waiting. The 2,000-order burst let 656
/// orders in with the queues alone (30 of them then timed out), 333-601 in other runs.
pub const ADMISSION_IN_TRANSIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Load shedding for new orders: `ADMISSION_BACKLOG_LIMIT` (messages waiting or in flight
/// on the saga's queues above which `POST /orders` answers 503; 0 turns it off) and
/// `SAGA_QUEUE_URLS` (comma-separated). `None` when off.
pub fn admission() -> Result<Option<(u64, Vec<String>)>, ConfigError> {
    let limit = parsed_or("ADMISSION_BACKLOG_LIMIT", 0u64, "a whole number of messages (0: off)")?;
    if limit == 0 {
        return Ok(None);
    }
    let urls = required("SAGA_QUEUE_URLS", "the saga's queues whose backlog admission control reads")?;
    let urls: Vec<String> = urls.split(',').map(str::trim).filter(|u| !u.is_empty()).map(String::from).collect();
    if urls.is_empty() {
        return Err(ConfigError::Unparsable { name: "SAGA_QUEUE_URLS", reason: "no queue URL given".to_string() });
    }
    Ok(Some((limit, urls)))
}

/// `WAITS_TABLE`: the table consumers report their waits to and admission control reads
/// them from (the rate-limit table); `None` when unset (nothing reported).
pub fn waits_table() -> Option<String> {
    std::env::var("WAITS_TABLE").ok().filter(|table| !table.trim().is_empty())
}

/// `ADMISSION_WAIT_LIMIT_SECONDS`: while a consumer reports a record older than this,
/// `POST /orders` answers 503; 0 (the default) turns it off.
pub fn admission_wait_limit() -> Result<Option<std::time::Duration>, ConfigError> {
    let seconds = parsed_or("ADMISSION_WAIT_LIMIT_SECONDS", 0u64, "a whole number of seconds (0: off)")?;
    Ok((seconds > 0).then(|| std::time::Duration::from_secs(seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_names_the_missing_variable_and_its_purpose() {
        let error = required("ORDERFLOW_TEST_SURELY_UNSET", "a test value").unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable ORDERFLOW_TEST_SURELY_UNSET is not set: it names a test value"
        );
    }

    #[test]
    fn the_template_bounds_the_order_timeout_as_the_sweeper_does() {
        let template = include_str!("../../../infra/template.yaml");
        let parameter = template.split("  OrderTimeoutSeconds:").nth(1).expect("the parameter");
        let (min, max) = (ORDER_TIMEOUT_BOUNDS.start(), ORDER_TIMEOUT_BOUNDS.end());
        assert!(parameter.contains(&format!("MinValue: {min}")) && parameter.contains(&format!("MaxValue: {max}")));
    }

    /// Each parameter of the template, as (name, its lines).
    fn template_parameters(template: &str) -> Vec<(String, String)> {
        let section = template.split("\nParameters:\n").nth(1).and_then(|rest| rest.split("\nConditions:").next());
        let mut parameters: Vec<(String, String)> = Vec::new();
        for line in section.expect("a Parameters section").lines() {
            match line.strip_prefix("  ").filter(|l| !l.starts_with(' ')).and_then(|l| l.strip_suffix(':')) {
                Some(name) => parameters.push((name.to_string(), String::new())),
                None => {
                    if let Some((_, body)) = parameters.last_mut() {
                        body.push_str(line);
                        body.push('\n');
                    }
                }
            }
        }
        parameters
    }

    #[test]
    fn no_secret_is_a_template_parameter_and_no_hidden_parameter_has_a_default() {
        let parameters = template_parameters(include_str!("../../../infra/template.yaml"));
        assert!(parameters.len() > 10, "{parameters:?}");
        for (name, body) in &parameters {
            assert!(!name.to_lowercase().contains("secret"), "{name}: secrets come from Secrets Manager");
            if body.contains("NoEcho: true") {
                assert!(!body.contains("Default:"), "{name} is hidden yet has a public default");
            }
        }
    }

    #[test]
    fn it_uses_the_default_when_unset() {
        assert_eq!(parsed_or("ORDERFLOW_TEST_SURELY_UNSET", 7u32, "a number"), Ok(7));
    }
}

//! Faults injected by configuration, to prove the reliability claims end to end.
//!
//! Switched on for a whole deployment by `FAULT_INJECTION=on` (the template's
//! `FaultInjection` parameter; off by default and on AWS). Which orders a fault hits is
//! chosen by data: the order's correlation id (the `x-correlation-id` of the request that
//! placed it, carried by every event the order causes) starts with a marker:
//!
//! | marker | effect |
//! |---|---|
//! | `fault-fail-<consumer>-…` | `<consumer>` fails every message of the order (retryable), so it is retried and finally parked with its reason |
//! | `fault-panic-<consumer>-…` | `<consumer>` panics on the first delivery of each such message (that record fails alone) |
//! | `fault-exit-<consumer>-…` | `<consumer>`'s process exits mid-batch on the first delivery of each message |
//! | `fault-dup-…` | the outbox relay publishes each of the order's events twice |

/// What a consumer must act out for an order (see the module's table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Fail every message of the order as retryable.
    Fail,
    /// Panic mid-batch on a message's first delivery; the redelivery succeeds.
    Panic,
    /// Exit the process mid-batch on a message's first delivery; the redelivery succeeds.
    Exit,
}

/// Whether this deployment injects faults at all (checked before looking at any message).
pub fn enabled() -> bool {
    crate::config::fault_injection()
}

/// The fault `consumer` must act out for an order with this correlation id, if any.
pub fn for_consumer(consumer: &str, correlation_id: &str) -> Option<Fault> {
    enabled().then(|| fault_in(consumer, correlation_id)).flatten()
}

/// Whether the relay publishes this order's events twice.
pub fn duplicates(correlation_id: &str) -> bool {
    enabled() && correlation_id.starts_with("fault-dup-")
}

fn fault_in(consumer: &str, correlation_id: &str) -> Option<Fault> {
    let rest = correlation_id.strip_prefix("fault-")?;
    let (fault, rest) = rest.split_once('-')?;
    let targeted = rest.strip_prefix(consumer).is_some_and(|tail| tail.is_empty() || tail.starts_with('-'));
    match fault {
        "fail" if targeted => Some(Fault::Fail),
        "panic" if targeted => Some(Fault::Panic),
        "exit" if targeted => Some(Fault::Exit),
        _ => None,
    }
}

/// The correlation id of the event an SQS body or stream image carries, wherever it sits:
/// an EventBridge event (`detail`), an SNS notification (`Message`), or the envelope itself.
pub fn correlation_id_in(body: &serde_json::Value) -> Option<String> {
    let direct = body.get("correlationId").or_else(|| body.pointer("/detail/correlationId"));
    if let Some(id) = direct.and_then(|v| v.as_str()) {
        return Some(id.to_string());
    }
    let message: serde_json::Value = serde_json::from_str(body.get("Message")?.as_str()?).ok()?;
    correlation_id_in(&message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_names_the_fault_and_the_consumer_it_hits() {
        assert_eq!(fault_in("shipping", "fault-fail-shipping-run42"), Some(Fault::Fail));
        assert_eq!(fault_in("payment", "fault-exit-payment"), Some(Fault::Exit));
        assert_eq!(fault_in("inventory", "fault-panic-inventory-7"), Some(Fault::Panic));
        assert_eq!(fault_in("payment", "fault-fail-shipping-run42"), None, "another consumer");
        assert_eq!(fault_in("ship", "fault-fail-shipping-1"), None, "a longer name is not a match");
        assert_eq!(fault_in("shipping", "happy-path-run42"), None);
    }

    #[test]
    fn the_correlation_id_is_found_in_every_body_shape() {
        let envelope = serde_json::json!({ "correlationId": "c-1" });
        let bridge = serde_json::json!({ "detail": envelope });
        let sns = serde_json::json!({ "Message": bridge.to_string() });
        for body in [envelope.clone(), bridge, sns] {
            assert_eq!(correlation_id_in(&body).as_deref(), Some("c-1"));
        }
    }
}

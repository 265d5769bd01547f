//! The simulated world outside the handlers: queues, stream shards, the bus's routing, the
//! payment provider, the clock's ticks, the fault dice, and the schedule log. One mutex
//! guards it all; no handler holds it across an await.

use domain::OrderId;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use toolkit::clock::SplitMix64;
use toolkit::envelope::{EventEnvelope, EventId};

/// The saga's queues, as `infra/template.yaml` routes the bus to them (checked by
/// `the_routing_table_matches_the_template`).
pub const ROUTES: &[(&str, bool, &[&str])] = &[
    ("order-validator", false, &["OrderPlaced"]),
    ("fraud-detector", false, &["OrderValidated"]),
    ("inventory", false, &["FraudCleared", "PaymentDeclined", "OrderTimedOut", "ShipmentScheduled"]),
    ("payment", false, &["StockReserved", "OrderTimedOut"]),
    ("shipping", false, &["PaymentAuthorized"]),
    // The customer notifications topic's subscriptions (SNS filter policies on the body).
    (
        "notify-email",
        false,
        &["OrderRejected", "FraudSuspected", "OutOfStock", "PaymentDeclined", "ShipmentScheduled", "OrderTimedOut"],
    ),
    ("notify-sms", false, &["ShipmentScheduled", "PaymentDeclined", "OrderTimedOut"]),
    // The analytics rule: anything but the SKU streams' events (ANALYTICS_EXCLUDES).
    (
        "analytics",
        false,
        &[
            "OrderPlaced",
            "OrderValidated",
            "OrderRejected",
            "FraudCleared",
            "FraudSuspected",
            "StockReserved",
            "OutOfStock",
            "PaymentAuthorized",
            "PaymentDeclined",
            "StockReleased",
            "ShipmentScheduled",
            "OrderTimedOut",
            "PaymentVoided",
        ],
    ),
];

/// What the analytics rule's `anything-but` leaves out.
pub const ANALYTICS_EXCLUDES: &[&str] = &["StockAdded", "StockAllocated", "StockDeallocated", "StockCommitted"];

/// The content filters beyond the event type: the shipping rule's positive amount, and
/// each notification channel's `notify` preference.
pub fn accepts(queue: &str, envelope: &EventEnvelope) -> bool {
    let notify_has = |channel: &str| {
        envelope.payload["notify"].as_array().is_some_and(|c| c.iter().any(|c| c.as_str() == Some(channel)))
    };
    match queue {
        "shipping" => envelope.payload["amount"]["amountMinor"].as_i64().is_some_and(|a| a > 0),
        "notify-email" => notify_has("email"),
        "notify-sms" => notify_has("sms"),
        _ => true,
    }
}
/// Every queue's RedrivePolicy maxReceiveCount.
pub const MAX_RECEIVES: u32 = 3;
/// The stream consumers (the event store's stream feeds both).
pub const STREAM_CONSUMERS: [&str; 2] = ["outbox-relay", "projector"];

pub struct Dice(pub SplitMix64);

impl Dice {
    pub fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n.max(1) as u64) as usize
    }
    /// True with probability `per_mille` / 1000.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.0.next_u64() % 1000 < per_mille
    }
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: u64,
    pub body: String,
    pub group: Option<String>,
    pub receives: u32,
    pub visible_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Default)]
pub struct Queue {
    pub ready: VecDeque<Message>,
    /// FIFO groups with a message in flight: they wait.
    pub busy_groups: BTreeSet<String>,
    /// What SQS moved to the dead-letter queue after MAX_RECEIVES.
    pub dead: Vec<Message>,
}

#[derive(Debug, Clone)]
pub struct StreamRecord {
    pub sequence: u64,
    pub envelope: EventEnvelope,
    /// Failed deliveries of this record as the head of a batch.
    pub failures: u32,
}

#[derive(Debug, Clone)]
pub struct Callback {
    pub order_id: OrderId,
    pub authorized: bool,
    pub authorization_id: String,
    pub forged: bool,
}

/// Fault rates, per mille, while the run is in its chaos phase.
#[derive(Debug, Clone, Copy)]
pub struct Faults {
    pub store_fails: u64,
    pub append_lost_answer: u64,
    pub bus_call_fails: u64,
    pub bus_refuses_entry: u64,
    pub bus_refuses_forever: u64,
    pub bus_duplicates: u64,
    pub sqs_duplicates: u64,
    pub idempotency_save_fails: u64,
    pub provider_fails: u64,
    /// A standard queue's message handed out again while its first invocation still
    /// runs (the work outlasting the visibility timeout).
    pub early_redelivery: u64,
}

impl Faults {
    pub const NONE: Faults = Faults {
        store_fails: 0,
        append_lost_answer: 0,
        bus_call_fails: 0,
        bus_refuses_entry: 0,
        bus_refuses_forever: 0,
        bus_duplicates: 0,
        sqs_duplicates: 0,
        idempotency_save_fails: 0,
        provider_fails: 0,
        early_redelivery: 0,
    };

    pub fn chaos(dice: &mut Dice) -> Faults {
        let mut rate = |max: u64| dice.0.next_u64() % (max + 1);
        Faults {
            store_fails: rate(60),
            append_lost_answer: rate(60),
            bus_call_fails: rate(80),
            bus_refuses_entry: rate(80),
            bus_refuses_forever: rate(20),
            bus_duplicates: rate(100),
            sqs_duplicates: rate(100),
            idempotency_save_fails: rate(60),
            provider_fails: rate(60),
            early_redelivery: rate(80),
        }
    }
}

/// The payment provider's books: what it authorized and voided, per idempotency key.
#[derive(Default)]
pub struct Ledger {
    pub charges: BTreeMap<String, domain::saga::PaymentOutcome>,
    pub authorizations: BTreeMap<OrderId, BTreeSet<String>>,
    /// Void keys per authorization id.
    pub voids: BTreeMap<String, BTreeSet<String>>,
}

pub struct Net {
    pub dice: Dice,
    pub faults: Faults,
    pub queues: BTreeMap<&'static str, Queue>,
    /// (consumer, shard) → records in stream order; a shard holds several streams, as a
    /// DynamoDB stream shard holds many partition keys (see [`shard_of`]).
    pub shards: BTreeMap<(&'static str, String), VecDeque<StreamRecord>>,
    pub busy_shards: BTreeSet<(&'static str, String)>,
    /// Records the stream mapping gave up on (AWS: MaximumRetryAttempts; only metadata survives).
    pub skipped: Vec<(&'static str, EventEnvelope)>,
    pub published: BTreeSet<EventId>,
    pub refused_forever: BTreeSet<EventId>,
    pub callbacks: Vec<Callback>,
    pub ledger: Ledger,
    pub schedule: Vec<String>,
    /// Notifications the customer received, per (order, channel, event id).
    pub delivered: BTreeMap<(OrderId, String, String), u32>,
    /// Dead letters an operator's redrive cannot deliver.
    pub unredrivable: Vec<toolkit::deadletter::DeadLetter>,
    next_id: u64,
}

impl Net {
    pub fn new(seed: u64) -> Net {
        let mut dice = Dice(SplitMix64(seed ^ 0x5eed));
        let faults = Faults::chaos(&mut dice);
        let queues = ROUTES.iter().map(|(name, _, _)| (*name, Queue::default())).collect();
        Net {
            dice,
            faults,
            queues,
            shards: BTreeMap::new(),
            busy_shards: BTreeSet::new(),
            skipped: Vec::new(),
            published: BTreeSet::new(),
            refused_forever: BTreeSet::new(),
            callbacks: Vec::new(),
            ledger: Ledger::default(),
            schedule: Vec::new(),
            unredrivable: Vec::new(),
            delivered: BTreeMap::new(),
            next_id: 0,
        }
    }

    pub fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn log(&mut self, line: String) {
        self.schedule.push(line);
    }

    pub fn fault(&mut self, rate: fn(&Faults) -> u64) -> bool {
        let per_mille = rate(&self.faults);
        per_mille > 0 && self.dice.chance(per_mille)
    }

    /// A stored event enters the table's stream, once per stream consumer.
    pub fn stream_append(&mut self, envelope: &EventEnvelope) {
        self.next_id += 1;
        for consumer in STREAM_CONSUMERS {
            let record = StreamRecord { sequence: self.next_id, envelope: envelope.clone(), failures: 0 };
            self.shards.entry((consumer, shard_of(&envelope.stream_id))).or_default().push_back(record);
        }
    }

    /// EventBridge's rules: the event goes to every queue whose pattern lists its type.
    pub fn route(&mut self, envelope: &EventEnvelope) {
        let body = eventbridge_body(envelope);
        for (queue, fifo, types) in ROUTES {
            if types.contains(&envelope.event_type.as_str()) && accepts(queue, envelope) {
                self.next_id += 1;
                let group = fifo.then(|| group_of(envelope));
                let message = Message {
                    id: self.next_id,
                    body: body.clone(),
                    group,
                    receives: 0,
                    visible_at: chrono::DateTime::<chrono::Utc>::MIN_UTC,
                };
                self.queues.get_mut(queue).expect("routed queue").ready.push_back(message);
            }
        }
    }

    pub fn is_idle(&self) -> bool {
        self.queues.values().all(|q| q.ready.is_empty() && q.busy_groups.is_empty())
            && self.shards.values().all(VecDeque::is_empty)
            && self.busy_shards.is_empty()
            && self.callbacks.is_empty()
    }
}

/// The message group of a FIFO queue's message (none of the saga's queues is FIFO today;
/// the scheduler keeps per-group order for any that becomes one).
pub fn group_of(envelope: &EventEnvelope) -> String {
    envelope.stream_id.as_str().to_string()
}

pub fn eventbridge_body(envelope: &EventEnvelope) -> String {
    serde_json::json!({
        "version": "0",
        "id": envelope.event_id,
        "detail-type": envelope.event_type,
        "source": toolkit::bus::EVENT_SOURCE,
        "account": "000000000000",
        "time": envelope.occurred_at,
        "region": "us-east-1",
        "resources": [],
        "detail": envelope,
    })
    .to_string()
}

/// Shards per stream consumer: few, so one batch carries events of several orders (and a
/// record that fails holds back the other streams of its shard, as on AWS).
const SHARDS: u32 = 2;

/// The shard a stream's records go to (a stable hash of its id).
pub fn shard_of(stream_id: &toolkit::envelope::StreamId) -> String {
    let hash = stream_id.as_str().bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("shard-{}", hash % SHARDS)
}

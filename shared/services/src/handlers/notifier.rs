//! `notifier`: serves the three channel queues that subscribe, with filter policies, to the
//! customer notifications topic. Email and SMS go to simulated providers; the webhook
//! channel posts the event, signed, to the configured URL. Every notification is recorded
//! once, so a redelivered event tells the customer nothing twice.
//!
//! What it sends leaves the system, so it sends what the event store holds, not what the
//! message says: a message naming an event the store does not hold (anything in the
//! account may put events on the bus) is parked, and nothing is sent.

use super::{envelope_in, order_id_of};
use crate::notify::NotificationLog;
use crate::notify::webhook::WebhookSender;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use domain::notifications::{Channel, Notification, message_for};
use domain::{EventCodec, OrderEvent};
use toolkit::batch::{RecordError, process_sqs_batch};
use toolkit::deadletter::DeadLetters;
use toolkit::envelope::EventEnvelope;
use toolkit::idempotency::{IdempotencyStore, run_once};
use toolkit::invocation::Invocation;
use toolkit::store::EventStore;
use tracing::Instrument;

pub const CONSUMER: &str = "notifier";

pub struct Notifier<S, L, D, I> {
    /// The event store: the only source of what a customer is told.
    store: S,
    log: L,
    dead_letters: D,
    /// Each (channel, event) is sent once, whatever the redeliveries.
    idempotency: I,
    /// `None` when no webhook URL is configured: webhook notifications then fail (and
    /// reach the channel's DLQ) rather than vanish.
    webhook: Option<WebhookSender>,
}

impl<S: EventStore, L: NotificationLog, D: DeadLetters, I: IdempotencyStore> Notifier<S, L, D, I> {
    pub fn new(store: S, log: L, dead_letters: D, idempotency: I, webhook: Option<WebhookSender>) -> Self {
        Self { store, log, dead_letters, idempotency, webhook }
    }

    /// The ports it was built with (tests inspect the fakes).
    pub fn ports(&self) -> (&L, &D) {
        (&self.log, &self.dead_letters)
    }

    pub async fn handle(&self, event: SqsEvent, invocation: &Invocation) -> SqsBatchResponse {
        process_sqs_batch(CONSUMER, &self.dead_letters, event, |message| async move {
            let channel = channel_of(&message)?;
            let envelope = self.stored(envelope_in(&message)?).await?;
            let span = toolkit::observability::event_span(&envelope);
            self.notify(channel, &envelope, invocation).instrument(span).await
        })
        .await
    }

    /// The stored event a message names (its stream, version and id); poison when the
    /// store holds none such: a forged or replayed-from-elsewhere message tells no one.
    async fn stored(&self, named: EventEnvelope) -> Result<EventEnvelope, RecordError> {
        order_id_of(&named)?;
        let after = named.version.saturating_sub(1);
        let events = self.store.load(&named.stream_id, after).await.map_err(RecordError::from)?;
        match events.into_iter().next() {
            Some(stored) if stored.version == named.version && stored.event_id == named.event_id => Ok(stored),
            _ => Err(RecordError::Poison(format!(
                "{} v{} {} ({}) is not in the event store: nothing sent",
                named.stream_id, named.version, named.event_type, named.event_id
            ))),
        }
    }

    async fn notify(
        &self,
        channel: Channel,
        envelope: &toolkit::envelope::EventEnvelope,
        invocation: &Invocation,
    ) -> Result<(), RecordError> {
        let order_id = order_id_of(envelope)?;
        let event = OrderEvent::from_envelope(envelope).map_err(RecordError::poison)?;
        let Some(message) = message_for(&event) else {
            return Err(RecordError::Poison(format!("{} is not customer-facing", envelope.event_type)));
        };
        let event_id = envelope.event_id.to_string();
        let key = format!("notify#{channel:?}#{event_id}");
        let send = || self.send(channel, envelope, order_id, message, invocation);
        run_once(&self.idempotency, invocation, &key, &(channel, &event_id), send).await.map_err(RecordError::from)
    }

    /// Delivers the message on its channel and records the notification.
    async fn send(
        &self,
        channel: Channel,
        envelope: &toolkit::envelope::EventEnvelope,
        order_id: domain::OrderId,
        message: String,
        invocation: &Invocation,
    ) -> Result<(), RecordError> {
        let delivery = match channel {
            Channel::Email | Channel::Sms => "simulated provider".to_string(),
            Channel::Webhook => self.post_webhook(envelope, &message, invocation).await?,
        };
        let notification = Notification {
            order_id,
            channel,
            event_id: envelope.event_id.to_string(),
            event_type: envelope.event_type.clone(),
            message,
            sent_at: toolkit::clock::now(),
            delivery,
        };
        self.log.record(&notification).await?;
        tracing::info!(?channel, "customer notified");
        Ok(())
    }

    async fn post_webhook(
        &self,
        envelope: &toolkit::envelope::EventEnvelope,
        message: &str,
        invocation: &Invocation,
    ) -> Result<String, RecordError> {
        let sender = self
            .webhook
            .as_ref()
            .ok_or_else(|| RecordError::Retryable("no webhook URL is configured (WEBHOOK_URL)".into()))?;
        let body = serde_json::json!({ "event": envelope, "message": message });
        let delivery_id = format!("webhook#{}", envelope.event_id);
        let status = sender.post(&body, &delivery_id, invocation.deadline_ms).await.map_err(RecordError::Retryable)?;
        Ok(format!("webhook answered {status}"))
    }
}

fn channel_of(message: &SqsMessage) -> Result<Channel, RecordError> {
    let source = message.event_source_arn.as_deref().unwrap_or_default();
    Channel::of_queue(source)
        .ok_or_else(|| RecordError::Poison(format!("no notification channel serves queue {source}")))
}

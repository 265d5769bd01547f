//! The payment provider's signed callbacks (`POST /webhooks/payments`).

use super::http::{bad_request, json_response, unavailable};
use super::{APPEND_ATTEMPTS, Api, Call};
use crate::handlers::steps::void_once;
use crate::notify::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, verify};
use domain::OrderEvent;
use domain::payment::PaymentProvider;
use domain::saga::{CallbackOutcome, PaymentCallback, PaymentOutcome};
use domain::{EventCodec, Order};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;
use toolkit::idempotency::IdempotencyStore;
use toolkit::store::{DecideError, Decision, EventStore, decide_and_append, load_stream};

/// The largest payment callback accepted: it carries an id, an outcome and a short reason.
pub const MAX_CALLBACK_BYTES: usize = 16 * 1024;

/// How far a signed callback's timestamp may be from now, in seconds.
pub const WEBHOOK_TOLERANCE_SECONDS: i64 = 300;

impl<S: EventStore, V, A, N, I: IdempotencyStore, R, P: PaymentProvider, G> Api<S, V, A, N, I, R, P, G> {
    /// The payment provider's signed callback: a bad or stale signature gets 401 and
    /// stores nothing; a valid one settles an order still waiting for its payment.
    pub(super) async fn payment_callback(&self, call: &Call<'_>) -> Response<Body> {
        let request = call.request;
        let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
        let body = request.body().as_ref();
        // Before any work on it: an unauthenticated caller may send 6 MB.
        if body.len() > MAX_CALLBACK_BYTES {
            let error = format!("body is {} bytes; at most {MAX_CALLBACK_BYTES} are accepted", body.len());
            return json_response(StatusCode::PAYLOAD_TOO_LARGE, json!({ "error": error, "field": "body" }));
        }
        let now = toolkit::clock::now().timestamp();
        let checked = if self.payment_webhook_secret.is_empty() {
            Err("no payment webhook secret is configured".to_string())
        } else {
            verify(
                &self.payment_webhook_secret,
                header(TIMESTAMP_HEADER),
                header(SIGNATURE_HEADER),
                body,
                now,
                WEBHOOK_TOLERANCE_SECONDS,
            )
            .map_err(|e| e.to_string())
        };
        if let Err(reason) = checked {
            tracing::warn!(%reason, "payment callback refused");
            return json_response(StatusCode::UNAUTHORIZED, json!({ "error": format!("signature refused: {reason}") }));
        }
        let callback = match serde_json::from_slice::<PaymentCallback>(body) {
            Ok(callback) => match callback.check() {
                Ok(()) => callback,
                Err(invalid) => return bad_request(&invalid),
            },
            Err(e) => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    json!({ "error": format!("body: {e}"), "field": "body" }),
                );
            }
        };
        let causality = call.causality();
        let stream_id = callback.order_id.stream_id();
        let load = || async {
            let (history, version) = load_stream(&self.store, &stream_id).await?;
            let events: Result<Vec<OrderEvent>, _> = history.iter().map(OrderEvent::from_envelope).collect();
            match events.map(|events| Order::replay(&events)) {
                Ok(Ok(Some(order))) => Ok((order, version)),
                Ok(Ok(None)) => Err(DecideError::Decide(json_response(
                    StatusCode::NOT_FOUND,
                    json!({ "error": format!("order {} not found", callback.order_id) }),
                ))),
                _ => Err(DecideError::Decide(unavailable(
                    "the order could not be read",
                    &"its history cannot be replayed",
                ))),
            }
        };
        let (callback, causality) = (&callback, &causality);
        let decide = |order: Order| async move {
            if let Some(decision) = order.settle_payment(callback) {
                let event = decision.into_new_event(causality.clone(), toolkit::clock::now());
                let answer = json_response(StatusCode::OK, json!({ "orderId": order.id, "applied": true }));
                return Ok(Decision::append(vec![event], answer));
            }
            // An authorization for an order that already ended (it timed out while the
            // provider was deciding): the money must not stay held.
            let Some(void) = late_authorization(&order, callback) else {
                let answer = json!({ "orderId": order.id, "status": order.status, "applied": false });
                return Ok(Decision::nothing(json_response(StatusCode::OK, answer)));
            };
            if let Err(error) = void_once(&self.idempotency, &self.provider, call.invocation, &order, &void).await {
                return Err(unavailable("the late authorization could not be voided", &error));
            }
            let event = void.into_new_event(causality.clone(), toolkit::clock::now());
            let answer = json!({ "orderId": order.id, "status": order.status, "applied": false, "voided": true });
            Ok(Decision::append(vec![event], json_response(StatusCode::OK, answer)))
        };
        match decide_and_append(&self.store, &stream_id, APPEND_ATTEMPTS, load, decide).await {
            Ok(answer) | Err(DecideError::Decide(answer)) => answer,
            Err(DecideError::Store(error)) => unavailable("the payment could not be stored", &error),
            Err(DecideError::KeptChanging { .. }) => {
                json_response(StatusCode::CONFLICT, json!({ "error": "the order kept changing; retry" }))
            }
        }
    }
}

/// The void owed for a provider's authorization of an order that ended without it.
fn late_authorization(order: &Order, callback: &PaymentCallback) -> Option<OrderEvent> {
    if callback.outcome != CallbackOutcome::Authorized {
        return None;
    }
    let authorization_id = callback.authorization_id.clone().unwrap_or_else(|| format!("auth-{}", order.id));
    order.void_payment(Some(&PaymentOutcome::Authorized(authorization_id)))
}

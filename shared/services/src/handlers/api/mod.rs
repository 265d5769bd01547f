//! `api-ingress`: the HTTP API's commands and queries, one file per concern.
//!
//! - this file: the [`Api`] and its routing table;
//! - `admission`: API keys (401/403), per-key rate limits (429 with `retry-after`), load
//!   shedding (503 with `retry-after` for new orders while the saga is behind) and
//!   `Idempotency-Key` for commands;
//! - `orders`: `POST /orders` (checks the body, 400 naming the bad field; appends
//!   `OrderPlaced` to a new stream; 202 with the order id; the outbox relay publishes it),
//!   `GET /orders/{orderId}`, a customer's orders, an order's notifications;
//! - `payments`: the provider's signed callbacks; `stock`: adding and reading stock;
//!   `sales`: analytics; `http`: reading requests and writing JSON answers.

mod admission;
mod http;
mod orders;
mod payments;
mod sales;
mod stock;

pub use admission::UNAUTHENTICATED_PER_SECOND;
pub use http::{CORRELATION_HEADER, IDEMPOTENCY_KEY_HEADER, MAX_BODY_BYTES};
pub use payments::{MAX_CALLBACK_BYTES, WEBHOOK_TOLERANCE_SECONDS};

use crate::access::{ApiKeys, RateLimiter};
use crate::analytics::AnalyticsStore;
use crate::notify::NotificationLog;
use crate::views::OrderViews;
use admission::Caller;
use domain::payment::{PaymentProvider, SimulatedProvider};
use http::{correlation_id_of, is_sku, json_response, path_parameter, request_id_of, route_key, with_header};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use toolkit::admission::{Admission, BacklogGauge, FixedBacklog};
use toolkit::envelope::{Causality, CorrelationId};
use toolkit::idempotency::IdempotencyStore;
use toolkit::invocation::Invocation;
use toolkit::store::EventStore;
use tracing::Instrument;

/// The HTTP API over its ports (store, read model, analytics, notification log, idempotency
/// records, rate limiter, payment provider); [`Api::handle`] answers every request.
pub struct Api<S, V, A, N, I, R, P = SimulatedProvider, G = FixedBacklog> {
    store: S,
    views: V,
    analytics: A,
    notifications: N,
    /// Commands sent with an `Idempotency-Key` take effect once.
    idempotency: I,
    limiter: R,
    keys: ApiKeys,
    /// The secret the payment provider signs its callbacks with.
    payment_webhook_secret: Vec<u8>,
    /// Voids an authorization whose callback arrives after the order ended.
    provider: P,
    /// Refuses new orders while the saga is behind (off unless set).
    admission: Admission<G>,
}

/// Attempts when another writer appended to the order's or the shelf's stream first.
const APPEND_ATTEMPTS: u32 = 3;

impl<S, V, A, N, I, R> Api<S, V, A, N, I, R> {
    pub fn new(store: S, views: V, analytics: A, notifications: N, idempotency: I, limiter: R) -> Self {
        let (keys, payment_webhook_secret) = (ApiKeys::default(), Vec::new());
        let (provider, admission) = (SimulatedProvider, Admission::off());
        #[rustfmt::skip]
        let api = Self { store, views, analytics, notifications, idempotency, limiter, keys, payment_webhook_secret, provider, admission };
        api
    }
}

impl<S, V, A, N, I, R, P, G> Api<S, V, A, N, I, R, P, G> {
    /// The same API with its payment provider and admission control replaced.
    fn replacing<Q, H>(
        self,
        provider: impl FnOnce(P) -> Q,
        admission: impl FnOnce(Admission<G>) -> Admission<H>,
    ) -> Api<S, V, A, N, I, R, Q, H> {
        let (provider, admission) = (provider(self.provider), admission(self.admission));
        let Api { store, views, analytics, notifications, idempotency, limiter, keys, payment_webhook_secret, .. } =
            self;
        #[rustfmt::skip]
        let api = Api { store, views, analytics, notifications, idempotency, limiter, keys, payment_webhook_secret, provider, admission };
        api
    }
}

impl<S, V, A, N, I, R, P, G> Api<S, V, A, N, I, R, P, G>
where
    S: EventStore,
    V: OrderViews,
    A: AnalyticsStore,
    N: NotificationLog,
    I: IdempotencyStore,
    R: RateLimiter,
    P: PaymentProvider,
    G: BacklogGauge,
{
    /// The ports it was built with (tests inspect the fakes).
    pub fn ports(&self) -> (&S, &V) {
        (&self.store, &self.views)
    }

    /// The payment provider late authorizations are voided with.
    pub fn with_payment_provider<Q: PaymentProvider>(self, provider: Q) -> Api<S, V, A, N, I, R, Q, G> {
        self.replacing(|_| provider, |admission| admission)
    }

    /// Refuses new orders (503 with `retry-after`) while `admission` says the saga is behind;
    /// every other route keeps working.
    pub fn with_admission<H: BacklogGauge>(self, admission: Admission<H>) -> Api<S, V, A, N, I, R, P, H> {
        self.replacing(|provider| provider, |_| admission)
    }

    /// The callers it accepts (none without keys).
    pub fn with_api_keys(self, keys: ApiKeys) -> Self {
        Self { keys, ..self }
    }

    /// Accepts payment callbacks signed with `secret` (none are accepted without one).
    pub fn with_payment_webhook_secret(self, secret: impl Into<Vec<u8>>) -> Self {
        Self { payment_webhook_secret: secret.into(), ..self }
    }

    /// Never fails: every outcome, errors included, is an HTTP response.
    pub async fn handle(&self, request: Request, invocation: &Invocation) -> Response<Body> {
        let started = std::time::Instant::now();
        let correlation_id = correlation_id_of(&request);
        let span = tracing::info_span!("request", correlation_id = %correlation_id);
        let response = self.route(&request, invocation, &correlation_id).instrument(span).await;
        let status = response.status().as_u16();
        toolkit::metrics::emit(
            "api-ingress",
            &[
                ("Requests", "Count", 1.0),
                ("Status4xx", "Count", f64::from(u8::from((400..500).contains(&status)))),
                ("Status5xx", "Count", f64::from(u8::from(status >= 500))),
                ("Latency", "Milliseconds", started.elapsed().as_secs_f64() * 1_000.0),
                ("ColdStart", "Count", if toolkit::metrics::take_cold_start() { 1.0 } else { 0.0 }),
            ],
        );
        with_header(response, CORRELATION_HEADER, correlation_id.as_str())
    }

    async fn route(
        &self,
        request: &Request,
        invocation: &Invocation,
        correlation_id: &CorrelationId,
    ) -> Response<Body> {
        let route = route_key(request);
        // The provider's callback proves itself with its HMAC signature instead of a key.
        let caller = match route.as_str() {
            "POST /webhooks/payments" => match self.admit_unauthenticated(request, &route).await {
                Ok(()) => Caller { name: String::new(), admin: false },
                Err(refusal) => return refusal,
            },
            _ => match self.admit(request, &route).await {
                Ok(caller) => caller,
                Err(refusal) => return refusal,
            },
        };
        let call = Call { request, invocation, correlation_id, caller };
        let (caller, path) = (&call.caller, |name| path_parameter(request, name));
        match route.as_str() {
            "POST /orders" => self.place_order(&call).await,
            "GET /orders/{orderId}" => self.get_order(caller, &path("orderId")).await,
            "GET /customers/{customerId}/orders" => self.customer_orders(&call, &path("customerId")).await,
            "POST /inventory/{sku}/stock" | "GET /inventory/{sku}" if !is_sku(&path("sku")) => {
                let error = "sku: must be 1 to 64 characters of A-Z, a-z, 0-9, '-' or '_'";
                json_response(StatusCode::BAD_REQUEST, json!({ "error": error, "field": "sku" }))
            }
            "POST /inventory/{sku}/stock" => self.add_stock(&call, &path("sku")).await,
            "GET /inventory/{sku}" => self.get_stock(&path("sku")).await,
            "GET /orders/{orderId}/notifications" => self.order_notifications(caller, &path("orderId")).await,
            "POST /webhooks/payments" => self.payment_callback(&call).await,
            "GET /analytics/sales" | "GET /analytics/orders" if !caller.admin => json_response(
                StatusCode::FORBIDDEN,
                json!({ "error": "analytics cover every caller's orders: they take an admin API key" }),
            ),
            "GET /analytics/sales" => self.sales(request).await,
            "GET /analytics/orders" => self.order_counts().await,
            _ => json_response(StatusCode::NOT_FOUND, json!({ "error": format!("no route for {route}") })),
        }
    }
}

/// One request as it is handled: what was sent, by whom, in which invocation.
struct Call<'r> {
    request: &'r Request,
    invocation: &'r Invocation,
    correlation_id: &'r CorrelationId,
    caller: Caller,
}

impl Call<'_> {
    /// The causality of the events this request causes: the order's trace starts here.
    fn causality(&self) -> Causality {
        let trace_id = self.invocation.trace_id.clone();
        Causality::of_request(self.correlation_id.clone(), request_id_of(self.request), trace_id)
    }
}

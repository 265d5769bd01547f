//! `api-ingress`: the HTTP API's commands and queries.
//!
//! - `POST /orders`: checks the body (400 naming the bad field), appends `OrderPlaced`
//!   to a new stream and answers 202 with the order id. Nothing else is written: the
//!   outbox relay publishes the stored event.
//! - `GET /orders/{orderId}`: the order's read model, 404 when unknown.

use crate::access::{API_KEY_HEADER, ApiKeys, RateLimiter};
use crate::analytics::AnalyticsStore;
use crate::handlers::steps::{LoadedShelf, load_shelf, void_once};
use crate::notify::NotificationLog;
use crate::notify::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, verify};
use crate::views::{OrderView, OrderViews};
use domain::OrderEvent;
use domain::inventory::{StockAdded, sku_stream};
use domain::payment::{PaymentProvider, SimulatedProvider};
use domain::saga::{CallbackOutcome, PaymentCallback, PaymentOutcome};
use domain::{EventCodec, InvalidCommand, InventoryEvent, Order, OrderId, PlaceOrder, check_identifier};
use lambda_http::http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use std::convert::Infallible;
use std::future::Future;
use toolkit::envelope::{Causality, CausationId, CorrelationId};
use toolkit::idempotency::{IdempotencyError, IdempotencyStore, Idempotent, run_once};
use toolkit::store::{DecideError, Decision, EventStore, StoreError, decide_and_append, load_stream};
use tracing::Instrument;

pub const CORRELATION_HEADER: &str = "x-correlation-id";
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// The largest body accepted, as for an SQS message or an EventBridge event.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

pub struct Api<S, V, A, N, I, R, P = SimulatedProvider> {
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
}

/// The largest payment callback accepted: it carries an id, an outcome and a short reason.
pub const MAX_CALLBACK_BYTES: usize = 16 * 1024;

/// How far a signed callback's timestamp may be from now, in seconds.
pub const WEBHOOK_TOLERANCE_SECONDS: i64 = 300;
/// Attempts when another writer appended to the order's or the shelf's stream first.
const APPEND_ATTEMPTS: u32 = 3;

impl<S, V, A, N, I, R> Api<S, V, A, N, I, R> {
    pub fn new(store: S, views: V, analytics: A, notifications: N, idempotency: I, limiter: R) -> Self {
        let keys = ApiKeys::default();
        let payment_webhook_secret = Vec::new();
        let provider = SimulatedProvider;
        Self { store, views, analytics, notifications, idempotency, limiter, keys, payment_webhook_secret, provider }
    }
}

impl<S, V, A, N, I, R, P> Api<S, V, A, N, I, R, P>
where
    S: EventStore,
    V: OrderViews,
    A: AnalyticsStore,
    N: NotificationLog,
    I: IdempotencyStore,
    R: RateLimiter,
    P: PaymentProvider,
{
    /// The ports it was built with (tests inspect the fakes).
    pub fn ports(&self) -> (&S, &V) {
        (&self.store, &self.views)
    }

    /// The payment provider late authorizations are voided with.
    pub fn with_payment_provider<Q: PaymentProvider>(self, provider: Q) -> Api<S, V, A, N, I, R, Q> {
        let Api { store, views, analytics, notifications, idempotency, limiter, keys, payment_webhook_secret, .. } =
            self;
        Api { store, views, analytics, notifications, idempotency, limiter, keys, payment_webhook_secret, provider }
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
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let started = std::time::Instant::now();
        let correlation_id = correlation_id_of(&request);
        let span = tracing::info_span!("request", correlation_id = %correlation_id);
        let response = self.route(request, &correlation_id).instrument(span).await;
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

    async fn route(&self, request: Request, correlation_id: &CorrelationId) -> Response<Body> {
        let route = route_key(&request);
        // The provider's callback proves itself with its HMAC signature instead of a key.
        let caller = match route.as_str() {
            "POST /webhooks/payments" => Caller { name: String::new(), admin: false },
            _ => match self.admit(&request, &route).await {
                Ok(caller) => caller,
                Err(refusal) => return refusal,
            },
        };
        match route.as_str() {
            "POST /orders" => self.place_order(&request, &caller.name, correlation_id).await,
            "GET /orders/{orderId}" => self.get_order(&caller, &path_parameter(&request, "orderId")).await,
            "GET /customers/{customerId}/orders" => {
                self.customer_orders(&caller, &path_parameter(&request, "customerId")).await
            }
            "POST /inventory/{sku}/stock" | "GET /inventory/{sku}" if !is_sku(&path_parameter(&request, "sku")) => {
                let error = "sku: must be 1 to 64 characters of A-Z, a-z, 0-9, '-' or '_'";
                json_response(StatusCode::BAD_REQUEST, json!({ "error": error, "field": "sku" }))
            }
            "POST /inventory/{sku}/stock" => {
                self.add_stock(&request, &caller.name, &path_parameter(&request, "sku"), correlation_id).await
            }
            "GET /inventory/{sku}" => self.get_stock(&path_parameter(&request, "sku")).await,
            "GET /orders/{orderId}/notifications" => {
                self.order_notifications(&caller, &path_parameter(&request, "orderId")).await
            }
            "POST /webhooks/payments" => self.payment_callback(&request, correlation_id).await,
            "GET /analytics/sales" => self.sales(&request).await,
            "GET /analytics/orders" => match self.analytics.status_counts().await {
                Ok(counts) => json_response(StatusCode::OK, json!({ "ordersByStatus": counts })),
                Err(error) => unavailable("the order counts could not be read", &error),
            },
            _ => json_response(StatusCode::NOT_FOUND, json!({ "error": format!("no route for {route}") })),
        }
    }

    /// Answers 401 without a key, 403 with an unknown one, 429 over the key's rate; else
    /// the caller. Every refusal is logged with the route and source address.
    async fn admit(&self, request: &Request, route: &str) -> Result<Caller, Response<Body>> {
        let source = source_ip_of(request);
        let refuse = |status: StatusCode, reason: &str| {
            tracing::warn!(%route, %source, %reason, status = status.as_u16(), "request refused");
            json_response(status, json!({ "error": reason }))
        };
        let Some(presented) = request.headers().get(API_KEY_HEADER).and_then(|v| v.to_str().ok()) else {
            return Err(refuse(StatusCode::UNAUTHORIZED, "missing x-api-key header"));
        };
        let Some(key) = self.keys.find(presented) else {
            return Err(refuse(StatusCode::FORBIDDEN, "the x-api-key is not a valid API key"));
        };
        match self.limiter.admit(&key.name, key.per_second).await {
            Ok(true) => Ok(Caller { name: key.name.clone(), admin: key.admin }),
            Ok(false) => {
                let reason = format!("rate limit of {} requests per second exceeded; retry later", key.per_second);
                Err(with_header(refuse(StatusCode::TOO_MANY_REQUESTS, &reason), "retry-after", "1"))
            }
            Err(error) => Err(unavailable("the rate limit could not be checked", &error)),
        }
    }

    /// Runs a command's `effect` once per `Idempotency-Key` (when the caller sent one): a
    /// repeat with the same body gets the first answer, with another body 422.
    async fn at_most_once<T, F, Fut>(&self, request: &Request, caller: &str, effect: F) -> Result<T, Response<Body>>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, Response<Body>>>,
    {
        let key = match idempotency_key_of(request) {
            Ok(Some(key)) => key,
            Ok(None) => return effect().await,
            Err(error) => {
                return Err(json_response(
                    StatusCode::BAD_REQUEST,
                    json!({ "error": error, "field": "Idempotency-Key" }),
                ));
            }
        };
        let payload = (request.raw_http_path(), String::from_utf8_lossy(request.body().as_ref()));
        let scoped = format!("api#{caller}#{key}");
        run_once(&self.idempotency, &scoped, &payload, effect).await.map_err(|refused| match refused {
            Idempotent::Failed(response) => response,
            Idempotent::Refused(IdempotencyError::PayloadMismatch { .. }) => json_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "error": format!("Idempotency-Key {key} was used with another request"), "field": "Idempotency-Key" }),
            ),
            Idempotent::Refused(IdempotencyError::InProgress { .. }) => json_response(
                StatusCode::CONFLICT,
                json!({ "error": format!("a request with Idempotency-Key {key} is in progress; retry later") }),
            ),
            Idempotent::Refused(other) => unavailable("the idempotency record could not be read", &other),
        })
    }

    async fn place_order(&self, request: &Request, caller: &str, correlation_id: &CorrelationId) -> Response<Body> {
        let body = request.body().as_ref();
        if body.len() > MAX_BODY_BYTES {
            let error = format!("body is {} bytes; at most {MAX_BODY_BYTES} are accepted", body.len());
            return json_response(StatusCode::PAYLOAD_TOO_LARGE, json!({ "error": error, "field": "body" }));
        }
        let command = match PlaceOrder::parse(body) {
            Ok(command) => PlaceOrder { placed_by: Some(caller.to_string()), ..command },
            Err(invalid) => return bad_request(&invalid),
        };
        let causality = Causality::of_request(
            correlation_id.clone(),
            request_id_of(request),
            toolkit::observability::invocation_trace(),
        );
        // With an Idempotency-Key the order's id comes from the key: if the first attempt
        // stored the order but not its answer, the repeat finds that order instead of
        // placing a second one.
        let order_id = match idempotency_key_of(request) {
            Ok(Some(key)) => OrderId::for_idempotency_key(&format!("{caller}#{key}")),
            _ => OrderId::generate(), // no key; a bad one is refused by `at_most_once`
        };
        let placed = self.at_most_once(request, caller, || self.append_new_order(order_id, command, causality)).await;
        match placed {
            Ok(order_id) => json_response(StatusCode::ACCEPTED, json!({ "orderId": order_id, "status": "Placed" })),
            Err(refusal) => refusal,
        }
    }

    async fn append_new_order(
        &self,
        order_id: OrderId,
        command: PlaceOrder,
        causality: Causality,
    ) -> Result<OrderId, Response<Body>> {
        let placed = Order::place(order_id, command).into_new_event(causality, toolkit::clock::now());
        match self.store.append(&order_id.stream_id(), 0, vec![placed]).await {
            Ok(_) => {
                tracing::info!(%order_id, "order placed");
                Ok(order_id)
            }
            Err(StoreError::Conflict { .. }) => {
                tracing::info!(%order_id, "order already placed by an earlier attempt with this Idempotency-Key");
                Ok(order_id)
            }
            Err(error) => Err(unavailable("the order could not be stored", &error)),
        }
    }

    /// Sales per product per minute between `from` and `to` (RFC 3339; default: the last hour).
    async fn sales(&self, request: &Request) -> Response<Body> {
        let now = toolkit::clock::now();
        let parameters = request.query_string_parameters_ref().cloned().unwrap_or_default();
        let time = |name: &'static str, default: chrono::DateTime<chrono::Utc>| match parameters.first(name) {
            None => Ok(default),
            Some(text) => chrono::DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|e| (name, format!("{name}: `{text}` is not an RFC 3339 time: {e}"))),
        };
        let (from, to) = match (time("from", now - chrono::Duration::hours(1)), time("to", now)) {
            (Ok(from), Ok(to)) => (from, to),
            (Err((field, error)), _) | (_, Err((field, error))) => {
                return json_response(StatusCode::BAD_REQUEST, json!({ "error": error, "field": field }));
            }
        };
        if from > to {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({ "error": "from: must not be after to", "field": "from" }),
            );
        }
        match self.analytics.sales(from, to).await {
            Ok(sales) => json_response(StatusCode::OK, json!({ "from": from, "to": to, "sales": sales })),
            Err(error) => unavailable("the sales could not be read", &error),
        }
    }

    /// The payment provider's signed callback: a bad or stale signature gets 401 and
    /// stores nothing; a valid one settles an order still waiting for its payment.
    async fn payment_callback(&self, request: &Request, correlation_id: &CorrelationId) -> Response<Body> {
        let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
        let body = request.body().as_ref();
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
        if body.len() > MAX_CALLBACK_BYTES {
            let error = format!("body is {} bytes; at most {MAX_CALLBACK_BYTES} are accepted", body.len());
            return json_response(StatusCode::PAYLOAD_TOO_LARGE, json!({ "error": error, "field": "body" }));
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
        let causality = Causality::of_request(
            correlation_id.clone(),
            request_id_of(request),
            toolkit::observability::invocation_trace(),
        );
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
            if let Err(error) = void_once(&self.idempotency, &self.provider, &order, &void).await {
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

    async fn order_notifications(&self, caller: &Caller, order_id: &str) -> Response<Body> {
        let id = match self.owned_order(caller, order_id).await {
            Ok(view) => view.order_id,
            Err(refusal) => return refusal,
        };
        match self.notifications.for_order(id).await {
            Ok(notifications) => {
                json_response(StatusCode::OK, json!({ "orderId": id, "notifications": notifications }))
            }
            Err(error) => unavailable("the notifications could not be read", &error),
        }
    }

    /// The customer's orders that this caller placed (every one, for an admin key).
    async fn customer_orders(&self, caller: &Caller, customer_id: &str) -> Response<Body> {
        if let Err(invalid) = check_identifier("customerId", customer_id) {
            return bad_request(&invalid);
        }
        match self.views.by_customer(customer_id, CUSTOMER_ORDERS_LIMIT).await {
            Ok(orders) => {
                let orders: Vec<_> = orders.into_iter().filter(|view| caller.may_read(view)).collect();
                json_response(StatusCode::OK, json!({ "customerId": customer_id, "orders": orders }))
            }
            Err(error) => unavailable("the customer's orders could not be read", &error),
        }
    }

    async fn add_stock(
        &self,
        request: &Request,
        caller: &str,
        sku: &str,
        correlation_id: &CorrelationId,
    ) -> Response<Body> {
        let quantity = match serde_json::from_slice::<AddStock>(request.body().as_ref()) {
            Ok(AddStock { quantity }) if quantity > 0 => quantity,
            Ok(_) => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    json!({ "error": "quantity: must be at least 1", "field": "quantity" }),
                );
            }
            Err(e) => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    json!({ "error": format!("body: {e}"), "field": "quantity" }),
                );
            }
        };
        let causality = Causality::of_request(
            correlation_id.clone(),
            request_id_of(request),
            toolkit::observability::invocation_trace(),
        );
        let added = InventoryEvent::StockAdded(StockAdded { sku: sku.to_string(), quantity });
        match self.at_most_once(request, caller, || self.append_to_shelf(sku, added, causality)).await {
            Ok(()) => self.get_stock(sku).await,
            Err(refusal) => refusal,
        }
    }

    async fn append_to_shelf(
        &self,
        sku: &str,
        added: InventoryEvent,
        causality: Causality,
    ) -> Result<(), Response<Body>> {
        let stream_id = sku_stream(sku);
        let load = || async {
            let last = self.store.load_last(&stream_id, 1).await?;
            Ok(((), last.last().map_or(0, |e| e.version)))
        };
        let decide = |()| async {
            let event = added.clone().into_new_event(causality.clone(), toolkit::clock::now());
            Ok::<_, Infallible>(Decision::append(vec![event], ()))
        };
        match decide_and_append(&self.store, &stream_id, APPEND_ATTEMPTS, load, decide).await {
            Ok(()) => Ok(()),
            Err(DecideError::Decide(never)) => match never {},
            Err(DecideError::Store(error)) => Err(unavailable("the stock could not be stored", &error)),
            Err(DecideError::KeptChanging { .. }) => {
                let error = format!("stock of {sku} kept changing; retry");
                Err(json_response(StatusCode::CONFLICT, json!({ "error": error })))
            }
        }
    }

    async fn get_stock(&self, sku: &str) -> Response<Body> {
        match load_shelf(&self.store, sku).await {
            Ok(LoadedShelf { shelf, version, .. }) => {
                let held: u32 = shelf.held.values().sum();
                json_response(
                    StatusCode::OK,
                    json!({ "sku": sku, "onHand": shelf.on_hand, "held": held, "shipped": shelf.shipped, "version": version }),
                )
            }
            Err(error) => unavailable("the stock could not be read", &error),
        }
    }

    async fn get_order(&self, caller: &Caller, order_id: &str) -> Response<Body> {
        match self.owned_order(caller, order_id).await {
            Ok(view) => json_response(StatusCode::OK, json!(view)),
            Err(refusal) => refusal,
        }
    }

    /// The order's view if the caller may read it. Another key's order is a 404, as an
    /// unknown one is: its existence is not the caller's business either.
    async fn owned_order(&self, caller: &Caller, order_id: &str) -> Result<OrderView, Response<Body>> {
        let Some(id) = OrderId::parse(order_id) else {
            let error = format!("`{}` is not an order id (a UUID)", shown(order_id));
            return Err(json_response(StatusCode::BAD_REQUEST, json!({ "error": error, "field": "orderId" })));
        };
        match self.views.get(id).await {
            Ok(Some(view)) if caller.may_read(&view) => Ok(view),
            Ok(_) => Err(json_response(StatusCode::NOT_FOUND, json!({ "error": format!("order {id} not found") }))),
            Err(error) => Err(unavailable("the order could not be read", &error)),
        }
    }
}

/// Who is calling: an API key's name, and whether it may read every caller's data.
struct Caller {
    name: String,
    admin: bool,
}

impl Caller {
    /// Orders with no recorded owner (placed before owners were recorded) are for admins.
    fn may_read(&self, view: &OrderView) -> bool {
        self.admin || view.placed_by.as_deref() == Some(self.name.as_str())
    }
}

/// At most the first 64 characters of a value, for an error message.
fn shown(value: &str) -> String {
    value.chars().take(64).collect()
}

/// The void owed for a provider's authorization of an order that ended without it.
fn late_authorization(order: &Order, callback: &PaymentCallback) -> Option<OrderEvent> {
    if callback.outcome != CallbackOutcome::Authorized {
        return None;
    }
    let authorization_id = callback.authorization_id.clone().unwrap_or_else(|| format!("auth-{}", order.id));
    order.void_payment(Some(&PaymentOutcome::Authorized(authorization_id)))
}

/// The caller's `Idempotency-Key`, if any; what is wrong with it when it is not a valid one.
fn idempotency_key_of(request: &Request) -> Result<Option<&str>, &'static str> {
    let Some(header) = request.headers().get(IDEMPOTENCY_KEY_HEADER) else { return Ok(None) };
    match header.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= 128 => Ok(Some(key)),
        _ => Err("Idempotency-Key: must be 1 to 128 visible ASCII characters"),
    }
}

/// The route API Gateway matched, e.g. `GET /orders/{orderId}`.
fn route_key(request: &Request) -> String {
    match request.request_context() {
        RequestContext::ApiGatewayV2(context) => context.route_key.unwrap_or_else(|| "$default".into()),
        _ => format!("{} {}", request.method(), request.raw_http_path()),
    }
}

fn is_sku(sku: &str) -> bool {
    !sku.is_empty() && sku.len() <= 64 && sku.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn path_parameter(request: &Request, name: &str) -> String {
    request.path_parameters_ref().and_then(|p| p.first(name)).unwrap_or_default().to_string()
}

/// The caller's correlation id when it is a sane identifier, else a new one.
fn correlation_id_of(request: &Request) -> CorrelationId {
    request
        .headers()
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(CorrelationId::new)
        .unwrap_or_else(CorrelationId::generate)
}

fn source_ip_of(request: &Request) -> String {
    match request.request_context() {
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.unwrap_or_default(),
        _ => String::new(),
    }
}

/// The API request that caused the first event of an order.
fn request_id_of(request: &Request) -> CausationId {
    let id = match request.request_context() {
        RequestContext::ApiGatewayV2(context) => context.request_id,
        _ => None,
    };
    CausationId::new(id.unwrap_or_else(|| toolkit::clock::new_uuid().to_string()))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AddStock {
    quantity: u32,
}

const CUSTOMER_ORDERS_LIMIT: u32 = 50;

fn unavailable(what: &str, error: &dyn std::fmt::Display) -> Response<Body> {
    tracing::error!(%error, "{what}");
    json_response(StatusCode::SERVICE_UNAVAILABLE, json!({ "error": format!("{what}; retry later") }))
}

fn bad_request(invalid: &InvalidCommand) -> Response<Body> {
    json_response(StatusCode::BAD_REQUEST, json!({ "error": invalid.to_string(), "field": invalid.field }))
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    with_header(response, "content-type", "application/json")
}

fn with_header(mut response: Response<Body>, name: &'static str, value: &str) -> Response<Body> {
    if let Ok(value) = value.parse() {
        response.headers_mut().insert(name, value);
    }
    response
}

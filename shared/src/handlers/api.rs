//! `api-ingress`: the HTTP API's commands and queries.
//!
//! - `POST /orders`: checks the body (400 naming the bad field), appends `OrderPlaced`
//!   to a new stream and answers 202 with the order id. Nothing else is written: the
//!   outbox relay publishes the stored event.
//! - `GET /orders/{orderId}`: the order's read model, 404 when unknown.

use crate::domain::{EventCodec, InvalidCommand, Order, OrderId, PlaceOrder};
use crate::envelope::{Causality, CausationId, CorrelationId};
use crate::store::EventStore;
use crate::views::OrderViews;
use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use tracing::Instrument;

pub const CORRELATION_HEADER: &str = "x-correlation-id";
/// The largest body accepted, as for an SQS message or an EventBridge event.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

pub struct Api<S, V> {
    store: S,
    views: V,
}

impl<S: EventStore, V: OrderViews> Api<S, V> {
    /// The ports it was built with (tests inspect the fakes).
    pub fn ports(&self) -> (&S, &V) {
        (&self.store, &self.views)
    }

    pub fn new(store: S, views: V) -> Self {
        Self { store, views }
    }

    /// Never fails: every outcome, errors included, is an HTTP response.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let correlation_id = correlation_id_of(&request);
        let span = tracing::info_span!("request", correlation_id = %correlation_id);
        let response = self.route(request, &correlation_id).instrument(span).await;
        with_header(response, CORRELATION_HEADER, correlation_id.as_str())
    }

    async fn route(&self, request: Request, correlation_id: &CorrelationId) -> Response<Body> {
        let route = route_key(&request);
        match route.as_str() {
            "POST /orders" => self.place_order(&request, correlation_id).await,
            "GET /orders/{orderId}" => {
                let order_id = request
                    .path_parameters_ref()
                    .and_then(|p| p.first("orderId"))
                    .unwrap_or_default()
                    .to_string();
                self.get_order(&order_id).await
            }
            _ => json_response(
                StatusCode::NOT_FOUND,
                json!({ "error": format!("no route for {route}") }),
            ),
        }
    }

    async fn place_order(
        &self,
        request: &Request,
        correlation_id: &CorrelationId,
    ) -> Response<Body> {
        let body = request.body().as_ref();
        if body.len() > MAX_BODY_BYTES {
            let error = format!(
                "body is {} bytes; at most {MAX_BODY_BYTES} are accepted",
                body.len()
            );
            return json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({ "error": error, "field": "body" }),
            );
        }
        let command = match PlaceOrder::parse(body) {
            Ok(command) => command,
            Err(invalid) => return bad_request(&invalid),
        };
        let order_id = OrderId::generate();
        let causality = Causality {
            correlation_id: correlation_id.clone(),
            causation_id: request_id_of(request),
        };
        let placed = Order::place(order_id, command).into_new_event(causality, chrono::Utc::now());
        match self
            .store
            .append(&order_id.stream_id(), 0, vec![placed])
            .await
        {
            Ok(_) => {
                tracing::info!(%order_id, "order placed");
                json_response(
                    StatusCode::ACCEPTED,
                    json!({ "orderId": order_id, "status": "Placed" }),
                )
            }
            Err(error) => {
                tracing::error!(%error, "could not store the order");
                json_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({ "error": "the order could not be stored; retry later" }),
                )
            }
        }
    }

    async fn get_order(&self, order_id: &str) -> Response<Body> {
        let Some(id) = OrderId::parse(order_id) else {
            let error = format!("`{order_id}` is not an order id (a UUID)");
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({ "error": error, "field": "orderId" }),
            );
        };
        match self.views.get(id).await {
            Ok(Some(view)) => json_response(StatusCode::OK, json!(view)),
            Ok(None) => json_response(
                StatusCode::NOT_FOUND,
                json!({ "error": format!("order {id} not found") }),
            ),
            Err(error) => {
                tracing::error!(%error, "could not read the order view");
                json_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({ "error": "the order could not be read; retry later" }),
                )
            }
        }
    }
}

/// The route API Gateway matched, e.g. `GET /orders/{orderId}`; from method and path
/// when the event carries no route key.
fn route_key(request: &Request) -> String {
    if let RequestContext::ApiGatewayV2(context) = request.request_context()
        && let Some(key) = context.route_key.filter(|k| k != "$default")
    {
        return key;
    }
    let method = request.method();
    let path = request.raw_http_path();
    match (
        method,
        path.trim_end_matches('/')
            .split('/')
            .collect::<Vec<_>>()
            .as_slice(),
    ) {
        (&Method::POST, ["", "orders"]) => "POST /orders".into(),
        (&Method::GET, ["", "orders", _]) => "GET /orders/{orderId}".into(),
        _ => format!("{method} {path}"),
    }
}

/// The caller's correlation id when it is a sane identifier, else a new one.
fn correlation_id_of(request: &Request) -> CorrelationId {
    request
        .headers()
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(CorrelationId::new)
        .unwrap_or_else(CorrelationId::generate)
}

/// The API request that caused the first event of an order.
fn request_id_of(request: &Request) -> CausationId {
    let id = match request.request_context() {
        RequestContext::ApiGatewayV2(context) => context.request_id,
        _ => None,
    };
    CausationId::new(id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()))
}

fn bad_request(invalid: &InvalidCommand) -> Response<Body> {
    json_response(
        StatusCode::BAD_REQUEST,
        json!({ "error": invalid.to_string(), "field": invalid.field }),
    )
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

//! HTTP plumbing of the API: reading what a request carries, writing JSON answers.

use domain::InvalidCommand;
use lambda_http::http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use toolkit::envelope::{CausationId, CorrelationId};

pub const CORRELATION_HEADER: &str = "x-correlation-id";
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// The largest body accepted, as for an SQS message or an EventBridge event.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// At most the first 64 characters of a value, for an error message.
pub(super) fn shown(value: &str) -> String {
    value.chars().take(64).collect()
}

/// The caller's `Idempotency-Key`, if any; what is wrong with it when it is not a valid one.
pub(super) fn idempotency_key_of(request: &Request) -> Result<Option<&str>, &'static str> {
    let Some(header) = request.headers().get(IDEMPOTENCY_KEY_HEADER) else { return Ok(None) };
    match header.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= 128 => Ok(Some(key)),
        _ => Err("Idempotency-Key: must be 1 to 128 visible ASCII characters"),
    }
}

/// The route API Gateway matched, e.g. `GET /orders/{orderId}`.
pub(super) fn route_key(request: &Request) -> String {
    match request.request_context() {
        RequestContext::ApiGatewayV2(context) => context.route_key.unwrap_or_else(|| "$default".into()),
        _ => format!("{} {}", request.method(), request.raw_http_path()),
    }
}

pub(super) fn is_sku(sku: &str) -> bool {
    !sku.is_empty() && sku.len() <= 64 && sku.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub(super) fn path_parameter(request: &Request, name: &str) -> String {
    request.path_parameters_ref().and_then(|p| p.first(name)).unwrap_or_default().to_string()
}

/// The caller's correlation id when it is a sane identifier, else a new one.
pub(super) fn correlation_id_of(request: &Request) -> CorrelationId {
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

pub(super) fn source_ip_of(request: &Request) -> String {
    match request.request_context() {
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.unwrap_or_default(),
        _ => String::new(),
    }
}

/// The API request that caused the first event of an order.
pub(super) fn request_id_of(request: &Request) -> CausationId {
    let id = match request.request_context() {
        RequestContext::ApiGatewayV2(context) => context.request_id,
        _ => None,
    };
    CausationId::new(id.unwrap_or_else(|| toolkit::clock::new_uuid().to_string()))
}

pub(super) fn unavailable(what: &str, error: &dyn std::fmt::Display) -> Response<Body> {
    tracing::error!(%error, "{what}");
    json_response(StatusCode::SERVICE_UNAVAILABLE, json!({ "error": format!("{what}; retry later") }))
}

pub(super) fn bad_request(invalid: &InvalidCommand) -> Response<Body> {
    json_response(StatusCode::BAD_REQUEST, json!({ "error": invalid.to_string(), "field": invalid.field }))
}

pub(super) fn json_response(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    with_header(response, "content-type", "application/json")
}

pub(super) fn with_header(mut response: Response<Body>, name: &'static str, value: &str) -> Response<Body> {
    if let Ok(value) = value.parse() {
        response.headers_mut().insert(name, value);
    }
    response
}

//! Who may call: API keys, per-key rate limits, load shedding, and `Idempotency-Key` for
//! commands.

use super::http::{idempotency_key_of, json_response, source_ip_of, unavailable, with_header};
use super::{Api, Call};
use crate::access::{API_KEY_HEADER, RateLimiter};
use crate::views::OrderView;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use std::future::Future;
use toolkit::admission::{BacklogGauge, Verdict};
use toolkit::idempotency::{IdempotencyError, IdempotencyStore, Idempotent, run_once};

impl<S, V, A, N, I, R: RateLimiter, P, G> Api<S, V, A, N, I, R, P, G> {
    /// Answers 401 without a key, 403 with an unknown one, 429 over the key's rate; else
    /// the caller. Every refusal is logged with the route and source address.
    pub(super) async fn admit(&self, request: &Request, route: &str) -> Result<Caller, Response<Body>> {
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
}

/// Requests per second one source address may make to a route that takes no key.
pub const UNAUTHENTICATED_PER_SECOND: u32 = 50;

impl<S, V, A, N, I, R: RateLimiter, P, G> Api<S, V, A, N, I, R, P, G> {
    /// A route that takes no key (the provider's signed callback) is limited per source
    /// address: 429 with `retry-after` over [`UNAUTHENTICATED_PER_SECOND`].
    pub(super) async fn admit_unauthenticated(&self, request: &Request, route: &str) -> Result<(), Response<Body>> {
        let source = source_ip_of(request);
        match self.limiter.admit(&format!("unauthenticated#{route}#{source}"), UNAUTHENTICATED_PER_SECOND).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                let reason = format!(
                    "rate limit of {UNAUTHENTICATED_PER_SECOND} requests per second from {source} exceeded; retry later"
                );
                tracing::warn!(%route, %source, %reason, status = 429, "request refused");
                let refusal = json_response(StatusCode::TOO_MANY_REQUESTS, json!({ "error": reason }));
                Err(with_header(refusal, "retry-after", "1"))
            }
            Err(error) => Err(unavailable("the rate limit could not be checked", &error)),
        }
    }
}

impl<S, V, A, N, I, R, P, G: BacklogGauge> Api<S, V, A, N, I, R, P, G> {
    /// 503 with `retry-after` while the saga's backlog is above the limit: an order refused
    /// at the door can be placed again later, one accepted and then timed out cannot.
    pub(super) async fn shed_load(&self) -> Result<(), Response<Body>> {
        match self.admission.verdict().await {
            Verdict::Admit => Ok(()),
            Verdict::Refuse { backlog, limit, retry_after } => {
                tracing::warn!(
                    backlog,
                    limit,
                    retry_after_s = retry_after.as_secs(),
                    "new order refused: the saga is behind"
                );
                let error = format!(
                    "busy: {backlog} messages wait in the order saga (limit {limit}); retry in {} s",
                    retry_after.as_secs()
                );
                Err(busy(&error, retry_after))
            }
            Verdict::Behind { consumer, waited, limit, retry_after } => {
                tracing::warn!(
                    consumer,
                    waited_s = waited.as_secs(),
                    limit_s = limit.as_secs(),
                    retry_after_s = retry_after.as_secs(),
                    "new order refused: a consumer is behind"
                );
                let error = format!(
                    "busy: accepted work waits {} s for {consumer} (limit {} s); retry in {} s",
                    waited.as_secs(),
                    limit.as_secs(),
                    retry_after.as_secs()
                );
                Err(busy(&error, retry_after))
            }
        }
    }
}

/// 503 naming why, with `retry-after` in whole seconds.
fn busy(error: &str, retry_after: std::time::Duration) -> Response<Body> {
    let refusal = json_response(StatusCode::SERVICE_UNAVAILABLE, json!({ "error": error }));
    with_header(refusal, "retry-after", &retry_after.as_secs().to_string())
}

impl<S, V, A, N, I: IdempotencyStore, R, P, G> Api<S, V, A, N, I, R, P, G> {
    /// Runs a command's `effect` once per `Idempotency-Key` (when the caller sent one): a
    /// repeat with the same body gets the first answer, with another body 422.
    pub(super) async fn at_most_once<T, F, Fut>(&self, call: &Call<'_>, effect: F) -> Result<T, Response<Body>>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, Response<Body>>>,
    {
        let (request, caller) = (call.request, &call.caller.name);
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
        run_once(&self.idempotency, call.invocation, &scoped, &payload, effect).await.map_err(|refused| match refused {
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
}

/// Who is calling: an API key's name, and whether it may read every caller's data.
pub(super) struct Caller {
    pub(super) name: String,
    pub(super) admin: bool,
}

impl Caller {
    /// Orders with no recorded owner (placed before owners were recorded) are for admins.
    pub(super) fn may_read(&self, view: &OrderView) -> bool {
        self.admin || view.placed_by.as_deref() == Some(self.name.as_str())
    }
}

//! Analytics: sales per product per minute, order counts per status.

use super::Api;
use super::http::{json_response, unavailable};
use crate::analytics::{AnalyticsError, AnalyticsStore};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;

impl<S, V, A: AnalyticsStore, N, I, R, P, G> Api<S, V, A, N, I, R, P, G> {
    /// Sales per product per minute between `from` and `to` (RFC 3339; default: the last hour).
    pub(super) async fn sales(&self, request: &Request) -> Response<Body> {
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
            Err(too_long @ AnalyticsError::RangeTooLong) => {
                json_response(StatusCode::BAD_REQUEST, json!({ "error": format!("from: {too_long}"), "field": "from" }))
            }
            Err(error) => unavailable("the sales could not be read", &error),
        }
    }

    pub(super) async fn order_counts(&self) -> Response<Body> {
        match self.analytics.status_counts().await {
            Ok(counts) => json_response(StatusCode::OK, json!({ "ordersByStatus": counts })),
            Err(error) => unavailable("the order counts could not be read", &error),
        }
    }
}

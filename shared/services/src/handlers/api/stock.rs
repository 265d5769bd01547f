//! Stock: adding units to a SKU's shelf, reading the shelf.

use super::http::{idempotency_key_of, json_response, request_id_of, unavailable};
use super::{APPEND_ATTEMPTS, Api, Call};
use crate::handlers::steps::{LoadedShelf, load_shelf};
use domain::EventCodec;
use domain::inventory::sku_stream;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;
use toolkit::envelope::Causality;
use toolkit::idempotency::IdempotencyStore;
use toolkit::store::{EventStore, StoreError};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AddStock {
    quantity: u32,
}

impl<S: EventStore, V, A, N, I: IdempotencyStore, R, P, G> Api<S, V, A, N, I, R, P, G> {
    /// Adds stock, once per `Idempotency-Key`: the key is recorded with the addition in one
    /// write, so a lost answer, a 503 and the client's retry cannot add twice. Admin keys only.
    pub(super) async fn add_stock(&self, call: &Call<'_>, sku: &str) -> Response<Body> {
        if !call.caller.admin {
            return json_response(StatusCode::FORBIDDEN, json!({ "error": "adding stock takes an admin API key" }));
        }
        let quantity = match serde_json::from_slice::<AddStock>(call.request.body().as_ref()) {
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
        // Without a key the addition is once per request (the SDK's own retries included).
        let request = match idempotency_key_of(call.request) {
            Ok(Some(key)) => format!("key#{key}"),
            _ => format!("request#{}", request_id_of(call.request)),
        };
        let once_key = format!("stock#{}#{sku}#{request}", call.caller.name);
        let causality = call.causality();
        match self.at_most_once(call, || self.append_to_shelf(sku, quantity, &causality, &once_key)).await {
            Ok(()) => self.get_stock(sku).await,
            Err(refusal) => refusal,
        }
    }

    async fn append_to_shelf(
        &self,
        sku: &str,
        quantity: u32,
        causality: &Causality,
        once_key: &str,
    ) -> Result<(), Response<Body>> {
        let stream_id = sku_stream(sku);
        for _ in 0..APPEND_ATTEMPTS {
            let loaded = load_shelf(&self.store, sku)
                .await
                .map_err(|error| unavailable("the stock could not be read", &error))?;
            let added = loaded.shelf.add(sku, quantity).map_err(|room| {
                let error = format!("quantity: {sku} can take at most {room} more units (on hand and held)");
                json_response(StatusCode::BAD_REQUEST, json!({ "error": error, "field": "quantity" }))
            })?;
            let event = added.into_new_event(causality.clone(), toolkit::clock::now());
            match self.store.append_once(&stream_id, loaded.version, vec![event], once_key).await {
                Ok(_) => return Ok(()),
                Err(StoreError::AlreadyApplied { .. }) => {
                    tracing::info!(sku, "stock already added by an earlier attempt of this request");
                    return Ok(());
                }
                Err(StoreError::Conflict { .. }) => {}
                Err(error) => return Err(unavailable("the stock could not be stored", &error)),
            }
        }
        let error = format!("stock of {sku} kept changing; retry");
        Err(json_response(StatusCode::CONFLICT, json!({ "error": error })))
    }

    pub(super) async fn get_stock(&self, sku: &str) -> Response<Body> {
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
}

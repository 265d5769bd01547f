//! Stock: adding units to a SKU's shelf, reading the shelf.

use super::http::{json_response, unavailable};
use super::{APPEND_ATTEMPTS, Api, Call};
use crate::handlers::steps::{LoadedShelf, load_shelf};
use domain::inventory::{StockAdded, sku_stream};
use domain::{EventCodec, InventoryEvent};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;
use std::convert::Infallible;
use toolkit::envelope::Causality;
use toolkit::idempotency::IdempotencyStore;
use toolkit::store::{DecideError, Decision, EventStore, decide_and_append};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AddStock {
    quantity: u32,
}

impl<S: EventStore, V, A, N, I: IdempotencyStore, R, P, G> Api<S, V, A, N, I, R, P, G> {
    pub(super) async fn add_stock(&self, call: &Call<'_>, sku: &str) -> Response<Body> {
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
        let causality = call.causality();
        let added = InventoryEvent::StockAdded(StockAdded { sku: sku.to_string(), quantity });
        match self.at_most_once(call, || self.append_to_shelf(sku, added, causality)).await {
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

//! Orders: placing one (`POST /orders`), reading one, a customer's, an order's notifications.

use super::http::{MAX_BODY_BYTES, bad_request, idempotency_key_of, json_response, shown, unavailable};
use super::{Api, Call, admission::Caller};
use crate::notify::NotificationLog;
use crate::views::{Cursor, OrderView, OrderViews};
use domain::{EventCodec, Order, OrderEvent, OrderId, PlaceOrder, check_identifier};
use lambda_http::http::StatusCode;
use lambda_http::{Body, RequestExt, Response};
use serde_json::json;
use toolkit::admission::BacklogGauge;
use toolkit::envelope::Causality;
use toolkit::idempotency::IdempotencyStore;
use toolkit::store::{EventStore, StoreError};

/// The most orders `GET /customers/{customerId}/orders` answers with.
const CUSTOMER_ORDERS_LIMIT: u32 = 50;

impl<S, V, A, N, I, R, P, G> Api<S, V, A, N, I, R, P, G>
where
    S: EventStore,
    V: OrderViews,
    N: NotificationLog,
    I: IdempotencyStore,
    G: BacklogGauge,
{
    pub(super) async fn place_order(&self, call: &Call<'_>) -> Response<Body> {
        let (request, caller) = (call.request, call.caller.name.as_str());
        let body = request.body().as_ref();
        if body.len() > MAX_BODY_BYTES {
            let error = format!("body is {} bytes; at most {MAX_BODY_BYTES} are accepted", body.len());
            return json_response(StatusCode::PAYLOAD_TOO_LARGE, json!({ "error": error, "field": "body" }));
        }
        let command = match PlaceOrder::parse(body) {
            Ok(command) => PlaceOrder { placed_by: Some(caller.to_string()), ..command },
            Err(invalid) => return bad_request(&invalid),
        };
        let causality = call.causality();
        // With an Idempotency-Key the order's id comes from the key: if the first attempt
        // stored the order but not its answer, the repeat finds that order instead of
        // placing a second one.
        let order_id = match idempotency_key_of(request) {
            Ok(Some(key)) => OrderId::for_idempotency_key(&format!("{caller}#{key}")),
            _ => OrderId::generate(), // no key; a bad one is refused by `at_most_once`
        };
        // A repeat of an accepted order gets its answer even while new ones are refused.
        let placed = self
            .at_most_once(call, || async {
                self.shed_load().await?;
                self.append_new_order(order_id, command, causality).await
            })
            .await;
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
        let placed = Order::place(order_id, command);
        let event = placed.clone().into_new_event(causality, toolkit::clock::now());
        match self.store.append(&order_id.stream_id(), 0, vec![event]).await {
            Ok(_) => {
                tracing::info!(%order_id, "order placed");
                Ok(order_id)
            }
            Err(StoreError::Conflict { .. }) => self.placed_before(order_id, &placed).await,
            Err(StoreError::TooLarge(over)) => {
                let error = format!("the order is too large to carry: {over}");
                Err(json_response(StatusCode::PAYLOAD_TOO_LARGE, json!({ "error": error, "field": "body" })))
            }
            Err(error) => Err(unavailable("the order could not be stored", &error)),
        }
    }

    /// The order this Idempotency-Key already placed: the same order again is its repeat; any
    /// other is a key reused with another request, refused however long ago the first was
    /// (its idempotency record may have expired, the order it placed has not).
    async fn placed_before(&self, order_id: OrderId, placed: &OrderEvent) -> Result<OrderId, Response<Body>> {
        let events = match self.store.load(&order_id.stream_id(), 0).await {
            Ok(events) => events,
            Err(error) => return Err(unavailable("the order could not be read", &error)),
        };
        // Read at today's version (upcast), so an order placed before an upgrade still matches.
        if let Some(Ok(stored)) = events.first().map(OrderEvent::from_envelope)
            && stored == *placed
        {
            tracing::info!(%order_id, "order already placed by an earlier attempt with this Idempotency-Key");
            return Ok(order_id);
        }
        let error = format!("this Idempotency-Key already placed order {order_id} with another request");
        Err(json_response(StatusCode::UNPROCESSABLE_ENTITY, json!({ "error": error, "field": "Idempotency-Key" })))
    }

    pub(super) async fn order_notifications(&self, caller: &Caller, order_id: &str) -> Response<Body> {
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

    /// The customer's orders that this caller placed (every key's, for an admin key),
    /// newest first, a page at a time: `nextCursor` asks for the next (`?cursor=`).
    pub(super) async fn customer_orders(&self, call: &Call<'_>, customer_id: &str) -> Response<Body> {
        if let Err(invalid) = check_identifier("customerId", customer_id) {
            return bad_request(&invalid);
        }
        let parameters = call.request.query_string_parameters_ref().cloned().unwrap_or_default();
        let cursor = match parameters.first("cursor").map(|text| (text, Cursor::parse(text))) {
            None => None,
            Some((_, Some(cursor))) => Some(cursor),
            Some((text, None)) => {
                let error = format!("cursor: `{}` is not a cursor this API gave (nextCursor)", shown(text));
                return json_response(StatusCode::BAD_REQUEST, json!({ "error": error, "field": "cursor" }));
            }
        };
        let caller = &call.caller;
        let owner = (!caller.admin).then_some(caller.name.as_str());
        match self.views.by_customer(owner, customer_id, CUSTOMER_ORDERS_LIMIT, cursor.as_ref()).await {
            Ok(page) => {
                let next = page.next.map(|cursor| cursor.to_string());
                json_response(
                    StatusCode::OK,
                    json!({ "customerId": customer_id, "orders": page.orders, "nextCursor": next }),
                )
            }
            Err(error) => unavailable("the customer's orders could not be read", &error),
        }
    }

    pub(super) async fn get_order(&self, caller: &Caller, order_id: &str) -> Response<Body> {
        match self.owned_order(caller, order_id).await {
            Ok(view) => json_response(StatusCode::OK, json!(view)),
            Err(refusal) => refusal,
        }
    }

    /// The order's view if the caller may read it. Another key's order is a 404, as an
    /// unknown one is: its existence is not the caller's business either.
    pub(super) async fn owned_order(&self, caller: &Caller, order_id: &str) -> Result<OrderView, Response<Body>> {
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

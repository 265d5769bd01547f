//! What analytics counts, decided from the order's history: how many orders are in each
//! status, and the sales of each product per minute.

use super::OrderEvent;
use super::order::{Order, OrderStatus};
use serde::{Deserialize, Serialize};

/// The units and revenue of one product in one minute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sale {
    /// `YYYY-MM-DDTHH:MM` in UTC.
    pub minute: String,
    pub sku: String,
    /// Negative when sales are taken back (a voided authorization).
    pub units: i64,
    pub revenue_minor: i64,
    pub currency: String,
}

/// The counts one event changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// (status, +1 or -1) for the status the order left and the one it entered.
    pub status_deltas: Vec<(OrderStatus, i64)>,
    pub sales: Vec<Sale>,
}

/// The tally of `event`, given the order before it (`None` for `OrderPlaced`) and after.
/// A sale is counted when the payment is authorized, and taken back (negative units and
/// revenue, in the minute of the void) when that authorization is voided.
pub fn tally(before: Option<&Order>, after: &Order, event: &OrderEvent, at: chrono::DateTime<chrono::Utc>) -> Tally {
    let mut tally = Tally::default();
    let previous = before.map(|o| o.status);
    if previous != Some(after.status) {
        if let Some(previous) = previous {
            tally.status_deltas.push((previous, -1));
        }
        tally.status_deltas.push((after.status, 1));
    }
    match event {
        OrderEvent::PaymentAuthorized(_) => tally.sales = sales_of(after, at, 1),
        // Only an authorization the order recorded was counted: one the provider gave
        // but the order never heard of is voided without a sale to take back.
        OrderEvent::PaymentVoided(_) if before.is_some_and(|o| o.authorization.is_some()) => {
            tally.sales = sales_of(after, at, -1);
        }
        _ => {}
    }
    tally
}

/// One sale per SKU and currency of `order`'s lines, `sign` times (+1 sold, -1 taken back):
/// lines of the same SKU add up (a counter item is written once per transaction), and
/// amounts in different currencies never do.
fn sales_of(order: &Order, at: chrono::DateTime<chrono::Utc>, sign: i64) -> Vec<Sale> {
    let minute = at.format("%Y-%m-%dT%H:%M").to_string();
    let mut sales: std::collections::BTreeMap<(String, String), Sale> = std::collections::BTreeMap::new();
    for line in &order.lines {
        let currency = line.unit_price.currency.to_string();
        let sale = sales.entry((line.sku.clone(), currency.clone())).or_insert_with(|| Sale {
            minute: minute.clone(),
            sku: line.sku.clone(),
            units: 0,
            revenue_minor: 0,
            currency,
        });
        sale.units += sign * i64::from(line.quantity);
        let revenue = line.unit_price.amount_minor.saturating_mul(i64::from(line.quantity));
        sale.revenue_minor = sale.revenue_minor.saturating_add(sign.saturating_mul(revenue));
    }
    sales.into_values().collect()
}

pub fn status_name(status: OrderStatus) -> String {
    format!("{status:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{OrderLine, OrderPlaced};
    use crate::saga::PaymentAuthorized;
    use crate::{Currency, Money, OrderId, OrderValidated};

    fn money(amount_minor: i64) -> Money {
        Money { amount_minor, currency: Currency::try_from("EUR".to_string()).unwrap() }
    }

    fn placed(id: OrderId) -> OrderEvent {
        let line = OrderLine { sku: "A".into(), quantity: 3, unit_price: money(250) };
        OrderEvent::OrderPlaced(OrderPlaced {
            order_id: id,
            customer_id: "c".into(),
            placed_by: None,
            lines: vec![line],
            total: money(750),
            item_count: Some(3),
            shipping_country: None,
            billing_country: None,
            notify: None,
        })
    }

    #[test]
    fn a_new_order_counts_as_placed() {
        let id = OrderId::generate();
        let after = Order::replay(&[placed(id)]).unwrap().unwrap();
        let tally = tally(None, &after, &placed(id), chrono::Utc::now());
        assert_eq!(tally.status_deltas, vec![(OrderStatus::Placed, 1)]);
    }

    #[test]
    fn a_status_change_moves_one_order_from_one_count_to_another() {
        let id = OrderId::generate();
        let validated = OrderEvent::OrderValidated(OrderValidated { order_id: id });
        let before = Order::replay(&[placed(id)]).unwrap().unwrap();
        let after = Order::apply(Some(before.clone()), &validated).unwrap();
        let tally = tally(Some(&before), &after, &validated, chrono::Utc::now());
        assert_eq!(tally.status_deltas, vec![(OrderStatus::Placed, -1), (OrderStatus::Validated, 1)]);
        assert!(tally.sales.is_empty());
    }

    #[test]
    fn an_authorized_payment_is_a_sale_of_each_line_in_its_minute() {
        let id = OrderId::generate();
        let mut order = Order::replay(&[placed(id)]).unwrap().unwrap();
        order.status = OrderStatus::Reserved;
        let paid = OrderEvent::PaymentAuthorized(PaymentAuthorized {
            order_id: id,
            authorization_id: "a".into(),
            amount: money(750),
        });
        let after = Order::apply(Some(order.clone()), &paid).unwrap();
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-22T10:15:42Z").unwrap().with_timezone(&chrono::Utc);
        let sales = tally(Some(&order), &after, &paid, at).sales;
        assert_eq!(
            sales,
            vec![Sale {
                minute: "2026-11-22T10:15".into(),
                sku: "A".into(),
                units: 3,
                revenue_minor: 750,
                currency: "EUR".into()
            }]
        );
    }

    #[test]
    fn a_voided_authorization_takes_its_sale_back_and_an_unrecorded_one_takes_nothing() {
        let id = OrderId::generate();
        let mut order = Order::replay(&[placed(id)]).unwrap().unwrap();
        order.status = OrderStatus::TimedOut;
        let void = OrderEvent::PaymentVoided(crate::saga::PaymentVoided { order_id: id, authorization_id: "a".into() });
        let at = chrono::Utc::now();
        let unrecorded = Order::apply(Some(order.clone()), &void).unwrap();
        assert!(tally(Some(&order), &unrecorded, &void, at).sales.is_empty(), "no sale was counted for it");
        order.authorization = Some("a".into());
        let voided = Order::apply(Some(order.clone()), &void).unwrap();
        let taken_back = tally(Some(&order), &voided, &void, at).sales;
        assert_eq!((taken_back[0].units, taken_back[0].revenue_minor), (-3, -750));
    }
}

//! Properties that must hold for every input, not just the samples: parsing never
//! panics and names what is wrong; decisions keep their invariants.

use domain::inventory::StockAdded;
use domain::{InventoryEvent, OrderId, PlaceOrder, Shelf};
use proptest::prelude::*;
use toolkit::envelope::EventEnvelope;

/// Arbitrary JSON, a few levels deep.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-zA-Z]{1,10}", inner, 0..5)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

fn sample_envelope() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/domain/order-placed.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

proptest! {
    #[test]
    fn any_bytes_as_an_order_body_are_accepted_or_refused_naming_a_field(body in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Err(invalid) = PlaceOrder::parse(&body) {
            prop_assert!(!invalid.field.is_empty());
        }
    }

    #[test]
    fn any_json_as_an_order_body_is_accepted_or_refused_naming_a_field(value in json()) {
        if let Err(invalid) = PlaceOrder::parse(value.to_string().as_bytes()) {
            prop_assert!(!invalid.field.is_empty());
        }
    }

    #[test]
    fn a_valid_order_body_is_accepted_with_the_total_of_its_lines(
        lines in prop::collection::vec(("[A-Z]{1,8}-[0-9]{1,4}", 1u32..1_000, 0i64..1_000_000), 1..20)
    ) {
        let body = serde_json::json!({
            "customerId": "c-1",
            "currency": "EUR",
            "lines": lines.iter().map(|(sku, quantity, price)| serde_json::json!({
                "sku": sku, "quantity": quantity, "unitPriceMinor": price
            })).collect::<Vec<_>>()
        });
        let expected: i64 = lines.iter().map(|(_, quantity, price)| i64::from(*quantity) * price).sum();
        match PlaceOrder::parse(body.to_string().as_bytes()) {
            Ok(command) => prop_assert_eq!(command.total.amount_minor, expected),
            // Nothing to charge, nothing to ship: refused at the door.
            Err(invalid) => prop_assert!(expected == 0 && invalid.field == "lines", "{invalid}"),
        }
    }

    #[test]
    fn any_json_is_an_envelope_or_an_error_never_a_panic(value in json()) {
        let _ = serde_json::from_value::<EventEnvelope>(value);
    }

    #[test]
    fn an_envelope_with_any_field_replaced_by_junk_is_refused_or_round_trips(field in 0usize..9, junk in json()) {
        let mut value = sample_envelope();
        let key = value.as_object().unwrap().keys().nth(field).unwrap().clone();
        value[&key] = junk;
        if let Ok(envelope) = serde_json::from_value::<EventEnvelope>(value) {
            let again: EventEnvelope = serde_json::from_value(serde_json::to_value(&envelope).unwrap()).unwrap();
            prop_assert_eq!(again, envelope);
        }
    }

    #[test]
    fn a_shelf_never_holds_more_than_was_added_and_never_allocates_twice(
        steps in prop::collection::vec((0u8..3, 0usize..4, 1u32..20), 1..60)
    ) {
        let orders: Vec<OrderId> = (0..4).map(|_| OrderId::generate()).collect();
        let mut events: Vec<InventoryEvent> = Vec::new();
        let mut added = 0u32;
        for (action, order, quantity) in steps {
            let shelf = Shelf::replay(&events);
            let decided = match action {
                0 => {
                    added += quantity;
                    Some(InventoryEvent::StockAdded(StockAdded { sku: "A".into(), quantity }))
                }
                1 => match shelf.allocate("A", orders[order], quantity) {
                    Ok(event) => event,
                    Err(available) => {
                        prop_assert!(available < quantity && available == shelf.on_hand);
                        None
                    }
                },
                _ => shelf.deallocate("A", orders[order]),
            };
            if let (1, Some(_)) = (action, &decided) {
                let after: Vec<_> = events.iter().cloned().chain(decided.clone()).collect();
                prop_assert_eq!(Shelf::replay(&after).allocate("A", orders[order], quantity), Ok(None), "no second hold");
            }
            events.extend(decided);
            let shelf = Shelf::replay(&events);
            prop_assert_eq!(shelf.on_hand + shelf.held.values().sum::<u32>(), added, "units are conserved");
        }
    }
}

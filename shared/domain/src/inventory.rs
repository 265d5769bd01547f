//! Stock per SKU, event-sourced: each SKU is its own stream (`sku-<SKU>`). Reservations
//! are appended with the stream's expected version, so two orders can never both take
//! the last unit: one of them meets a conflict, reloads, and sees the shelf empty.
//!
//! A hold ends one of two ways: given back (`StockDeallocated`) or shipped
//! (`StockCommitted`), so a shelf holds only for orders still open, and its state stays
//! small however long its history. Every so often the shelf's whole state is written into
//! the stream (`ShelfSnapshot`), so that loading a shelf reads its last few events, not
//! its history.

use super::order::OrderId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use toolkit::envelope::StreamId;

pub const SKU_STREAM_PREFIX: &str = "sku-";

pub fn sku_stream(sku: &str) -> StreamId {
    StreamId::new(format!("{SKU_STREAM_PREFIX}{sku}"))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StockAdded {
    pub sku: String,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StockAllocated {
    pub sku: String,
    pub order_id: OrderId,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StockDeallocated {
    pub sku: String,
    pub order_id: OrderId,
    pub quantity: u32,
}

/// The units an order held left the shelf with its shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StockCommitted {
    pub sku: String,
    pub order_id: OrderId,
    pub quantity: u32,
}

/// Units held for one order, in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Hold {
    pub order_id: OrderId,
    pub quantity: u32,
}

/// The whole state of a shelf after the events before it: loading starts here. Not a
/// fact of the domain, so never published to the bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShelfSnapshot {
    pub sku: String,
    pub on_hand: u32,
    pub holds: Vec<Hold>,
    pub shipped: u64,
}

/// Every event of a SKU stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "eventType", content = "payload")]
pub enum InventoryEvent {
    StockAdded(StockAdded),
    StockAllocated(StockAllocated),
    StockDeallocated(StockDeallocated),
    StockCommitted(StockCommitted),
    ShelfSnapshot(ShelfSnapshot),
}

impl super::codec::EventCodec for InventoryEvent {
    const VERSIONS: &'static [(&'static str, u32)] = &[
        ("StockAdded", 1),
        ("StockAllocated", 1),
        ("StockDeallocated", 1),
        ("StockCommitted", 1),
        ("ShelfSnapshot", 1),
    ];

    fn event_type(&self) -> &'static str {
        match self {
            InventoryEvent::StockAdded(_) => "StockAdded",
            InventoryEvent::StockAllocated(_) => "StockAllocated",
            InventoryEvent::StockDeallocated(_) => "StockDeallocated",
            InventoryEvent::StockCommitted(_) => "StockCommitted",
            InventoryEvent::ShelfSnapshot(_) => "ShelfSnapshot",
        }
    }
}

/// The event type of a shelf's snapshot (the relay does not publish it).
pub const SNAPSHOT_EVENT: &str = "ShelfSnapshot";

/// One SKU's shelf, rebuilt from its stream (or from its last snapshot on).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shelf {
    pub on_hand: u32,
    /// Units held per order (an order appears while it holds stock).
    pub held: BTreeMap<OrderId, u32>,
    /// Units that left with shipments: on hand + held + shipped = every unit added.
    pub shipped: u64,
}

impl Shelf {
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a InventoryEvent>) -> Shelf {
        events.into_iter().fold(Shelf::default(), Shelf::apply)
    }

    pub fn apply(mut self, event: &InventoryEvent) -> Shelf {
        match event {
            InventoryEvent::StockAdded(e) => self.on_hand = self.on_hand.saturating_add(e.quantity),
            InventoryEvent::StockAllocated(e) => {
                self.on_hand = self.on_hand.saturating_sub(e.quantity);
                *self.held.entry(e.order_id).or_default() += e.quantity;
            }
            InventoryEvent::StockDeallocated(e) => {
                self.on_hand = self.on_hand.saturating_add(e.quantity);
                self.held.remove(&e.order_id);
            }
            InventoryEvent::StockCommitted(e) => {
                self.held.remove(&e.order_id);
                self.shipped = self.shipped.saturating_add(u64::from(e.quantity));
            }
            InventoryEvent::ShelfSnapshot(snapshot) => {
                return Shelf {
                    on_hand: snapshot.on_hand,
                    held: snapshot.holds.iter().map(|h| (h.order_id, h.quantity)).collect(),
                    shipped: snapshot.shipped,
                };
            }
        }
        self
    }

    /// The shelf's state as a snapshot event.
    pub fn snapshot(&self, sku: &str) -> InventoryEvent {
        InventoryEvent::ShelfSnapshot(ShelfSnapshot {
            sku: sku.to_string(),
            on_hand: self.on_hand,
            holds: self
                .held
                .iter()
                .map(|(order_id, quantity)| Hold { order_id: *order_id, quantity: *quantity })
                .collect(),
            shipped: self.shipped,
        })
    }

    /// What to append to add `quantity` units; `Err(room)` when the shelf would then count
    /// more than `u32::MAX` units on hand and held (the most it can ever give back at once).
    pub fn add(&self, sku: &str, quantity: u32) -> Result<InventoryEvent, u32> {
        let counted = u64::from(self.on_hand) + self.held.values().map(|q| u64::from(*q)).sum::<u64>();
        let room = u32::try_from(u64::from(u32::MAX).saturating_sub(counted)).unwrap_or(0);
        if quantity > room {
            return Err(room);
        }
        Ok(InventoryEvent::StockAdded(StockAdded { sku: sku.to_string(), quantity }))
    }

    /// What to append when `order_id`'s units leave with its shipment: nothing if it holds none.
    pub fn commit(&self, sku: &str, order_id: OrderId) -> Option<InventoryEvent> {
        let quantity = *self.held.get(&order_id)?;
        Some(InventoryEvent::StockCommitted(StockCommitted { sku: sku.to_string(), order_id, quantity }))
    }

    /// What to append to hold `quantity` for `order_id`: nothing if it already holds it,
    /// `Err(available)` when the shelf is short.
    pub fn allocate(&self, sku: &str, order_id: OrderId, quantity: u32) -> Result<Option<InventoryEvent>, u32> {
        if self.held.contains_key(&order_id) {
            return Ok(None);
        }
        if self.on_hand < quantity {
            return Err(self.on_hand);
        }
        Ok(Some(InventoryEvent::StockAllocated(StockAllocated { sku: sku.to_string(), order_id, quantity })))
    }

    /// What to append to give back what `order_id` holds: nothing if it holds nothing.
    pub fn deallocate(&self, sku: &str, order_id: OrderId) -> Option<InventoryEvent> {
        let quantity = *self.held.get(&order_id)?;
        Some(InventoryEvent::StockDeallocated(StockDeallocated { sku: sku.to_string(), order_id, quantity }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn added(quantity: u32) -> InventoryEvent {
        InventoryEvent::StockAdded(StockAdded { sku: "A".into(), quantity })
    }

    #[test]
    fn it_allocates_while_stock_lasts_and_reports_what_is_left_when_short() {
        let order = OrderId::generate();
        let shelf = Shelf::replay(&[added(3)]);
        assert!(matches!(shelf.allocate("A", order, 3), Ok(Some(_))));
        assert_eq!(shelf.allocate("A", order, 4), Err(3));
    }

    #[test]
    fn it_adds_only_while_the_units_on_hand_and_held_stay_countable() {
        let order = OrderId::generate();
        let held = InventoryEvent::StockAllocated(StockAllocated { sku: "A".into(), order_id: order, quantity: 5 });
        let shelf = Shelf::replay(&[added(u32::MAX - 10), held]);
        assert_eq!(shelf.add("A", 11), Err(10), "5 on hand would come back with the 5 held");
        assert_eq!(shelf.add("A", 10), Ok(added(10)));
        assert_eq!(Shelf::default().add("A", u32::MAX), Ok(added(u32::MAX)));
    }

    #[test]
    fn it_allocates_once_per_order() {
        let order = OrderId::generate();
        let allocated =
            InventoryEvent::StockAllocated(StockAllocated { sku: "A".into(), order_id: order, quantity: 2 });
        let shelf = Shelf::replay(&[added(3), allocated]);
        assert_eq!(shelf.on_hand, 1);
        assert_eq!(shelf.allocate("A", order, 2), Ok(None));
    }

    #[test]
    fn a_shipment_commits_the_hold_and_a_snapshot_restores_the_whole_shelf() {
        let order = OrderId::generate();
        let allocated =
            InventoryEvent::StockAllocated(StockAllocated { sku: "A".into(), order_id: order, quantity: 2 });
        let shelf = Shelf::replay(&[added(5), allocated]);
        let committed = shelf.commit("A", order).expect("a commit");
        let after = shelf.clone().apply(&committed);
        assert_eq!((after.on_hand, after.held.len(), after.shipped), (3, 0, 2));
        assert_eq!(after.commit("A", order), None, "once");
        assert_eq!(Shelf::replay(&[added(99), after.snapshot("A")]), after, "a snapshot replaces what came before");
    }

    #[test]
    fn it_gives_back_exactly_what_an_order_held_once() {
        let order = OrderId::generate();
        let allocated =
            InventoryEvent::StockAllocated(StockAllocated { sku: "A".into(), order_id: order, quantity: 2 });
        let shelf = Shelf::replay(&[added(3), allocated]);
        let released = shelf.deallocate("A", order).expect("a release");
        let after = Shelf::replay(&[
            added(3),
            InventoryEvent::StockAllocated(StockAllocated { sku: "A".into(), order_id: order, quantity: 2 }),
            released,
        ]);
        assert_eq!(after.on_hand, 3);
        assert_eq!(after.deallocate("A", order), None);
    }
}

use super::{Cursor, CustomerPage, OrderView, OrderViews, ViewError};
use domain::OrderId;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Order views in memory, with the same optimistic check as DynamoDB: for tests.
#[derive(Default)]
pub struct InMemoryOrderViews {
    views: Mutex<BTreeMap<OrderId, OrderView>>,
}

impl OrderViews for InMemoryOrderViews {
    async fn get(&self, order_id: OrderId) -> Result<Option<OrderView>, ViewError> {
        Ok(self.views.lock().expect("views lock").get(&order_id).cloned())
    }

    async fn get_many(&self, order_ids: &[OrderId]) -> Result<HashMap<OrderId, OrderView>, ViewError> {
        let views = self.views.lock().expect("views lock");
        Ok(order_ids.iter().filter_map(|id| Some((*id, views.get(id)?.clone()))).collect())
    }

    async fn count_by_customer_since(
        &self,
        owner: &str,
        customer_id: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<u32, ViewError> {
        let views = self.views.lock().expect("views lock");
        let counted = |v: &&OrderView| {
            v.customer_id == customer_id
                && v.placed_by.as_deref().unwrap_or_default() == owner
                && v.placed_at >= since
                && passed_validation(v.status)
        };
        Ok(u32::try_from(views.values().filter(counted).count()).unwrap_or(u32::MAX))
    }

    async fn by_customer(
        &self,
        owner: Option<&str>,
        customer_id: &str,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<CustomerPage, ViewError> {
        let views = self.views.lock().expect("views lock");
        let mut found: Vec<OrderView> = views
            .values()
            .filter(|v| v.customer_id == customer_id)
            .filter(|v| owner.is_none_or(|owner| v.placed_by.as_deref().unwrap_or_default() == owner))
            .filter(|v| cursor.is_none_or(|c| Cursor::after(v) < *c))
            .cloned()
            .collect();
        // Newest first, as the index reads backwards.
        found.sort_by_key(|v| std::cmp::Reverse(Cursor::after(v)));
        let more = found.len() > limit as usize;
        found.truncate(limit as usize);
        let next = found.last().filter(|_| more).map(Cursor::after);
        Ok(CustomerPage { orders: found, next })
    }

    async fn in_status_since_before(
        &self,
        status: domain::OrderStatus,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<OrderId>, ViewError> {
        let views = self.views.lock().expect("views lock");
        Ok(views.values().filter(|v| v.status == status && v.updated_at < before).map(|v| v.order_id).collect())
    }

    async fn save(&self, view: &OrderView, expected_version: u64) -> Result<(), ViewError> {
        let mut views = self.views.lock().expect("views lock");
        let stored_version = views.get(&view.order_id).map_or(0, |v| v.version);
        if stored_version != expected_version {
            return Err(ViewError::Stale { order_id: view.order_id, expected_version });
        }
        views.insert(view.order_id, view.clone());
        Ok(())
    }
}

/// Orders that passed validation count for velocity; rejected ones (anyone can place them
/// under any customer id) do not.
fn passed_validation(status: domain::OrderStatus) -> bool {
    !matches!(status, domain::OrderStatus::Placed | domain::OrderStatus::Rejected)
}

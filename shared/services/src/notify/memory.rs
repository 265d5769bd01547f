use super::{NotificationLog, NotificationLogError};
use domain::OrderId;
use domain::notifications::Notification;
use std::sync::Mutex;

#[derive(Default)]
pub struct InMemoryNotificationLog {
    notifications: Mutex<Vec<Notification>>,
}

impl NotificationLog for InMemoryNotificationLog {
    async fn record(&self, notification: &Notification) -> Result<bool, NotificationLogError> {
        let mut all = self.notifications.lock().expect("log lock");
        let seen = all.iter().any(|n| {
            n.order_id == notification.order_id
                && n.channel == notification.channel
                && n.event_id == notification.event_id
        });
        if !seen {
            all.push(notification.clone());
        }
        Ok(!seen)
    }

    async fn for_order(&self, order_id: OrderId) -> Result<Vec<Notification>, NotificationLogError> {
        Ok(self.notifications.lock().expect("log lock").iter().filter(|n| n.order_id == order_id).cloned().collect())
    }
}

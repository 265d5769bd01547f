//! `order-validator`: `OrderPlaced` → `OrderValidated` or `OrderRejected`.

use super::step_runner::{OrderSaga, Step};
use domain::{Order, OrderEvent, ValidationPolicy};
use toolkit::batch::RecordError;
use toolkit::envelope::EventEnvelope;
use toolkit::invocation::Invocation;

pub const CONSUMER: &str = "order-validator";

/// The validation step: the order's limits, as configured.
pub struct Validation(pub ValidationPolicy);

impl Step for Validation {
    const CONSUMER: &'static str = CONSUMER;
    const TRIGGERS: &'static [&'static str] = &["OrderPlaced"];

    async fn decide(
        &self,
        order: &Order,
        _trigger: &EventEnvelope,
        _invocation: &Invocation,
    ) -> Result<Option<OrderEvent>, RecordError> {
        Ok(order.validate(&self.0))
    }
}

pub type OrderValidator<S, D> = OrderSaga<S, D, Validation>;

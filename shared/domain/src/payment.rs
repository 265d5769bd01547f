//! The payment provider port: charges and voids. Each call carries an idempotency key, as
//! real providers take one (Stripe's `Idempotency-Key`, Adyen's `idempotencyKey`): a repeat
//! with the same key is answered from the provider's record instead of charging again, so
//! a crash between the provider's answer and our record of it cannot charge twice.

use crate::saga::{PaymentOutcome, payment_outcome};
use crate::{Order, OrderId};
use std::future::Future;
use std::sync::Arc;
use thiserror::Error;
use toolkit::error::Outage;

#[derive(Debug, Error)]
#[error("payment provider unavailable: {0}")]
pub struct ProviderError(#[source] pub Outage);

pub trait PaymentProvider: Send + Sync {
    /// Charges the order's total; the same `key` always gets the first answer.
    fn charge(&self, key: &str, order: &Order) -> impl Future<Output = Result<PaymentOutcome, ProviderError>> + Send;

    /// The answer the provider gave to the charge made under `key`, if one was made, from
    /// the provider's own books (a lookup by the key or by metadata it carries): callers
    /// ask when their own record of the charge is gone or was never written, so an adapter
    /// must never answer `None` for a charge it cannot rule out.
    fn charged(&self, key: &str) -> impl Future<Output = Result<Option<PaymentOutcome>, ProviderError>> + Send;

    /// Voids an authorization; voiding it again changes nothing.
    fn void(
        &self,
        key: &str,
        order_id: OrderId,
        authorization_id: &str,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send;
}

impl<T: PaymentProvider> PaymentProvider for Arc<T> {
    fn charge(&self, key: &str, order: &Order) -> impl Future<Output = Result<PaymentOutcome, ProviderError>> + Send {
        (**self).charge(key, order)
    }

    fn charged(&self, key: &str) -> impl Future<Output = Result<Option<PaymentOutcome>, ProviderError>> + Send {
        (**self).charged(key)
    }

    fn void(
        &self,
        key: &str,
        order_id: OrderId,
        authorization_id: &str,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send {
        (**self).void(key, order_id, authorization_id)
    }
}

/// The provider this project ships with: deterministic test-card rules
/// ([`payment_outcome`]), so scenarios choose their outcome. A real provider is another
/// implementation of [`PaymentProvider`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SimulatedProvider;

impl PaymentProvider for SimulatedProvider {
    async fn charge(&self, _key: &str, order: &Order) -> Result<PaymentOutcome, ProviderError> {
        Ok(payment_outcome(order))
    }

    /// The rules keep no books: a key's answer is only known from our own record of it, so
    /// a charge whose answer was never recorded is reported as not made.
    async fn charged(&self, _key: &str) -> Result<Option<PaymentOutcome>, ProviderError> {
        Ok(None)
    }

    async fn void(&self, _key: &str, _order_id: OrderId, _authorization_id: &str) -> Result<(), ProviderError> {
        Ok(())
    }
}

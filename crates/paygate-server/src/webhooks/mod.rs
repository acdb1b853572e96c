//! Webhooks (docs/api.md section 10): endpoint management, the egress guard, and
//! the delivery worker that turns outbox events into signed, retried HTTP
//! deliveries.

pub mod db;
pub mod deliveries;
pub mod delivery_state;
pub mod egress;
pub mod endpoints;
pub mod outcomes;
pub mod schedule;
pub mod send;
pub mod worker;

use std::sync::Arc;

use tokio::sync::Notify;

use egress::{Resolve, ResolverSlot};

/// What the API and the worker share: the resolver in use and a way to wake
/// the worker when new work is waiting.
#[derive(Clone, Default)]
pub struct Webhooks {
    resolver: ResolverSlot,
    wake: Arc<Notify>,
}

impl Webhooks {
    /// Replaces the DNS resolver (tests make names resolve where they want).
    pub fn set_resolver(&self, resolver: Arc<dyn Resolve>) {
        self.resolver.set(resolver);
    }

    pub fn resolver(&self) -> &ResolverSlot {
        &self.resolver
    }

    /// Tells the worker to look for work now rather than at its next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn woken(&self) -> &Notify {
        &self.wake
    }
}

/// The context a webhook secret is sealed under: bound to its endpoint.
pub fn secret_context(endpoint_id: &str) -> String {
    format!("webhook_secret:{endpoint_id}")
}

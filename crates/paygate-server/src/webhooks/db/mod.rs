//! Webhook persistence: endpoints, deliveries and attempts. Every query is
//! written once with `$N` placeholders for both backends, and every query a
//! handler makes is filtered by merchant and environment.
//!
//! - [`endpoints`]: the endpoints a merchant manages;
//! - [`queue`]: the worker's side, planning deliveries from the outbox and
//!   claiming those due under a lease;
//! - [`log`]: the delivery log an endpoint's owner reads.

mod endpoints;
mod log;
mod queue;

pub use endpoints::*;
pub use log::*;
pub use queue::*;

use crate::store::page::{Page, SortValue};
use crate::store::StoreError;

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

/// `AND (created_at, id) after the cursor` for the table aliased `table`,
/// with its binds numbered from `first`.
fn keyset_clause(page: &Page, table: &str, first: usize) -> (String, Option<(i64, String)>) {
    match &page.after {
        Some(cursor) => {
            let value = match &cursor.value {
                SortValue::Int(v) => *v,
                SortValue::Text(_) => 0,
            };
            let op = page.order.after_operator();
            let (a, b) = (first, first + 1);
            (
                format!("AND ({table}.created_at {op} ${a} OR ({table}.created_at = ${a} AND {table}.id {op} ${b}))"),
                Some((value, cursor.id.clone())),
            )
        }
        None => (String::new(), None),
    }
}

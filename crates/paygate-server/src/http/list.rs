//! List parameters and replies (docs/api.md section 7): `limit` (default 20, more
//! than 100 served as 100), opaque `cursor`, `sortBy` from an allowlist with a
//! fallback to `createdAt`, `order` (`desc` by default).
//!
//! This module reads them from the query string; what a page is (and the
//! keyset cursor) lives in `store::page`, so the store never imports
//! transport types.

use axum::extract::{FromRequestParts, Query};
use http::request::Parts;
use paygate_proto::ErrorCode;
use serde::Deserialize;

use super::error::ApiError;
pub use crate::store::page::{Cursor, ListReply, Order, Page, SortKey, SortValue, DEFAULT_LIMIT, MAX_LIMIT};

/// The query of every list (section 7); it also describes itself to the
/// OpenAPI document, so list routes name it with `params(ListQuery)`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1 or more (default 20); more than 100 is served as 100.
    #[param(value_type = Option<u64>, minimum = 1)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// `createdAt` (default), `updatedAt`, `amount`, `status` or `confirmedAt`
    /// where the resource has it; anything else falls back to `createdAt`.
    #[serde(rename = "sortBy")]
    sort_by: Option<String>,
    /// `desc` (default) or `asc`.
    #[param(pattern = "^(asc|desc)?$")]
    order: Option<String>,
}

fn parse_page(query: ListQuery) -> Result<Page, ApiError> {
    let limit = match query.limit.as_deref() {
        None => DEFAULT_LIMIT,
        // The document says a 64-bit integer from 1; anything else (an
        // empty `limit=` too, as Stripe answers "Invalid integer") is refused.
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n >= 1 => u32::try_from(n.min(i64::from(MAX_LIMIT))).unwrap_or(MAX_LIMIT),
            _ => {
                return Err(ApiError::field(
                    "limit",
                    "must be a whole number from 1 (more than 100 is served as 100)",
                ))
            }
        },
    };
    let order = match query.order.as_deref() {
        None | Some("") | Some("desc") => Order::Desc,
        Some("asc") => Order::Asc,
        Some(_) => return Err(ApiError::field("order", "must be asc or desc")),
    };
    let sort = SortKey::parse(query.sort_by.as_deref());
    let after = match query.cursor.as_deref() {
        None | Some("") => None,
        Some(text) => {
            let cursor =
                Cursor::decode(text).ok_or_else(|| ApiError::field("cursor", "is not a cursor from this list"))?;
            // A cursor only continues the listing it came from.
            if cursor.sort != sort || cursor.ascending != (order == Order::Asc) {
                return Err(ApiError::field("cursor", "was made for a different sortBy or order"));
            }
            Some(cursor)
        }
    };
    Ok(Page {
        limit,
        sort,
        order,
        after,
    })
}

impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(raw) = Query::<ListQuery>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::new(ErrorCode::BadRequest).with_detail("The query string is not valid."))?;
        parse_page(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(
        limit: Option<&str>,
        sort: Option<&str>,
        order: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Page, ApiError> {
        parse_page(ListQuery {
            limit: limit.map(str::to_owned),
            cursor: cursor.map(str::to_owned),
            sort_by: sort.map(str::to_owned),
            order: order.map(str::to_owned),
        })
    }

    #[test]
    fn defaults_caps_and_fallbacks() {
        let p = page(None, None, None, None).unwrap();
        assert_eq!((p.limit, p.sort, p.order), (20, SortKey::CreatedAt, Order::Desc));
        assert_eq!(page(Some("1000"), None, None, None).unwrap().limit, 100);
        assert_eq!(
            page(None, Some("password"), None, None).unwrap().sort,
            SortKey::CreatedAt
        );
        assert_eq!(
            page(None, Some("amount"), Some("asc"), None).unwrap().sort,
            SortKey::Amount
        );
        assert!(page(Some("0"), None, None, None).is_err());
        assert!(page(Some("x"), None, None, None).is_err());
        assert!(page(Some(""), None, None, None).is_err());
        assert!(page(None, None, Some("up"), None).is_err());
        assert!(page(None, None, None, Some("garbage")).is_err());
    }

    #[test]
    fn cursors_round_trip_and_stay_with_their_listing() {
        let p = page(Some("2"), Some("amount"), None, None).unwrap();
        let reply = p.reply(vec![(5, "a"), (4, "b"), (3, "c")], |r| {
            (SortValue::Int(r.0), r.1.to_owned())
        });
        assert!(reply.has_more);
        assert_eq!(reply.data.len(), 2);
        let cursor = reply.next_cursor.unwrap();
        let next = page(Some("2"), Some("amount"), None, Some(&cursor)).unwrap();
        assert_eq!(next.after.unwrap().value, SortValue::Int(4));
        assert!(page(Some("2"), Some("createdAt"), None, Some(&cursor)).is_err());
    }
}

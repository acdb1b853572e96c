//! List parameters and replies (API.md section 7): `limit` (default 20, more
//! than 100 served as 100), opaque `cursor`, `sortBy` from an allowlist with a
//! fallback to `createdAt`, `order` (`desc` by default).
//!
//! Pagination is keyset-based: the cursor carries the sort value and id of
//! the last row served, so rows inserted between pages neither repeat nor
//! shift the next page. Resources write
//! `WHERE (sort_col, id) < ($n, $m)` (or `>` ascending) with [`Page::after`].

use axum::extract::{FromRequestParts, Query};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::request::Parts;
use paygate_proto::ErrorCode;
use serde::{Deserialize, Serialize};

use super::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortKey {
    #[serde(rename = "createdAt")]
    CreatedAt,
    #[serde(rename = "updatedAt")]
    UpdatedAt,
    #[serde(rename = "amount")]
    Amount,
    #[serde(rename = "status")]
    Status,
    #[serde(rename = "confirmedAt")]
    ConfirmedAt,
}

impl SortKey {
    /// Unknown names fall back to `createdAt`, as the contract says.
    fn parse(value: Option<&str>) -> Self {
        match value {
            Some("updatedAt") => SortKey::UpdatedAt,
            Some("amount") => SortKey::Amount,
            Some("status") => SortKey::Status,
            Some("confirmedAt") => SortKey::ConfirmedAt,
            _ => SortKey::CreatedAt,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Asc,
    Desc,
}

impl Order {
    /// The comparison that moves past the cursor in this order.
    pub fn after_operator(self) -> &'static str {
        match self {
            Order::Asc => ">",
            Order::Desc => "<",
        }
    }

    pub fn sql(self) -> &'static str {
        match self {
            Order::Asc => "ASC",
            Order::Desc => "DESC",
        }
    }
}

/// A sort value as stored in a cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SortValue {
    Int(i64),
    Text(String),
}

/// Where the previous page ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The sort key the cursor was made for; a cursor is only valid with it.
    #[serde(rename = "k")]
    pub sort: SortKey,
    #[serde(rename = "o")]
    pub ascending: bool,
    #[serde(rename = "v")]
    pub value: SortValue,
    #[serde(rename = "i")]
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

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

/// Parsed list parameters.
#[derive(Debug, Clone)]
pub struct Page {
    pub limit: u32,
    pub sort: SortKey,
    pub order: Order,
    pub after: Option<Cursor>,
}

impl Page {
    /// The first page, with the defaults (newest first).
    pub fn first() -> Self {
        Page {
            limit: DEFAULT_LIMIT,
            sort: SortKey::CreatedAt,
            order: Order::Desc,
            after: None,
        }
    }

    /// Rows to fetch: one more than the limit tells whether there are more.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// Restricts `sort` to the keys a resource supports (else `createdAt`).
    pub fn supporting(mut self, supported: &[SortKey]) -> Self {
        if !supported.contains(&self.sort) {
            self.sort = SortKey::CreatedAt;
            if self.after.as_ref().is_some_and(|c| c.sort != SortKey::CreatedAt) {
                self.after = None;
            }
        }
        self
    }

    /// Builds the reply from `limit + 1` fetched rows.
    pub fn reply<T: Serialize>(&self, mut rows: Vec<T>, cursor_of: impl Fn(&T) -> (SortValue, String)) -> ListReply<T> {
        let has_more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        let next_cursor = if has_more {
            rows.last().map(|row| {
                let (value, id) = cursor_of(row);
                Cursor {
                    sort: self.sort,
                    ascending: self.order == Order::Asc,
                    value,
                    id,
                }
                .encode()
            })
        } else {
            None
        };
        ListReply {
            object: "list",
            data: rows,
            has_more,
            next_cursor,
        }
    }
}

/// `{"data": [...], "has_more": bool, "next_cursor": "..." | null}`.
#[derive(Debug, Serialize)]
pub struct ListReply<T> {
    pub object: &'static str,
    pub data: Vec<T>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

fn parse_page(query: ListQuery) -> Result<Page, ApiError> {
    let limit = match query.limit.as_deref() {
        None | Some("") => DEFAULT_LIMIT,
        // The document says a 64-bit integer from 1; anything else is refused.
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

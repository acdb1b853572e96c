//! A page of a list as the store fetches it: limit, sort key, order and
//! the keyset cursor, and the list reply built from the fetched rows.
//!
//! Pagination is keyset-based: the cursor carries the sort value and id of
//! the last row served, so rows inserted between pages neither repeat nor
//! shift the next page. Resources write
//! `WHERE (sort_col, id) < ($n, $m)` (or `>` ascending) with [`Page::after`].
//! Parsing a page from a query string is transport's (`http::list`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

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
    pub(crate) fn parse(value: Option<&str>) -> Self {
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

    pub(crate) fn decode(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
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

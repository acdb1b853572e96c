//! Keyset pages over a merchant's rows: the SQL behind every list of
//! section 7, so each resource only names its table and sort columns.

use paygate_proto::{Environment, MerchantId};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row as _;

use crate::store::page::{ListReply, Page, SortKey, SortValue};
use crate::store::{Store, StoreResult};

/// A listed object with the sort key it was served under (not serialized).
#[derive(Debug, Serialize)]
pub struct Listed<T> {
    #[serde(flatten)]
    pub item: T,
    #[serde(skip)]
    pub key: (SortValue, String),
}

/// The SQL expression a sort key orders by; `None` for keys the table lacks.
pub type SortColumns = fn(SortKey) -> Option<&'static str>;

/// Sort columns shared by payments and withdrawals.
pub fn money_sort_columns(sort: SortKey) -> Option<&'static str> {
    Some(match sort {
        SortKey::CreatedAt => "created_at",
        SortKey::UpdatedAt => "updated_at",
        SortKey::Amount => "amount",
        SortKey::Status => "status",
        // Unconfirmed rows sort as 0 so the cursor never meets a NULL.
        SortKey::ConfirmedAt => "COALESCE(confirmed_at, 0)",
    })
}

/// A listable table: its name, the columns a row is read from, its sort keys.
#[derive(Debug, Clone, Copy)]
pub struct Listing {
    pub table: &'static str,
    pub columns: &'static str,
    pub sort_columns: SortColumns,
}

/// One page of the merchant's rows of `listing`, each made into an item by
/// `to_item`, as the list reply of section 7.
pub async fn page_of<T: Serialize>(
    store: &Store,
    listing: &Listing,
    merchant: &MerchantId,
    env: Environment,
    page: &Page,
    to_item: impl Fn(&AnyRow) -> StoreResult<T>,
) -> StoreResult<ListReply<Listed<T>>> {
    page_where(store, listing, merchant, env, page, None, to_item).await
}

/// [`page_of`], keeping only the rows whose text column `filter.0` equals
/// `filter.1` (a list filtered by its parent, such as refunds by payment).
pub async fn page_where<T: Serialize>(
    store: &Store,
    listing: &Listing,
    merchant: &MerchantId,
    env: Environment,
    page: &Page,
    filter: Option<(&'static str, &str)>,
    to_item: impl Fn(&AnyRow) -> StoreResult<T>,
) -> StoreResult<ListReply<Listed<T>>> {
    let rows = fetch(store, listing, merchant, env, page, filter).await?;
    let items = rows
        .into_iter()
        .map(|(row, key)| {
            Ok(Listed {
                item: to_item(&row)?,
                key,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(page.reply(items, |listed| listed.key.clone()))
}

/// Fetches one page (`limit + 1` rows) for the merchant, after the page's
/// cursor, each row with its sort value in the column `sort_value`.
async fn fetch(
    store: &Store,
    listing: &Listing,
    merchant: &MerchantId,
    env: Environment,
    page: &Page,
    filter: Option<(&'static str, &str)>,
) -> StoreResult<Vec<(AnyRow, (SortValue, String))>> {
    let Listing {
        table,
        columns,
        sort_columns,
    } = *listing;
    let sort_expr = sort_columns(page.sort).unwrap_or("created_at");
    let text_sort = page.sort == SortKey::Status;
    let op = page.order.after_operator();
    let order = page.order.sql();
    let after = if page.after.is_some() {
        format!("AND ({sort_expr}, id) {op} ($3, $4)")
    } else {
        String::new()
    };
    let filtered = match filter {
        Some((column, _)) => format!("AND {column} = ${}", if page.after.is_some() { 5 } else { 3 }),
        None => String::new(),
    };
    let sql = format!(
        "SELECT {columns}, {sort_expr} AS sort_value FROM {table} WHERE merchant_id = $1 AND env = $2 {after} {filtered} \
         ORDER BY {sort_expr} {order}, id {order} LIMIT {}",
        page.fetch_limit()
    );
    let mut query = sqlx::query(&sql).bind(merchant.as_str()).bind(env.as_str());
    if let Some(cursor) = &page.after {
        query = match &cursor.value {
            SortValue::Int(v) => query.bind(*v),
            SortValue::Text(v) => query.bind(v.clone()),
        };
        query = query.bind(cursor.id.clone());
    }
    if let Some((_, value)) = filter {
        query = query.bind(value.to_owned());
    }
    let rows = query.fetch_all(store.pool()).await?;
    rows.into_iter()
        .map(|row| {
            let value = if text_sort {
                SortValue::Text(row.try_get("sort_value")?)
            } else {
                SortValue::Int(row.try_get("sort_value")?)
            };
            let id: String = row.try_get("id")?;
            Ok((row, (value, id)))
        })
        .collect()
}

//! Balance transactions (docs/refunds.md): every movement of a merchant's
//! `available` balance, read straight from the ledger (the entries on the
//! `available` account, each with its source and the balance after it), as
//! a section-7 list or, with `Accept: text/csv`, as RFC 4180 CSV streamed
//! page by page so any range is exported without holding it in memory.

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse as _, Response};
use futures_util::stream;
use paygate_proto::money::Currency;
use paygate_proto::refunds::BalanceTransaction;
use paygate_proto::{Environment, ErrorCode, MerchantId, Scope};
use serde::Deserialize;
use sqlx::any::AnyRow;
use sqlx::Row as _;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::app::AppState;
use crate::auth::Caller;
use crate::clock::rfc3339;
use crate::http::list::{ListReply, Order, Page, SortKey, SortValue};
use crate::http::{ApiError, ApiJson, ApiResult};
use crate::store::{Store, StoreError, StoreResult};

/// Rows per query while a CSV export streams.
const EXPORT_PAGE: u32 = 1000;
/// The CSV header row (amounts in minor units, times RFC 3339 UTC).
pub const CSV_HEADER: &str = "id,type,source,amount,currency,balance_after,created_at\r\n";

/// The filters of the list, beside the section-7 parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// Movements at or after this time (RFC 3339, or a `YYYY-MM-DD` day in UTC).
    from: Option<String>,
    /// Movements before this time (RFC 3339, or a `YYYY-MM-DD` day in UTC).
    to: Option<String>,
    /// Only this currency (`USD`, `BTC`, ...).
    currency: Option<String>,
}

/// A checked range: Unix seconds `[from, to)` and a currency.
#[derive(Debug, Clone, Default)]
pub struct Range {
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub currency: Option<Currency>,
}

fn parse_time(field: &str, text: &str) -> ApiResult<i64> {
    let text = text.trim();
    let day = format!("{text}T00:00:00Z");
    let candidate = if text.len() == 10 { day.as_str() } else { text };
    OffsetDateTime::parse(candidate, &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|_| ApiError::field(field, "must be an RFC 3339 time or a YYYY-MM-DD day"))
}

impl RangeQuery {
    fn check(self) -> ApiResult<Range> {
        let from = self
            .from
            .filter(|t| !t.is_empty())
            .map(|t| parse_time("from", &t))
            .transpose()?;
        let to = self
            .to
            .filter(|t| !t.is_empty())
            .map(|t| parse_time("to", &t))
            .transpose()?;
        let currency = match self.currency.filter(|c| !c.is_empty()) {
            Some(code) => Some(
                Currency::parse(&code.to_ascii_uppercase())
                    .ok_or_else(|| ApiError::field("currency", "is not a supported currency"))?,
            ),
            None => None,
        };
        Ok(Range { from, to, currency })
    }
}

enum Bind {
    Int(i64),
    Text(String),
}

fn row_to_api(row: &AnyRow) -> StoreResult<BalanceTransaction> {
    let transaction: String = row.try_get("transaction_id")?;
    let suffix = transaction.strip_prefix("ltx_").unwrap_or(&transaction);
    let kind: Option<String> = row.try_get("source_type")?;
    Ok(BalanceTransaction {
        id: format!("txn_{suffix}"),
        object: "balance_transaction".to_owned(),
        kind: kind.unwrap_or_else(|| "adjustment".to_owned()),
        source: row.try_get("source_id")?,
        amount: row.try_get("amount")?,
        currency: row.try_get("currency")?,
        balance_after: row.try_get("balance_after")?,
        created_at: rfc3339(row.try_get("created_at")?),
    })
}

/// One page of the merchant's balance transactions. `createdAt` orders by
/// posting order (the ledger entry's sequence); `amount` by amount; any
/// other key falls back to `createdAt`.
pub async fn page_of(
    store: &Store,
    merchant: &MerchantId,
    env: Environment,
    range: &Range,
    page: &Page,
) -> StoreResult<ListReply<BalanceTransaction>> {
    let sort = if page.sort == SortKey::Amount { "amount" } else { "id" };
    let mut binds = vec![
        Bind::Text(merchant.as_str().to_owned()),
        Bind::Text(env.as_str().to_owned()),
    ];
    let mut clauses = String::new();
    let mut push = |clause: &str, value: Bind, binds: &mut Vec<Bind>| {
        binds.push(value);
        clauses.push_str(&clause.replace('?', &format!("${}", binds.len())));
    };
    if let Some(currency) = range.currency {
        push(
            " AND currency = ?",
            Bind::Text(currency.as_str().to_owned()),
            &mut binds,
        );
    }
    if let Some(from) = range.from {
        push(" AND created_at >= ?", Bind::Int(from), &mut binds);
    }
    if let Some(to) = range.to {
        push(" AND created_at < ?", Bind::Int(to), &mut binds);
    }
    if let Some(cursor) = &page.after {
        let value = match cursor.value {
            SortValue::Int(v) => v,
            SortValue::Text(_) => return Err(StoreError::Corrupt("balance transaction cursor".to_owned())),
        };
        let id: i64 = cursor
            .id
            .parse()
            .map_err(|_| StoreError::Corrupt("balance transaction cursor".to_owned()))?;
        push(
            &format!(" AND ({sort}, id) {} (?,", page.order.after_operator()),
            Bind::Int(value),
            &mut binds,
        );
        push(" ?)", Bind::Int(id), &mut binds);
    }
    let order = page.order.sql();
    let sql = format!(
        "SELECT id, transaction_id, source_type, source_id, amount, currency, balance_after, created_at \
         FROM ledger_entries WHERE merchant_id = $1 AND env = $2 AND account = 'available'{clauses} \
         ORDER BY {sort} {order}, id {order} LIMIT {}",
        page.fetch_limit()
    );
    let mut query = sqlx::query(&sql);
    for bind in binds {
        query = match bind {
            Bind::Int(v) => query.bind(v),
            Bind::Text(v) => query.bind(v),
        };
    }
    let rows = query.fetch_all(store.pool()).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: i64 = row.try_get("id")?;
        let item = row_to_api(row)?;
        let value = if sort == "amount" { item.amount } else { id };
        items.push((item, (SortValue::Int(value), id.to_string())));
    }
    let reply = page.reply(items, |(_, key)| key.clone());
    Ok(ListReply {
        object: reply.object,
        data: reply.data.into_iter().map(|(item, _)| item).collect(),
        has_more: reply.has_more,
        next_cursor: reply.next_cursor,
    })
}

/// Quotes a CSV field when RFC 4180 needs it.
fn csv_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

/// One CSV record, CRLF-terminated.
pub fn csv_row(txn: &BalanceTransaction) -> String {
    let amount = txn.amount.to_string();
    let after = txn.balance_after.map(|b| b.to_string()).unwrap_or_default();
    let fields = [
        txn.id.as_str(),
        txn.kind.as_str(),
        txn.source.as_deref().unwrap_or(""),
        amount.as_str(),
        txn.currency.as_str(),
        after.as_str(),
        txn.created_at.as_str(),
    ];
    let mut out = String::with_capacity(128);
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(&mut out, field);
    }
    out.push_str("\r\n");
    out
}

/// Whether the request asks for CSV.
pub fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|part| part.trim().starts_with("text/csv")))
}

/// The whole range as a streamed CSV download: a header row, then one page
/// of rows at a time. Chronological unless the query said `order`.
pub fn csv_response(store: Store, merchant: MerchantId, env: Environment, range: Range, mut page: Page) -> Response {
    page.limit = EXPORT_PAGE;
    let start = Some((page, true));
    let rows = stream::unfold(start, move |state| {
        let (store, merchant, range) = (store.clone(), merchant.clone(), range.clone());
        async move {
            let (page, first) = state?;
            let mut out = String::new();
            if first {
                out.push_str(CSV_HEADER);
            }
            match page_of(&store, &merchant, env, &range, &page).await {
                Ok(reply) => {
                    for txn in &reply.data {
                        out.push_str(&csv_row(txn));
                    }
                    let next = reply.next_cursor.and_then(|cursor| {
                        let mut next = page.clone();
                        next.after = crate::http::list::Cursor::decode(&cursor);
                        next.after.is_some().then_some((next, false))
                    });
                    Some((Ok::<_, std::io::Error>(Bytes::from(out)), next))
                }
                Err(error) => {
                    tracing::error!(%error, "balance transaction export failed mid-stream");
                    Some((Err(std::io::Error::other("export failed")), None))
                }
            }
        }
    });
    let mut response = Body::from_stream(rows).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8; header=present"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"balance-transactions.csv\""),
    );
    response
}

#[utoipa::path(get, path = "/v1/balance-transactions", operation_id = "listBalanceTransactions", tag = "balance",
    params(crate::http::list::ListQuery, RangeQuery),
    responses((status = 200, description = "A page of balance transactions, or with `Accept: text/csv` the whole range as CSV",
        content((crate::openapi::schemas::BalanceTransactionList = "application/json"), (String = "text/csv"))),
        (status = 400, body = paygate_proto::Problem)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    page: Page,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Scope::PaymentsRead)?;
    let Query(query) =
        query.map_err(|_| ApiError::new(ErrorCode::BadRequest).with_detail("The query string is not valid."))?;
    let range = query.check()?;
    if wants_csv(&headers) {
        let mut page = page;
        // A statement reads oldest first unless the caller chose an order.
        let explicit = raw
            .as_deref()
            .is_some_and(|q| q.split('&').any(|p| p.starts_with("order=")));
        if !explicit {
            page.order = Order::Asc;
        }
        return Ok(csv_response(
            state.store().clone(),
            caller.merchant_id.clone(),
            caller.env,
            range,
            page,
        ));
    }
    let reply = page_of(state.store(), &caller.merchant_id, caller.env, &range, &page).await?;
    Ok(ApiJson(reply).into_response())
}

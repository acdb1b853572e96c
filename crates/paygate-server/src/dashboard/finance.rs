//! Finance pages: the refund action on a payment, the statement of balance
//! transactions with its CSV export, and the 30-day charts of daily volume
//! and balance (server-drawn SVG). Refunds go through the API's refund
//! logic, so ledger entries, events and audit rows are the same.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use paygate_proto::money::Currency;
use paygate_proto::payments::Payment;
use serde::Deserialize;
use time::OffsetDateTime;

use super::charts::{self, Day};
use super::listing::{pager, when, Pager};
use super::money::{format_minor, payment_view};
use super::pages::{render, Frame};
use super::session::Viewer;
use crate::app::AppState;
use crate::balance_transactions::{self, Range};
use crate::http::list::{Order, Page};
use crate::http::{ApiError, ApiResult, ClientIp};
use crate::refunds::{create_in, NewRefund};

const DAYS: i64 = 30;
const STATEMENT_SORTS: &[(&str, &str)] = &[("createdAt", "Created"), ("amount", "Amount")];

/// What the payment page offers for refunds.
#[derive(Debug, Clone, Default)]
pub struct RefundPanel {
    /// What was refunded so far, formatted.
    pub refunded: String,
    /// What may still be refunded, formatted (empty when nothing).
    pub remaining: String,
    /// Whether the refund form is shown (a succeeded card payment).
    pub can_refund: bool,
    /// Why there is no form, when the payment could otherwise be refunded.
    pub note: Option<&'static str>,
}

pub async fn refund_panel(_state: &AppState, _viewer: &Viewer, payment: &Payment) -> ApiResult<RefundPanel> {
    let remaining = payment.amount_received.saturating_sub(payment.amount_refunded);
    let open = payment.status == "succeeded" && remaining > 0;
    let card = payment.method == "card";
    Ok(RefundPanel {
        refunded: format_minor(payment.amount_refunded, &payment.currency),
        remaining: if remaining > 0 {
            format_minor(remaining, &payment.currency)
        } else {
            String::new()
        },
        can_refund: open && card,
        note: (open && !card).then_some(
            "A crypto refund is a payout to an address on the payment's network; this server cannot make it yet.",
        ),
    })
}

/// Parses a decimal amount in major units into minor units.
fn parse_major(text: &str, currency: &str) -> Option<i64> {
    let decimals = u32::from(Currency::parse(currency).map_or(2, Currency::decimals));
    let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > decimals as usize
    {
        return None;
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let padded = format!("{fraction:0<width$}", width = decimals as usize);
    let fraction: i64 = if padded.is_empty() { 0 } else { padded.parse().ok()? };
    whole.checked_mul(10_i64.pow(decimals))?.checked_add(fraction)
}

#[derive(Deserialize)]
pub struct RefundForm {
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reason: String,
}

/// Refunds a card payment (all that remains when the amount is empty).
pub async fn refund(
    State(state): State<AppState>,
    viewer: Viewer,
    client_ip: ClientIp,
    Path(id): Path<String>,
    Form(form): Form<RefundForm>,
) -> ApiResult<Response> {
    let payment = crate::payments::find_payment(&state, viewer.merchant(), viewer.env(), id.clone()).await?;
    let amount = if form.amount.trim().is_empty() {
        None
    } else {
        match parse_major(&form.amount, &payment.currency) {
            Some(amount) if amount > 0 => Some(amount),
            _ => {
                let error = format!("Enter the amount in {} (for example 12.50).", payment.currency);
                return payment_view(&state, &viewer, id, None, Some(error)).await;
            }
        }
    };
    let reason = form.reason.trim();
    let new = crate::refunds::validate(paygate_proto::refunds::CreateRefund {
        payment: id.clone(),
        amount,
        reason: (!reason.is_empty()).then(|| reason.to_owned()),
        destination: None,
    });
    let new: NewRefund = match new {
        Ok(new) => new,
        Err(err) => return payment_view(&state, &viewer, id, None, err.for_people()).await,
    };
    let actor = viewer.actor(client_ip);
    let (merchant, env, now) = (viewer.merchant().clone(), viewer.env(), state.now());
    let mut tx = state.store().begin_write().await?;
    match create_in(tx.conn(), &merchant, env, new, &actor, now).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!("/dashboard/payments/{id}?done=refunded")).into_response())
        }
        Err(err) => {
            drop(tx);
            match err.for_people() {
                Some(text) => payment_view(&state, &viewer, id, None, Some(text)).await,
                None => Err(err),
            }
        }
    }
}

#[derive(Deserialize, Default)]
pub struct CurrencyQuery {
    #[serde(default)]
    currency: Option<String>,
}

pub struct StatementRow {
    pub id: String,
    pub kind: String,
    pub source: String,
    pub amount: String,
    pub balance_after: String,
    pub currency: String,
    pub created_at: String,
}

#[derive(Template)]
#[template(path = "dashboard/statement.html")]
pub struct StatementPage {
    pub frame: Frame,
    pub currencies: Vec<String>,
    pub currency: String,
    pub volume_svg: String,
    pub balance_svg: String,
    pub rows: Vec<StatementRow>,
    pub pager: Pager,
    pub export: String,
}

fn day_label(day: i64) -> String {
    OffsetDateTime::from_unix_timestamp(day.saturating_mul(86_400))
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

/// The last [`DAYS`] days, each with the figure found for it (or `fill`).
fn run_of_days(today: i64, figures: &[crate::store::DayFigure], carry: bool) -> Vec<Day> {
    let start = today - DAYS + 1;
    let mut last = figures
        .iter()
        .filter(|f| f.day < start)
        .map(|f| f.amount)
        .next_back()
        .unwrap_or(0);
    (start..=today)
        .map(|day| {
            let found = figures.iter().find(|f| f.day == day).map(|f| f.amount);
            let value = match (found, carry) {
                (Some(v), _) => v,
                (None, true) => last,
                (None, false) => 0,
            };
            last = value;
            Day {
                label: day_label(day),
                value,
            }
        })
        .collect()
}

pub async fn statement(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<CurrencyQuery>,
    page: Page,
) -> ApiResult<Response> {
    let (merchant, env) = (viewer.merchant(), viewer.env());
    let currencies = state.store().ledger_currencies(merchant, env).await?;
    let asked = query.currency.map(|c| c.to_ascii_uppercase());
    let currency = asked
        .filter(|c| currencies.contains(c))
        .or_else(|| currencies.first().cloned())
        .unwrap_or_else(|| "USD".to_owned());
    let today = state.now().div_euclid(86_400);
    let since = (today - DAYS + 1) * 86_400;
    let volume = state.store().daily_volume(merchant, env, &currency, since).await?;
    let balance = state.store().daily_balance(merchant, env, &currency, since).await?;
    let range = Range {
        currency: Currency::parse(&currency),
        ..Range::default()
    };
    let reply = balance_transactions::page_of(state.store(), merchant, env, &range, &page).await?;
    let rows = reply
        .data
        .iter()
        .map(|t| StatementRow {
            id: t.id.clone(),
            kind: t.kind.clone(),
            source: t.source.clone().unwrap_or_default(),
            amount: format_minor(t.amount, &t.currency),
            balance_after: t
                .balance_after
                .map(|b| format_minor(b, &t.currency))
                .unwrap_or_default(),
            currency: t.currency.clone(),
            created_at: when(&t.created_at),
        })
        .collect();
    let path = "/dashboard/balance-transactions";
    let mut pager = pager(path, &page, reply.next_cursor.as_deref(), STATEMENT_SORTS);
    let with_currency = |link: String| format!("{link}&currency={currency}");
    pager.next = pager.next.map(with_currency);
    pager.first = pager.first.map(with_currency);
    Ok(render(&StatementPage {
        frame: viewer.frame(path),
        volume_svg: charts::volume_bars("volume-chart", &currency, &run_of_days(today, &volume, false)),
        balance_svg: charts::balance_line("balance-chart", &currency, &run_of_days(today, &balance, true)),
        export: format!("/dashboard/balance-transactions/export?currency={currency}"),
        currencies,
        currency,
        rows,
        pager,
    }))
}

/// The statement as a CSV download (oldest first), streamed like the API's.
pub async fn export(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<CurrencyQuery>,
) -> ApiResult<Response> {
    let currency = match query.currency.filter(|c| !c.is_empty()) {
        Some(code) => Some(
            Currency::parse(&code.to_ascii_uppercase())
                .ok_or_else(|| ApiError::field("currency", "is not supported"))?,
        ),
        None => None,
    };
    let range = Range {
        currency,
        ..Range::default()
    };
    let mut page = Page::first();
    page.order = Order::Asc;
    Ok(balance_transactions::csv_response(
        state.store().clone(),
        viewer.merchant().clone(),
        viewer.env(),
        range,
        page,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_amounts_become_minor_units() {
        assert_eq!(parse_major("12.5", "USD"), Some(1_250));
        assert_eq!(parse_major("12", "USD"), Some(1_200));
        assert_eq!(parse_major(".05", "EUR"), Some(5));
        assert_eq!(parse_major("0.00000001", "BTC"), Some(1));
        assert_eq!(parse_major("1.001", "USD"), None);
        assert_eq!(parse_major("-1", "USD"), None);
        assert_eq!(parse_major("", "USD"), None);
        assert_eq!(parse_major("1e3", "USD"), None);
    }
}

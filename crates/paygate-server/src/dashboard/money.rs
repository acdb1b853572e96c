//! Money pages: balances, payments (list and detail) and withdrawals (list,
//! approve or reject with a one-time code). Reads use the API's queries;
//! decisions use the API's withdrawal logic, so the ledger entries, events
//! and audit rows are the same, with the dashboard user as the actor.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use paygate_proto::money::Currency;
use paygate_proto::payments::{Destination, Payment, Withdrawal, WithdrawalChain};
use serde::Deserialize;

use super::listing::{pager, when, Pager, MONEY_SORTS};
use super::one_time::{self, Channel, Purpose};
use super::pages::{render, Done, Frame};
use super::session::Viewer;
use crate::app::AppState;
use crate::http::list::Page;
use crate::http::{ApiError, ApiResult, ClientIp};
use crate::withdrawals::{decide_in, withdrawals_page, Decision};

/// Minor units as a decimal amount (`12345` in a 2-decimal currency: `123.45`).
pub fn format_minor(amount: i64, currency: &str) -> String {
    let decimals = Currency::parse(currency).map_or(2, Currency::decimals);
    let divisor = 10_u64.pow(u32::from(decimals));
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / divisor,
        abs % divisor,
        width = usize::from(decimals)
    )
}

pub struct BalanceLine {
    pub currency: String,
    pub available: String,
    pub pending: String,
    pub reserved: String,
}

#[derive(Template)]
#[template(path = "dashboard/home.html")]
pub struct HomePage {
    pub frame: Frame,
    pub merchant_id: String,
    pub balances: Vec<BalanceLine>,
}

pub async fn home(State(state): State<AppState>, viewer: Viewer) -> ApiResult<Response> {
    let merchant = viewer.merchant();
    let mut by_currency: std::collections::BTreeMap<String, [i64; 3]> = Default::default();
    for row in state.store().balances(merchant, viewer.env()).await? {
        let slot = by_currency.entry(row.currency).or_default();
        match row.account.as_str() {
            "available" => slot[0] = row.amount,
            "pending" => slot[1] = row.amount,
            "reserved" => slot[2] = row.amount,
            _ => {}
        }
    }
    let balances = by_currency
        .into_iter()
        .map(|(currency, [available, pending, reserved])| BalanceLine {
            available: format_minor(available, &currency),
            pending: format_minor(pending, &currency),
            reserved: format_minor(reserved, &currency),
            currency,
        })
        .collect();
    Ok(render(&HomePage {
        frame: viewer.frame("/dashboard"),
        merchant_id: merchant.to_string(),
        balances,
    }))
}

pub struct PaymentRow {
    pub id: String,
    pub amount: String,
    pub currency: String,
    pub method: String,
    pub status: String,
    pub description: String,
    pub created_at: String,
}

fn payment_row(payment: &Payment) -> PaymentRow {
    PaymentRow {
        id: payment.id.clone(),
        amount: format_minor(payment.amount, &payment.currency),
        currency: payment.currency.clone(),
        method: payment.method.clone(),
        status: payment.status.clone(),
        description: payment.description.clone().unwrap_or_default(),
        created_at: when(&payment.created_at),
    }
}

#[derive(Template)]
#[template(path = "dashboard/payments.html")]
pub struct PaymentsPage {
    pub frame: Frame,
    pub rows: Vec<PaymentRow>,
    pub pager: Pager,
}

pub async fn payments(State(state): State<AppState>, viewer: Viewer, page: Page) -> ApiResult<Response> {
    let reply = crate::payments::payments_page(&state, viewer.merchant(), viewer.env(), &page).await?;
    Ok(render(&PaymentsPage {
        frame: viewer.frame("/dashboard/payments"),
        rows: reply.data.iter().map(|listed| payment_row(&listed.item)).collect(),
        pager: pager("/dashboard/payments", &page, reply.next_cursor.as_deref(), MONEY_SORTS),
    }))
}

#[derive(Template)]
#[template(path = "dashboard/payment.html")]
pub struct PaymentPage {
    pub frame: Frame,
    pub row: PaymentRow,
    pub payment: Payment,
    pub received: String,
    pub refund: super::finance::RefundPanel,
}

pub async fn payment(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(done): Query<Done>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    payment_view(&state, &viewer, id, done.notice(), None).await
}

/// The payment page, with a notice or an error above it.
pub async fn payment_view(
    state: &AppState,
    viewer: &Viewer,
    id: String,
    notice: Option<&str>,
    error: Option<String>,
) -> ApiResult<Response> {
    let payment = crate::payments::find_payment(state, viewer.merchant(), viewer.env(), id).await?;
    let refund = super::finance::refund_panel(state, viewer, &payment).await?;
    Ok(render(&PaymentPage {
        frame: viewer
            .frame("/dashboard/payments")
            .with_notice(notice)
            .with_error(error),
        row: payment_row(&payment),
        received: format_minor(payment.amount_received, &payment.currency),
        payment,
        refund,
    }))
}

pub struct WithdrawalRow {
    pub id: String,
    pub amount: String,
    pub currency: String,
    pub destination: String,
    pub status: String,
    pub created_at: String,
    pub pending: bool,
    /// A payout on a chain: its transaction and route, once signed.
    pub chain: Option<ChainCell>,
}

/// Where a withdrawal's payout is on its chain, as the list shows it.
pub struct ChainCell {
    pub tx_hash: String,
    /// `private`, `public_fallback` or `public`.
    pub route: String,
    /// Why it left the relay, with `public_fallback`.
    pub fallback_reason: Option<String>,
    /// "block N, M confirmations", or "not yet mined".
    pub depth: String,
}

fn chain_cell(chain: &WithdrawalChain) -> ChainCell {
    ChainCell {
        tx_hash: chain.tx_hash.clone(),
        route: chain.route.clone(),
        fallback_reason: chain.fallback_reason.clone(),
        depth: match chain.block {
            Some(block) => format!(
                "block {block}, {} confirmation{}",
                chain.confirmations,
                if chain.confirmations == 1 { "" } else { "s" }
            ),
            None => "not yet mined".to_owned(),
        },
    }
}

/// A destination as a finance person reads it; an IBAN shows its country
/// and last four characters only.
fn describe_destination(destination: &Destination) -> String {
    match destination {
        Destination::Bitcoin { address } => format!("Bitcoin {address}"),
        Destination::Ethereum { address } => format!("Ethereum {address}"),
        Destination::Bank { iban, name } => {
            let country: String = iban.chars().take(2).collect();
            let tail: String = iban
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("{name}, {country} ···· {tail}")
        }
    }
}

fn withdrawal_row(withdrawal: &Withdrawal) -> WithdrawalRow {
    WithdrawalRow {
        id: withdrawal.id.clone(),
        amount: format_minor(withdrawal.amount, &withdrawal.currency),
        currency: withdrawal.currency.clone(),
        destination: describe_destination(&withdrawal.destination),
        status: withdrawal.status.clone(),
        created_at: when(&withdrawal.created_at),
        pending: withdrawal.status == "pending_approval",
        chain: withdrawal.chain.as_ref().map(chain_cell),
    }
}

#[derive(Template)]
#[template(path = "dashboard/withdrawals.html")]
pub struct WithdrawalsPage {
    pub frame: Frame,
    pub rows: Vec<WithdrawalRow>,
    pub pager: Pager,
    pub authenticator: bool,
}

async fn withdrawals_view(
    state: &AppState,
    viewer: &Viewer,
    page: &Page,
    notice: Option<&str>,
    error: Option<String>,
) -> ApiResult<Response> {
    let reply = withdrawals_page(state, viewer.merchant(), viewer.env(), page).await?;
    let frame = viewer
        .frame("/dashboard/withdrawals")
        .with_error(error)
        .with_notice(notice);
    Ok(render(&WithdrawalsPage {
        frame,
        rows: reply.data.iter().map(|listed| withdrawal_row(&listed.item)).collect(),
        pager: pager(
            "/dashboard/withdrawals",
            page,
            reply.next_cursor.as_deref(),
            MONEY_SORTS,
        ),
        authenticator: viewer.user().totp_enabled,
    }))
}

pub async fn withdrawals(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(done): Query<Done>,
    page: Page,
) -> ApiResult<Response> {
    withdrawals_view(&state, &viewer, &page, done.notice(), None).await
}

#[derive(Deserialize)]
pub struct CodeRequest {
    purpose: String,
    #[serde(default)]
    back: String,
}

/// Emails a one-time code for a purpose, then returns to the page asking.
pub async fn send_code(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<CodeRequest>,
) -> ApiResult<Response> {
    let purpose = Purpose::parse(&form.purpose).ok_or_else(|| ApiError::field("purpose", "is not known"))?;
    let back = super::session::local_path(&form.back).unwrap_or("/dashboard");
    let sent = one_time::send(&state, viewer.user(), purpose).await?;
    let target = match sent {
        Channel::Email => format!("{back}?done=code_sent"),
        Channel::Authenticator => back.to_owned(),
    };
    Ok(Redirect::to(&target).into_response())
}

#[derive(Deserialize)]
pub struct DecisionForm {
    decision: String,
    #[serde(default)]
    code: String,
}

/// Approves or rejects a withdrawal once the one-time code checks out.
pub async fn decide(
    State(state): State<AppState>,
    viewer: Viewer,
    client_ip: ClientIp,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> ApiResult<Response> {
    let decision = match form.decision.as_str() {
        "approve" => Decision::Approve,
        "reject" => Decision::Reject,
        _ => return Err(ApiError::field("decision", "must be approve or reject")),
    };
    let page = Page::first();
    let again = |error: String| withdrawals_view(&state, &viewer, &page, None, Some(error));
    if !one_time::verify(&state, viewer.user(), Purpose::PayoutApproval, &form.code, client_ip.0).await? {
        return again("That code is not valid. Enter a current code (each works once).".to_owned()).await;
    }
    let actor = viewer.actor(client_ip);
    let (merchant, env, now) = (viewer.merchant().clone(), viewer.env(), state.now());
    let mut tx = state.store().begin_write().await?;
    match decide_in(tx.conn(), &merchant, env, &id, decision, &actor, now).await {
        Ok(_) => {
            tx.commit().await?;
            let done = if decision == Decision::Approve {
                "approved"
            } else {
                "rejected"
            };
            Ok(Redirect::to(&format!("/dashboard/withdrawals?done={done}")).into_response())
        }
        Err(err) => {
            drop(tx);
            match err.for_people() {
                Some(text) => again(text).await,
                None => Err(err),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units_format_by_currency() {
        assert_eq!(format_minor(12345, "USD"), "123.45");
        assert_eq!(format_minor(5, "ZAR"), "0.05");
        assert_eq!(format_minor(150_000_000, "BTC"), "1.50000000");
        assert_eq!(format_minor(-1_500_000, "USDC"), "-1.500000");
    }

    #[test]
    fn an_iban_shows_only_its_country_and_last_four() {
        let text = describe_destination(&Destination::Bank {
            iban: "GB82WEST12345698765432".to_owned(),
            name: "Ada".to_owned(),
        });
        assert_eq!(text, "Ada, GB ···· 5432");
    }
}

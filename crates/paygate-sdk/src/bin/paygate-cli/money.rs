//! `payments`, `withdrawals` and `trigger`.

use futures_util::TryStreamExt as _;
use paygate_sdk::proto::payments::{CardDetails, CreatePayment, CreateWithdrawal, Destination, Payment, Withdrawal};
use paygate_sdk::proto::Environment;
use paygate_sdk::{Client, ListParams, Pager};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::output;
use crate::profile::Profile;

#[derive(clap::Args)]
pub struct ListArgs {
    /// Items per page (1 to 100).
    #[arg(long, default_value_t = 20)]
    limit: u32,
    /// Every page, not just the first (an export; progress on standard error).
    #[arg(long)]
    all: bool,
}

#[derive(clap::Subcommand)]
pub enum PaymentCommand {
    /// POST /v1/payments.
    Create {
        /// In the currency's minor unit (cents, satoshis).
        #[arg(long)]
        amount: i64,
        #[arg(long)]
        currency: String,
        /// card or crypto.
        #[arg(long, default_value = "card")]
        method: String,
        #[arg(long)]
        description: Option<String>,
        /// Test mode: pay at once with this test card (e.g. 4242424242424242).
        #[arg(long)]
        test_card: Option<String>,
        /// Your own Idempotency-Key (default: a new UUID).
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// GET /v1/payments.
    List(ListArgs),
    /// GET /v1/payments/{id}.
    Get { id: String },
}

#[derive(clap::Subcommand)]
pub enum WithdrawalCommand {
    /// POST /v1/withdrawal-requests (reserves the funds; needs approval).
    Create {
        #[arg(long)]
        amount: i64,
        #[arg(long)]
        currency: String,
        /// A bitcoin address to pay out to.
        #[arg(long, conflicts_with_all = ["iban", "name"])]
        bitcoin: Option<String>,
        /// A bank account to pay out to (with --name).
        #[arg(long, requires = "name")]
        iban: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// GET /v1/withdrawal-requests.
    List(ListArgs),
    /// GET /v1/withdrawal-requests/{id}.
    Get { id: String },
    /// Approve a pending withdrawal (needs the API secret at login).
    Approve { id: String },
    /// Reject a pending withdrawal (releases the funds).
    Reject { id: String },
}

pub(crate) fn client() -> Result<Client, String> {
    Profile::load()?.client()
}

pub(crate) fn keyed(client: Client, key: Option<String>) -> Client {
    match key {
        Some(key) => client.with_idempotency_key(key),
        None => client,
    }
}

pub async fn payments(command: PaymentCommand, json: bool) -> Result<(), String> {
    let client = client()?;
    match command {
        PaymentCommand::Create {
            amount,
            currency,
            method,
            description,
            test_card,
            idempotency_key,
        } => {
            let request = CreatePayment {
                amount,
                currency,
                method,
                description,
                metadata: None,
                card: test_card.map(test_card_details),
            };
            let payment = keyed(client, idempotency_key)
                .create_payment(&request)
                .await
                .map_err(|e| e.to_string())?;
            show_payment(&payment, json);
        }
        PaymentCommand::List(args) => {
            list(client.list_payments(&params(&args)), &args, json, payment_line).await?;
        }
        PaymentCommand::Get { id } => show_payment(&client.payment(&id).await.map_err(|e| e.to_string())?, json),
    }
    Ok(())
}

pub async fn withdrawals(command: WithdrawalCommand, json: bool) -> Result<(), String> {
    let client = client()?;
    let withdrawal = match command {
        WithdrawalCommand::Create {
            amount,
            currency,
            bitcoin,
            iban,
            name,
            idempotency_key,
        } => {
            let destination = match (bitcoin, iban, name) {
                (Some(address), None, None) => Destination::Bitcoin { address },
                (None, Some(iban), Some(name)) => Destination::Bank { iban, name },
                _ => return Err("give --bitcoin ADDRESS, or --iban IBAN with --name NAME".to_owned()),
            };
            let request = CreateWithdrawal {
                amount,
                currency,
                destination,
            };
            keyed(client, idempotency_key).create_withdrawal(&request).await
        }
        WithdrawalCommand::List(args) => {
            return list(client.list_withdrawals(&params(&args)), &args, json, withdrawal_line).await;
        }
        WithdrawalCommand::Get { id } => client.withdrawal(&id).await,
        WithdrawalCommand::Approve { id } => client.approve_withdrawal(&id).await,
        WithdrawalCommand::Reject { id } => client.reject_withdrawal(&id).await,
    }
    .map_err(|e| e.to_string())?;
    if json {
        output::json(&withdrawal);
    } else {
        println!("{}", withdrawal_line(&withdrawal));
    }
    Ok(())
}

/// Test mode only: makes the named event happen with a test payment.
pub async fn trigger(event: &str, json: bool) -> Result<(), String> {
    let client = client()?;
    if client.environment() != Environment::Test {
        return Err("trigger works in test mode only: log in with a sk_test_ key".to_owned());
    }
    let card = match event {
        "payment.created" | "payment.canceled" => None,
        "payment.succeeded" => Some("4242424242424242"),
        "payment.failed" => Some("4000000000000002"),
        other => {
            return Err(format!(
                "cannot trigger {other:?}: payment.created, payment.succeeded, payment.failed or payment.canceled"
            ))
        }
    };
    let request = CreatePayment {
        amount: 1000,
        currency: "USD".to_owned(),
        method: "card".to_owned(),
        description: Some(format!("paygate-cli trigger {event}")),
        metadata: None,
        card: card.map(|number| test_card_details(number.to_owned())),
    };
    let mut payment = client.create_payment(&request).await.map_err(|e| e.to_string())?;
    if event == "payment.canceled" {
        payment = client.cancel_payment(&payment.id).await.map_err(|e| e.to_string())?;
    }
    if json {
        output::json(&serde_json::json!({ "triggered": event, "payment": payment }));
    } else {
        println!("Triggered {event}: {}", payment_line(&payment));
    }
    Ok(())
}

fn test_card_details(number: String) -> CardDetails {
    CardDetails {
        number,
        exp_month: 12,
        exp_year: 2099,
        cvc: "123".to_owned(),
    }
}

pub(crate) fn params(args: &ListArgs) -> ListParams {
    ListParams::default().limit(args.limit)
}

pub(crate) async fn list<T: DeserializeOwned + Serialize>(
    pager: Pager<T>,
    args: &ListArgs,
    json: bool,
    line: fn(&T) -> String,
) -> Result<(), String> {
    let items: Vec<T> = if args.all {
        let progress = output::spinner("fetched");
        let items = pager.items().inspect_ok(|_| progress.inc(1)).try_collect().await;
        progress.finish_and_clear();
        items.map_err(|e| e.to_string())?
    } else {
        pager.page().await.map_err(|e| e.to_string())?.data
    };
    for item in &items {
        if json {
            output::json(item);
        } else {
            println!("{}", line(item));
        }
    }
    Ok(())
}

fn show_payment(payment: &Payment, json: bool) {
    if json {
        output::json(payment);
    } else {
        println!("{}", payment_line(payment));
    }
}

fn payment_line(p: &Payment) -> String {
    format!(
        "{}  {:<16}  {:>16}  {}  {}",
        p.id,
        p.status,
        output::amount(p.amount, &p.currency),
        p.method,
        p.created_at
    )
}

fn withdrawal_line(w: &Withdrawal) -> String {
    format!(
        "{}  {:<16}  {:>16}  {}",
        w.id,
        w.status,
        output::amount(w.amount, &w.currency),
        w.created_at
    )
}

//! `refunds create`, `refunds list` and `refunds get`.

use paygate_sdk::proto::refunds::{CreateRefund, Refund};

use crate::money::{client, keyed, list, params, ListArgs};
use crate::output;

#[derive(clap::Subcommand)]
pub enum RefundCommand {
    /// POST /v1/refunds (all that remains of the payment unless --amount).
    Create {
        /// The payment to refund (pay_...).
        #[arg(long)]
        payment: String,
        /// In the currency's minor unit (cents, satoshis).
        #[arg(long)]
        amount: Option<i64>,
        #[arg(long)]
        reason: Option<String>,
        /// Your own Idempotency-Key (default: a new UUID).
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// GET /v1/refunds.
    List(ListArgs),
    /// GET /v1/refunds/{id}.
    Get { id: String },
}

fn refund_line(r: &Refund) -> String {
    format!("{}  {} {}  {}  {}", r.id, r.amount, r.currency, r.status, r.payment)
}

pub async fn refunds(command: RefundCommand, json: bool) -> Result<(), String> {
    let client = client()?;
    let refund = match command {
        RefundCommand::Create {
            payment,
            amount,
            reason,
            idempotency_key,
        } => {
            let request = CreateRefund {
                payment,
                amount,
                reason,
                destination: None,
            };
            keyed(client, idempotency_key).create_refund(&request).await
        }
        RefundCommand::List(args) => return list(client.list_refunds(&params(&args)), &args, json, refund_line).await,
        RefundCommand::Get { id } => client.refund(&id).await,
    }
    .map_err(|e| e.to_string())?;
    if json {
        output::json(&refund);
    } else {
        println!("{}", refund_line(&refund));
    }
    Ok(())
}

//! A payment's row: its columns, reading it, writing it, and the object the
//! API shows for it.

use paygate_proto::payments::{CardSummary, CryptoTarget, Payment};
use paygate_proto::{Environment, MerchantId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};

use crate::clock::rfc3339;
use crate::http::ApiResult;
use crate::keyset;
use crate::store::{StoreError, StoreResult};

pub(super) const COLUMNS: &str = "id, merchant_id, env, amount, currency, method, status, description, metadata, card_brand, \
    card_last4, crypto_network, crypto_address, amount_received, failure_code, created_at, updated_at, confirmed_at, expires_at, amount_refunded, \
    crypto_token_contract, crypto_confirmations";
pub(super) const LISTING: keyset::Listing = keyset::Listing {
    table: "payments",
    columns: COLUMNS,
    sort_columns: keyset::money_sort_columns,
};

/// A payment row.
pub(super) struct Record {
    pub(super) id: String,
    pub(super) env: Environment,
    pub(super) amount: i64,
    pub(super) currency: String,
    pub(super) method: String,
    pub(super) status: String,
    pub(super) description: Option<String>,
    pub(super) metadata: String,
    pub(super) card_brand: Option<String>,
    pub(super) card_last4: Option<String>,
    pub(super) crypto_network: Option<String>,
    pub(super) crypto_address: Option<String>,
    /// `ethereum` payments: the token contract and confirmations required.
    pub(super) crypto_token_contract: Option<String>,
    pub(super) crypto_confirmations: Option<i64>,
    pub(super) amount_received: i64,
    pub(super) amount_refunded: i64,
    pub(super) failure_code: Option<String>,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
    pub(super) confirmed_at: Option<i64>,
    pub(super) expires_at: i64,
}

pub(super) fn record_from_row(row: &AnyRow) -> StoreResult<Record> {
    let env: String = row.try_get("env")?;
    Ok(Record {
        id: row.try_get("id")?,
        env: Environment::parse(&env).ok_or_else(|| StoreError::Corrupt("payments.env".to_owned()))?,
        amount: row.try_get("amount")?,
        currency: row.try_get("currency")?,
        method: row.try_get("method")?,
        status: row.try_get("status")?,
        description: row.try_get("description")?,
        metadata: row.try_get("metadata")?,
        card_brand: row.try_get("card_brand")?,
        card_last4: row.try_get("card_last4")?,
        crypto_network: row.try_get("crypto_network")?,
        crypto_address: row.try_get("crypto_address")?,
        crypto_token_contract: row.try_get("crypto_token_contract")?,
        crypto_confirmations: row.try_get("crypto_confirmations")?,
        amount_received: row.try_get("amount_received")?,
        amount_refunded: row.try_get("amount_refunded")?,
        failure_code: row.try_get("failure_code")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        confirmed_at: row.try_get("confirmed_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

impl Record {
    pub(super) fn to_api(&self) -> Payment {
        Payment {
            id: self.id.clone(),
            object: "payment".to_owned(),
            env: self.env,
            amount: self.amount,
            currency: self.currency.clone(),
            method: self.method.clone(),
            status: self.status.clone(),
            description: self.description.clone(),
            metadata: serde_json::from_str(&self.metadata).unwrap_or_default(),
            card: match (&self.card_brand, &self.card_last4) {
                (Some(brand), Some(last4)) => Some(CardSummary {
                    brand: brand.clone(),
                    last4: last4.clone(),
                }),
                _ => None,
            },
            crypto: match (&self.crypto_network, &self.crypto_address) {
                (Some(network), Some(address)) => Some(CryptoTarget {
                    network: network.clone(),
                    address: address.clone(),
                    token_contract: self.crypto_token_contract.clone(),
                    confirmations_required: self.crypto_confirmations.and_then(|c| u64::try_from(c).ok()),
                }),
                _ => None,
            },
            amount_received: self.amount_received,
            amount_refunded: self.amount_refunded,
            failure_code: self.failure_code.clone(),
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
            confirmed_at: self.confirmed_at.map(rfc3339),
            expires_at: rfc3339(self.expires_at),
        }
    }
}

pub(super) async fn insert(conn: &mut AnyConnection, merchant: &MerchantId, record: &Record) -> ApiResult<()> {
    let sql = format!(
        "INSERT INTO payments ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)"
    );
    sqlx::query(&sql)
        .bind(&record.id)
        .bind(merchant.as_str())
        .bind(record.env.as_str())
        .bind(record.amount)
        .bind(&record.currency)
        .bind(&record.method)
        .bind(&record.status)
        .bind(record.description.clone())
        .bind(&record.metadata)
        .bind(record.card_brand.clone())
        .bind(record.card_last4.clone())
        .bind(record.crypto_network.clone())
        .bind(record.crypto_address.clone())
        .bind(record.amount_received)
        .bind(record.failure_code.clone())
        .bind(record.created_at)
        .bind(record.updated_at)
        .bind(record.confirmed_at)
        .bind(record.expires_at)
        .bind(record.amount_refunded)
        .bind(record.crypto_token_contract.clone())
        .bind(record.crypto_confirmations)
        .execute(conn)
        .await?;
    Ok(())
}

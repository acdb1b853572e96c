//! The audit log: append-only, hash-chained rows for every authentication
//! decision and every change to keys, secrets, policy and payouts.
//!
//! Each row's hash is SHA-256 over its content and the previous row's hash;
//! the chain's end is kept in `audit_head`. [`verify`] walks the chain and
//! names the first row that was edited, removed or reordered.

use paygate_proto::{Environment, MerchantId};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row as _};

use crate::ids;
use crate::store::{Store, StoreError, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// One audit record. Never put a key, secret or token in it: `actor` is a
/// masked key prefix, an email or `operator`.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub merchant_id: Option<MerchantId>,
    pub env: Option<Environment>,
    pub action: String,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub actor: Option<String>,
    pub ip: Option<String>,
    pub details: Value,
}

impl AuditEntry {
    pub fn new(action: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            merchant_id: None,
            env: None,
            action: action.into(),
            outcome,
            reason: None,
            actor: None,
            ip: None,
            details: json!({}),
        }
    }

    pub fn merchant(mut self, merchant: &MerchantId, env: Environment) -> Self {
        self.merchant_id = Some(merchant.clone());
        self.env = Some(env);
        self
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    pub fn ip(mut self, ip: impl ToString) -> Self {
        self.ip = Some(ip.to_string());
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// The fields a row's hash covers, in a fixed, unambiguous encoding.
struct RowContent<'a> {
    seq: i64,
    id: &'a str,
    merchant_id: Option<&'a str>,
    env: Option<&'a str>,
    action: &'a str,
    outcome: &'a str,
    reason: Option<&'a str>,
    actor: Option<&'a str>,
    ip: Option<&'a str>,
    details: &'a str,
    created_at: i64,
    prev_hash: &'a str,
}

impl RowContent<'_> {
    fn hash(&self) -> String {
        let encoded = json!([
            self.seq,
            self.id,
            self.merchant_id,
            self.env,
            self.action,
            self.outcome,
            self.reason,
            self.actor,
            self.ip,
            self.details,
            self.created_at,
            self.prev_hash
        ]);
        hex::encode(Sha256::digest(encoded.to_string().as_bytes()))
    }
}

/// Appends `entry` inside the caller's transaction.
pub async fn record(conn: &mut AnyConnection, entry: &AuditEntry, now: i64) -> StoreResult<()> {
    // Advancing the head first takes its row lock, so chain writers queue.
    let head = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
        .fetch_one(&mut *conn)
        .await?;
    let seq: i64 = head.try_get("seq")?;
    let prev_hash: String = head.try_get("hash")?;
    let id = ids::new_id("aud");
    let details = entry.details.to_string();
    let merchant = entry.merchant_id.as_ref().map(MerchantId::as_str);
    let env = entry.env.map(Environment::as_str);
    let content = RowContent {
        seq,
        id: &id,
        merchant_id: merchant,
        env,
        action: &entry.action,
        outcome: entry.outcome.as_str(),
        reason: entry.reason.as_deref(),
        actor: entry.actor.as_deref(),
        ip: entry.ip.as_deref(),
        details: &details,
        created_at: now,
        prev_hash: &prev_hash,
    };
    let hash = content.hash();
    sqlx::query(
        "INSERT INTO audit_events (seq, id, merchant_id, env, action, outcome, reason, actor, ip, details, created_at, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(seq)
    .bind(&id)
    .bind(merchant)
    .bind(env)
    .bind(&entry.action)
    .bind(entry.outcome.as_str())
    .bind(entry.reason.as_deref())
    .bind(entry.actor.as_deref())
    .bind(entry.ip.as_deref())
    .bind(&details)
    .bind(now)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Appends many entries inside the caller's transaction: the same rows as
/// [`record`] one by one, with one head update and multi-row inserts.
pub async fn record_batch(conn: &mut AnyConnection, entries: &[(&AuditEntry, i64)]) -> StoreResult<()> {
    // sqlx binds `$N` by name, a linear search per parameter: keep statements small.
    const ROWS_PER_INSERT: usize = 16;
    let count = i64::try_from(entries.len()).map_err(|_| StoreError::Corrupt("batch size".to_owned()))?;
    if count == 0 {
        return Ok(());
    }
    let head = sqlx::query("UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash")
        .bind(count)
        .fetch_one(&mut *conn)
        .await?;
    let last_seq: i64 = head.try_get("seq")?;
    let mut prev_hash: String = head.try_get("hash")?;
    struct Row {
        seq: i64,
        id: String,
        details: String,
        prev_hash: String,
        hash: String,
    }
    let mut rows = Vec::with_capacity(entries.len());
    for (i, (entry, now)) in entries.iter().enumerate() {
        let seq = last_seq - count + 1 + i64::try_from(i).unwrap_or(0);
        let id = ids::new_id("aud");
        let details = entry.details.to_string();
        let hash = RowContent {
            seq,
            id: &id,
            merchant_id: entry.merchant_id.as_ref().map(MerchantId::as_str),
            env: entry.env.map(Environment::as_str),
            action: &entry.action,
            outcome: entry.outcome.as_str(),
            reason: entry.reason.as_deref(),
            actor: entry.actor.as_deref(),
            ip: entry.ip.as_deref(),
            details: &details,
            created_at: *now,
            prev_hash: &prev_hash,
        }
        .hash();
        rows.push(Row {
            seq,
            id,
            details,
            prev_hash: std::mem::replace(&mut prev_hash, hash.clone()),
            hash,
        });
    }
    for (chunk_rows, chunk_entries) in rows.chunks(ROWS_PER_INSERT).zip(entries.chunks(ROWS_PER_INSERT)) {
        let placeholders: Vec<String> = (0..chunk_rows.len())
            .map(|r| {
                let cols: Vec<String> = (1..=13).map(|c| format!("${}", r * 13 + c)).collect();
                format!("({})", cols.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO audit_events (seq, id, merchant_id, env, action, outcome, reason, actor, ip, details, created_at, prev_hash, hash) VALUES {}",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for (row, (entry, now)) in chunk_rows.iter().zip(chunk_entries) {
            query = query
                .bind(row.seq)
                .bind(&row.id)
                .bind(entry.merchant_id.as_ref().map(MerchantId::as_str))
                .bind(entry.env.map(Environment::as_str))
                .bind(&entry.action)
                .bind(entry.outcome.as_str())
                .bind(entry.reason.as_deref())
                .bind(entry.actor.as_deref())
                .bind(entry.ip.as_deref())
                .bind(&row.details)
                .bind(*now)
                .bind(&row.prev_hash)
                .bind(&row.hash);
        }
        query.execute(&mut *conn).await?;
    }
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&prev_hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Appends `entry` in a transaction of its own.
pub async fn record_alone(store: &Store, entry: &AuditEntry, now: i64) -> StoreResult<()> {
    let mut tx = store.begin_write().await?;
    record(tx.conn(), entry, now).await?;
    tx.commit().await
}

/// Deletes rows older than `cutoff` (Unix seconds) and moves the checkpoint
/// to the last deleted row, so the rest still verifies; the pruning itself is
/// audited. Returns how many rows were removed.
pub async fn prune(store: &Store, cutoff: i64, now: i64) -> StoreResult<u64> {
    let mut tx = store.begin_write().await?;
    let last = sqlx::query(
        "SELECT seq, hash FROM audit_events WHERE seq = (SELECT MAX(seq) FROM audit_events WHERE created_at < $1)",
    )
    .bind(cutoff)
    .fetch_optional(tx.conn())
    .await?;
    let Some(last) = last else { return Ok(0) };
    let through: i64 = last.try_get("seq")?;
    let hash: String = last.try_get("hash")?;
    let removed = sqlx::query("DELETE FROM audit_events WHERE seq <= $1")
        .bind(through)
        .execute(tx.conn())
        .await?;
    sqlx::query("UPDATE audit_checkpoint SET seq = $1, hash = $2, pruned_at = $3 WHERE id = 1")
        .bind(through)
        .bind(&hash)
        .bind(now)
        .execute(tx.conn())
        .await?;
    let removed = removed.rows_affected();
    let entry = AuditEntry::new("audit.pruned", Outcome::Success)
        .actor("operator")
        .details(json!({ "through_seq": through, "through_hash": hash, "rows": removed, "cutoff": cutoff }));
    record(tx.conn(), &entry, now).await?;
    tx.commit().await?;
    Ok(removed)
}

/// Every row from `since` (Unix seconds) on, oldest first, as JSON objects
/// for a SIEM.
pub async fn export(store: &Store, since: i64) -> StoreResult<Vec<Value>> {
    let rows = sqlx::query(
        "SELECT seq, id, merchant_id, env, action, outcome, reason, actor, ip, details, created_at, prev_hash, hash \
         FROM audit_events WHERE created_at >= $1 ORDER BY seq",
    )
    .bind(since)
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let details: String = row.try_get("details")?;
            Ok(json!({
                "seq": row.try_get::<i64, _>("seq")?,
                "id": row.try_get::<String, _>("id")?,
                "merchant_id": row.try_get::<Option<String>, _>("merchant_id")?,
                "env": row.try_get::<Option<String>, _>("env")?,
                "action": row.try_get::<String, _>("action")?,
                "outcome": row.try_get::<String, _>("outcome")?,
                "reason": row.try_get::<Option<String>, _>("reason")?,
                "actor": row.try_get::<Option<String>, _>("actor")?,
                "ip": row.try_get::<Option<String>, _>("ip")?,
                "details": serde_json::from_str::<Value>(&details).unwrap_or(Value::Null),
                "created_at": crate::clock::rfc3339(row.try_get("created_at")?),
                "prev_hash": row.try_get::<String, _>("prev_hash")?,
                "hash": row.try_get::<String, _>("hash")?,
            }))
        })
        .collect()
}

/// Prunes rows past the retention period once a day until `shutdown`.
pub async fn run_retention(state: crate::app::AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        let cutoff = state.now() - i64::from(state.config().audit.retention_days) * 86_400;
        match prune(state.store(), cutoff, state.now()).await {
            Ok(0) => {}
            Ok(rows) => tracing::info!(rows, "pruned audit rows past the retention period"),
            Err(err) => tracing::warn!(error = %err, "audit pruning failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(86_400)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Intact {
        rows: u64,
    },
    /// The first row (by sequence number) that does not fit the chain.
    Broken {
        seq: i64,
        problem: String,
    },
}

/// Walks the whole chain, oldest first.
pub async fn verify(store: &Store) -> StoreResult<Verdict> {
    let rows = sqlx::query(
        "SELECT seq, id, merchant_id, env, action, outcome, reason, actor, ip, details, created_at, prev_hash, hash \
         FROM audit_events ORDER BY seq",
    )
    .fetch_all(store.pool())
    .await?;
    // Pruning moves the start of the chain to its checkpoint.
    let checkpoint = sqlx::query("SELECT seq, hash FROM audit_checkpoint WHERE id = 1")
        .fetch_one(store.pool())
        .await?;
    let mut expected_seq: i64 = checkpoint.try_get::<i64, _>("seq")? + 1;
    let mut prev_hash: String = checkpoint.try_get("hash")?;
    for row in &rows {
        let seq: i64 = row.try_get("seq")?;
        let stored_prev: String = row.try_get("prev_hash")?;
        let stored_hash: String = row.try_get("hash")?;
        if seq != expected_seq {
            let problem = if seq < expected_seq {
                "row precedes the checkpoint"
            } else {
                "row is missing"
            };
            return Ok(Verdict::Broken {
                seq: expected_seq.min(seq),
                problem: problem.to_owned(),
            });
        }
        if stored_prev != prev_hash {
            return Ok(Verdict::Broken {
                seq,
                problem: "does not follow the previous row".to_owned(),
            });
        }
        let id: String = row.try_get("id")?;
        let merchant: Option<String> = row.try_get("merchant_id")?;
        let env: Option<String> = row.try_get("env")?;
        let action: String = row.try_get("action")?;
        let outcome: String = row.try_get("outcome")?;
        let reason: Option<String> = row.try_get("reason")?;
        let actor: Option<String> = row.try_get("actor")?;
        let ip: Option<String> = row.try_get("ip")?;
        let details: String = row.try_get("details")?;
        let content = RowContent {
            seq,
            id: &id,
            merchant_id: merchant.as_deref(),
            env: env.as_deref(),
            action: &action,
            outcome: &outcome,
            reason: reason.as_deref(),
            actor: actor.as_deref(),
            ip: ip.as_deref(),
            details: &details,
            created_at: row.try_get("created_at")?,
            prev_hash: &stored_prev,
        };
        if content.hash() != stored_hash {
            return Ok(Verdict::Broken {
                seq,
                problem: "content was altered".to_owned(),
            });
        }
        prev_hash = stored_hash;
        expected_seq = seq + 1;
    }
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(store.pool())
        .await?;
    let head_seq: i64 = head.try_get("seq")?;
    let head_hash: String = head.try_get("hash")?;
    let last_seq = expected_seq - 1;
    if head_seq != last_seq || head_hash != prev_hash {
        return Ok(Verdict::Broken {
            seq: last_seq + 1,
            problem: "rows after this point were removed".to_owned(),
        });
    }
    u64::try_from(rows.len())
        .map(|rows| Verdict::Intact { rows })
        .map_err(|_| StoreError::Corrupt("row count".to_owned()))
}

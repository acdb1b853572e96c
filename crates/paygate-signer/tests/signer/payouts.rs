//! Payouts signed by the signer and executed by anvil: both test tokens,
//! replays, fee bumps, caps (also across a restart) and the allowlist.

use std::path::Path;

use serde_json::{json, Value};

use crate::support::{anvil, ask, audit_entries, balance_of, command, init, mined, rpc, serve, serve_with_env, verify};
use crate::support::{Anvil, TestToken};

const DEST: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const OTHER: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
const GWEI: u128 = 1_000_000_000;

fn payout(id: &str, token: &str, to: &str, amount: u128, nonce: u64, max_fee_gwei: u128) -> Value {
    json!({
        "op": "sign_payout", "payout_id": id, "token": token, "to": to, "amount": amount.to_string(),
        "nonce": nonce, "gas_limit": 100_000,
        "max_fee_per_gas": (max_fee_gwei * GWEI).to_string(),
        "max_priority_fee_per_gas": (max_fee_gwei * GWEI / 2).to_string(),
    })
}

/// A signer holding both tokens and funded with gas and `tokens` of each.
struct Setup {
    chain: Anvil,
    usdc: String,
    usdt: String,
    hot: String,
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
}

async fn setup(tokens: u128) -> Option<Setup> {
    let chain = anvil().await?;
    let usdc = chain.deploy(TestToken::Usdc).await;
    let usdt = chain.deploy(TestToken::Usdt).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("signer");
    let hot = init(&dir);
    rpc(&chain.url, "anvil_setBalance", json!([hot, "0xde0b6b3a7640000"])).await;
    chain.mint(&usdc, &hot, tokens).await;
    chain.mint(&usdt, &hot, tokens).await;
    Some(Setup {
        chain,
        usdc,
        usdt,
        hot,
        _tmp: tmp,
        dir,
    })
}

impl Setup {
    fn policy<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut policy = vec!["--chain-id", "31337", "--token", &self.usdc, "--token", &self.usdt];
        policy.extend_from_slice(extra);
        policy
    }
}

fn refused(answer: &Value) -> &str {
    assert_eq!(answer["ok"], false, "not refused: {answer}");
    assert!(answer.get("raw_tx").is_none());
    answer["reason"].as_str().unwrap()
}

/// The audit log's payout decisions: (payout id, decision, reason).
fn payout_decisions(dir: &Path) -> Vec<(String, String, String)> {
    audit_entries(dir)
        .into_iter()
        .filter(|e| e["op"] == "sign_payout")
        .map(|e| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                text(&e["detail"]["payout_id"]),
                text(&e["decision"]),
                text(&e["detail"]["reason"]),
            )
        })
        .collect()
}

#[tokio::test]
async fn payouts_of_both_tokens_are_mined_and_the_same_id_returns_the_same_transaction() {
    let Some(s) = setup(10_000_000).await else { return };
    let url = s.chain.url.as_str();
    let caps = s.policy(&["--payout-cap", "5000000", "--daily-cap", "20000000"]);
    let (_signer, socket) = serve(&s.dir, &caps, false);

    let usdc = ask(&socket, &payout("po_usdc", &s.usdc, DEST, 1_250_000, 0, 20));
    assert_eq!(usdc["from"], s.hot.as_str());
    assert_eq!(usdc["to"].as_str().unwrap().to_lowercase(), s.usdc.to_lowercase());
    let again = ask(
        &socket,
        &payout("po_usdc", &s.usdc, &DEST.to_lowercase(), 1_250_000, 0, 20),
    );
    assert_eq!(again, usdc, "the same id and fields return the identical transaction");
    let hash = s.chain.send_raw(&usdc).await;
    assert_eq!(mined(url, &hash).await["status"], "0x1");
    assert_eq!(balance_of(url, &s.usdc, DEST).await, 1_250_000);

    // The USDT-like token, whose transfer returns nothing.
    let usdt = ask(&socket, &payout("po_usdt", &s.usdt, DEST, 2_000_000, 1, 20));
    let hash = s.chain.send_raw(&usdt).await;
    assert_eq!(mined(url, &hash).await["status"], "0x1");
    assert_eq!(balance_of(url, &s.usdt, DEST).await, 2_000_000);
    assert_eq!(balance_of(url, &s.usdt, &s.hot).await, 8_000_000);

    // Other fields under a used id are refused; asked again after mining, the same answer.
    for conflicting in [
        payout("po_usdc", &s.usdc, DEST, 1_250_001, 0, 20),
        payout("po_usdc", &s.usdc, OTHER, 1_250_000, 0, 20),
        payout("po_usdc", &s.usdc, DEST, 1_250_000, 2, 20),
        payout("po_usdc", &s.usdt, DEST, 1_250_000, 0, 20),
    ] {
        assert_eq!(refused(&ask(&socket, &conflicting)), "payout_conflict");
    }
    assert_eq!(ask(&socket, &payout("po_usdc", &s.usdc, DEST, 1_250_000, 0, 20)), usdc);
    let mut extra = payout("po_x", &s.usdc, DEST, 1, 2, 20);
    extra["chain_id"] = json!(1);
    assert_eq!(refused(&ask(&socket, &extra)), "unknown_intent");
    assert_eq!(
        refused(&ask(&socket, &payout("po_fee", &s.usdc, DEST, 1, 2, 501))),
        "fee_too_high"
    );
    assert_eq!(balance_of(url, &s.usdc, OTHER).await, 0);

    let decisions = payout_decisions(&s.dir);
    assert_eq!(decisions.iter().filter(|d| d.1 == "allowed").count(), 4);
    assert_eq!(decisions.iter().filter(|d| d.2 == "payout_conflict").count(), 4);
    assert!(verify(&s.dir).status.success());
}

#[tokio::test]
async fn a_fee_bump_is_mined_in_place_of_the_first_transaction_with_the_same_nonce() {
    let Some(s) = setup(10_000_000).await else { return };
    let url = s.chain.url.as_str();
    let (_signer, socket) = serve(
        &s.dir,
        &s.policy(&["--payout-cap", "5000000", "--daily-cap", "5000000"]),
        false,
    );
    rpc(url, "evm_setAutomine", json!([false])).await;

    let first = ask(&socket, &payout("po_1", &s.usdt, DEST, 5_000_000, 0, 2));
    s.chain.send_raw(&first).await;
    // Same id, token, destination, amount and nonce, higher fees: a replacement,
    // even though the daily cap is already spent by this very payout.
    let bumped = ask(&socket, &payout("po_1", &s.usdt, DEST, 5_000_000, 0, 4));
    assert_ne!(bumped["tx_hash"], first["tx_hash"]);
    let bumped_hash = s.chain.send_raw(&bumped).await;
    // A lower fee than the latest is not a bump.
    assert_eq!(
        refused(&ask(&socket, &payout("po_1", &s.usdt, DEST, 5_000_000, 0, 3))),
        "payout_conflict"
    );
    rpc(url, "evm_mine", json!([])).await;

    let receipt = mined(url, &bumped_hash).await;
    assert_eq!(receipt["status"], "0x1");
    let tx = rpc(url, "eth_getTransactionByHash", json!([bumped_hash])).await;
    assert_eq!(tx["nonce"], "0x0");
    let first_hash = first["tx_hash"].as_str().unwrap();
    assert!(rpc(url, "eth_getTransactionReceipt", json!([first_hash]))
        .await
        .is_null());
    assert_eq!(balance_of(url, &s.usdt, DEST).await, 5_000_000, "paid once");
    let decisions = payout_decisions(&s.dir);
    assert_eq!(decisions.iter().filter(|d| d.1 == "allowed").count(), 2);
}

#[tokio::test]
async fn caps_refuse_are_audited_and_the_daily_cap_survives_a_restart() {
    let Some(s) = setup(10_000_000).await else { return };
    let url = s.chain.url.as_str();
    let caps = s.policy(&["--payout-cap", "1000000", "--daily-cap", "1500000"]);
    let (signer, socket) = serve(&s.dir, &caps, false);

    assert_eq!(
        refused(&ask(&socket, &payout("po_big", &s.usdc, OTHER, 1_000_001, 0, 20))),
        "over_payout_cap"
    );
    let paid = ask(&socket, &payout("po_a", &s.usdc, DEST, 1_000_000, 0, 20));
    let hash = s.chain.send_raw(&paid).await;
    assert_eq!(mined(url, &hash).await["status"], "0x1");
    assert_eq!(
        refused(&ask(&socket, &payout("po_b", &s.usdc, OTHER, 600_000, 1, 20))),
        "over_daily_cap"
    );
    // The other token has its own day.
    let usdt = ask(&socket, &payout("po_t", &s.usdt, DEST, 1_000_000, 1, 20));
    let hash = s.chain.send_raw(&usdt).await;
    assert_eq!(mined(url, &hash).await["status"], "0x1");

    // Restarted (and configured through the environment this time), the day is remembered.
    drop(signer);
    let env = [
        ("PAYGATE_SIGNER__PAYOUT_CAP", "1000000"),
        ("PAYGATE_SIGNER__DAILY_CAP", "1500000"),
        ("PAYGATE_SIGNER__MAX_FEE_PER_GAS_GWEI", "100"),
    ];
    let (_signer, socket) = serve_with_env(&s.dir, &s.policy(&[]), false, &env);
    assert_eq!(
        refused(&ask(&socket, &payout("po_b", &s.usdc, OTHER, 600_000, 1, 20))),
        "over_daily_cap"
    );
    assert_eq!(
        refused(&ask(&socket, &payout("po_f", &s.usdc, OTHER, 1, 1, 101))),
        "fee_too_high"
    );
    assert_eq!(ask(&socket, &payout("po_a", &s.usdc, DEST, 1_000_000, 0, 20)), paid);
    let rest = ask(&socket, &payout("po_c", &s.usdc, DEST, 500_000, 2, 20));
    let hash = s.chain.send_raw(&rest).await;
    assert_eq!(mined(url, &hash).await["status"], "0x1");
    assert_eq!(
        refused(&ask(&socket, &payout("po_d", &s.usdc, OTHER, 1, 3, 20))),
        "over_daily_cap"
    );

    assert_eq!(balance_of(url, &s.usdc, DEST).await, 1_500_000);
    assert_eq!(
        balance_of(url, &s.usdc, OTHER).await,
        0,
        "no refused payout moved anything"
    );
    let refusals: Vec<(String, String)> = payout_decisions(&s.dir)
        .into_iter()
        .filter(|d| d.1 == "refused")
        .map(|d| (d.0, d.2))
        .collect();
    let expected = [
        ("po_big", "over_payout_cap"),
        ("po_b", "over_daily_cap"),
        ("po_b", "over_daily_cap"),
        ("po_f", "fee_too_high"),
        ("po_d", "over_daily_cap"),
    ];
    assert_eq!(
        refusals,
        expected.map(|(id, reason)| (id.to_owned(), reason.to_owned()))
    );
    assert!(verify(&s.dir).status.success());
}

#[tokio::test]
async fn allowlist_only_refuses_unknown_addresses_until_the_operator_allows_them() {
    let Some(s) = setup(10_000_000).await else { return };
    let url = s.chain.url.as_str();
    let policy = s.policy(&["--payout-cap", "1000000", "--daily-cap", "5000000"]);
    let env = [("PAYGATE_SIGNER__ALLOWLIST_ONLY", "true")];
    let (_signer, socket) = serve_with_env(&s.dir, &policy, false, &env);
    let attest = |dir: &Path| {
        let mut args = vec!["attest", "--json", "--allowlist-only"];
        args.extend_from_slice(&policy);
        let out = command(dir, &args);
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["policy_sha256"].clone()
    };
    let before = attest(&s.dir);

    let request = payout("po_1", &s.usdc, DEST, 700_000, 0, 20);
    assert_eq!(refused(&ask(&socket, &request)), "not_allowlisted");
    assert_eq!(balance_of(url, &s.usdc, DEST).await, 0);

    assert!(command(&s.dir, &["allow", "not-an-address"]).status.code() != Some(0));
    let out = command(&s.dir, &["allow", &DEST.to_lowercase()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = command(&s.dir, &["allowlist"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{DEST}\n"));
    assert_ne!(attest(&s.dir), before, "the attested policy covers the allowlist");

    // The running signer takes the new allowlist at once.
    let signed = ask(&socket, &request);
    let hash = s.chain.send_raw(&signed).await;
    assert_eq!(mined(url, &hash).await["status"], "0x1");
    assert_eq!(balance_of(url, &s.usdc, DEST).await, 700_000);
    assert_eq!(
        refused(&ask(&socket, &payout("po_2", &s.usdc, OTHER, 1, 1, 20))),
        "not_allowlisted"
    );

    assert!(command(&s.dir, &["disallow", DEST]).status.success());
    assert_eq!(
        refused(&ask(&socket, &payout("po_3", &s.usdc, DEST, 1, 1, 20))),
        "not_allowlisted"
    );
    assert_eq!(attest(&s.dir), before);
    let decisions = payout_decisions(&s.dir);
    let reasons: Vec<&str> = decisions.iter().map(|d| d.2.as_str()).collect();
    assert_eq!(reasons, ["not_allowlisted", "", "not_allowlisted", "not_allowlisted"]);
    // The operator's changes are in the same hash chain as the running signer's decisions.
    let ops: Vec<String> = audit_entries(&s.dir)
        .iter()
        .filter(|e| e["op"] != "sign_payout")
        .map(|e| {
            format!(
                "{} {}",
                e["op"].as_str().unwrap(),
                e["detail"]["address"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(ops, [format!("allow {DEST}"), format!("disallow {DEST}")]);
    assert!(verify(&s.dir).status.success());
}

//! Unit tests of the signer's policy decisions.
use super::*;

const TOKEN: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

fn policy() -> Policy {
    Policy {
        chain_id: 31337,
        tokens: vec![Address::parse(TOKEN).unwrap()],
        max_fee_per_gas_gwei: 100,
        max_gas_limit: 100_000,
        max_topup_wei: 1_000_000,
        allowed_uids: Vec::new(),
        payout_cap: 0,
        daily_cap: 0,
        allowlist_only: false,
    }
}

fn seed() -> Seed {
    Seed::from_bytes(vec![3u8; 32]).unwrap()
}

fn intent(text: &str) -> Intent {
    serde_json::from_str(text).unwrap()
}

fn sweep(token: &str, amount: &str, fee: &str, gas: u64) -> Intent {
    intent(&format!(
        r#"{{"op":"sign_sweep","index":4,"token":"{token}","amount":"{amount}","nonce":0,"gas_limit":{gas},"max_fee_per_gas":"{fee}","max_priority_fee_per_gas":"1"}}"#
    ))
}

#[test]
fn a_sweep_within_policy_is_signed_from_the_deposit_key_to_the_token() {
    let seed = seed();
    let out = policy()
        .decide(&seed, &sweep(TOKEN, "2500000", "2000000000", 60_000))
        .unwrap();
    let Outcome::Signed { from, to, raw, .. } = out else {
        panic!("not signed")
    };
    assert_eq!(from, seed.address(KeyPath::Deposit(4)).unwrap());
    assert_eq!(to, Address::parse(TOKEN).unwrap());
    assert_eq!(raw[0], 0x02);
    // The hot wallet is the transfer's recipient inside the call data.
    let hot = seed.address(KeyPath::HotWallet).unwrap();
    assert!(raw.windows(20).any(|w| w == hot.0));
}

#[test]
fn sweeps_outside_policy_are_refused() {
    let seed = seed();
    let p = policy();
    let other = "0x0000000000000000000000000000000000000001";
    assert_eq!(p.decide(&seed, &sweep(other, "1", "1", 60_000)), Err(Refusal::Token));
    assert_eq!(p.decide(&seed, &sweep(TOKEN, "0", "1", 60_000)), Err(Refusal::Amount));
    assert_eq!(p.decide(&seed, &sweep(TOKEN, "-1", "1", 60_000)), Err(Refusal::Amount));
    assert_eq!(p.decide(&seed, &sweep(TOKEN, "1.5", "1", 60_000)), Err(Refusal::Amount));
    assert_eq!(
        p.decide(&seed, &sweep(TOKEN, "1", "100000000001", 60_000)),
        Err(Refusal::Fee)
    );
    assert_eq!(
        p.decide(&seed, &sweep(TOKEN, "1", "1", 100_001)),
        Err(Refusal::GasLimit)
    );
}

#[test]
fn top_ups_are_capped_and_go_only_to_deposit_addresses() {
    let seed = seed();
    let p = policy();
    let topup = |value: &str, gas: u64| {
        intent(&format!(
            r#"{{"op":"sign_gas_topup","index":2,"value_wei":"{value}","nonce":7,"gas_limit":{gas},"max_fee_per_gas":"10","max_priority_fee_per_gas":"1"}}"#
        ))
    };
    let Outcome::Signed { from, to, .. } = p.decide(&seed, &topup("1000000", 21_000)).unwrap() else {
        panic!()
    };
    assert_eq!(from, seed.address(KeyPath::HotWallet).unwrap());
    assert_eq!(to, seed.address(KeyPath::Deposit(2)).unwrap());
    assert_eq!(p.decide(&seed, &topup("1000001", 21_000)), Err(Refusal::Topup));
    assert_eq!(p.decide(&seed, &topup("1", 50_000)), Err(Refusal::GasLimit));
}

#[test]
fn no_intent_takes_bytes_or_a_destination_or_returns_a_key() {
    for line in [
        r#"{"op":"sign_bytes","data":"0x00"}"#,
        r#"{"op":"sign_transaction","raw":"0x02"}"#,
        r#"{"op":"export_key","index":0}"#,
        r#"{"op":"sign_sweep","index":1,"token":"0x5FbDB2315678afecb367f032d93F642f64180aa3","amount":"1","to":"0x0000000000000000000000000000000000000001","nonce":0,"gas_limit":60000,"max_fee_per_gas":"1","max_priority_fee_per_gas":"1"}"#,
        r#"{"op":"sign_gas_topup","index":1,"value_wei":"1","data":"0x00","nonce":0,"gas_limit":21000,"max_fee_per_gas":"1","max_priority_fee_per_gas":"1"}"#,
    ] {
        assert!(serde_json::from_str::<Intent>(line).is_err(), "{line} must not parse");
    }
}

#[test]
fn the_policy_hash_changes_with_the_policy() {
    let mut p = policy();
    let before = p.sha256(&[]);
    p.max_topup_wei += 1;
    assert_ne!(before, p.sha256(&[]));
    let flags = p.sha256(&[]);
    for change in [
        |p: &mut Policy| p.payout_cap += 1,
        |p: &mut Policy| p.daily_cap += 1,
        |p: &mut Policy| p.allowlist_only = true,
    ] {
        let mut changed = p.clone();
        change(&mut changed);
        assert_ne!(changed.sha256(&[]), flags);
    }
    assert_ne!(p.sha256(&[Address([9u8; 20])]), flags, "the allowlist is attested");
}

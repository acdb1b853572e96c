//! Unit tests of the payout policy: pure decisions against an in-memory book.
use super::*;
use crate::policy::Intent;

const TOKEN: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const OTHER_TOKEN: &str = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";
const DEST: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const NOW: i64 = 1_800_000_000;

fn policy() -> Policy {
    Policy {
        chain_id: 31337,
        tokens: vec![Address::parse(TOKEN).unwrap(), Address::parse(OTHER_TOKEN).unwrap()],
        max_fee_per_gas_gwei: 100,
        max_gas_limit: 100_000,
        max_topup_wei: 1_000_000,
        allowed_uids: Vec::new(),
        payout_cap: 1_000,
        daily_cap: 2_500,
        allowlist_only: false,
    }
}

fn seed() -> Seed {
    Seed::from_bytes(vec![3u8; 32]).unwrap()
}

fn payout(id: &str, amount: &str, fee: &str) -> PayoutIntent {
    let line = format!(
        r#"{{"op":"sign_payout","payout_id":"{id}","token":"{TOKEN}","to":"{DEST}","amount":"{amount}","nonce":3,"gas_limit":60000,"max_fee_per_gas":"{fee}","max_priority_fee_per_gas":"1000"}}"#
    );
    match serde_json::from_str::<Intent>(&line).unwrap() {
        Intent::SignPayout(intent) => intent,
        other => panic!("parsed as {}", other.name()),
    }
}

/// Decides and, as the signer does, records what was newly signed.
fn run(
    p: &Policy,
    book: &mut PayoutBook,
    allow: &BTreeSet<Address>,
    intent: &PayoutIntent,
    now: i64,
) -> Result<PayoutDecision, Refusal> {
    let decision = decide(p, &seed(), book, allow, intent, now)?;
    if let PayoutDecision::Signed { record, .. } = &decision {
        book.insert(record.clone());
    }
    Ok(decision)
}

fn signed(decision: Result<PayoutDecision, Refusal>) -> PayoutRecord {
    match decision {
        Ok(PayoutDecision::Signed { record, .. }) => record,
        other => panic!("not newly signed: {other:?}"),
    }
}

#[test]
fn a_payout_is_a_token_transfer_from_the_hot_wallet_on_the_pinned_chain() {
    let seed = seed();
    let record = signed(decide(
        &policy(),
        &seed,
        &PayoutBook::default(),
        &BTreeSet::new(),
        &payout("po_1", "700", "2000"),
        NOW,
    ));
    let Some(Outcome::Signed { from, to, raw, hash }) = record.outcome() else {
        panic!("no outcome")
    };
    assert_eq!(from, seed.address(KeyPath::HotWallet).unwrap());
    assert_eq!(to, Address::parse(TOKEN).unwrap());
    assert_eq!(raw[0], 0x02);
    assert_eq!(hash, crate::eth::keccak256(&raw));
    let data = erc20_transfer_data(&Address::parse(DEST).unwrap(), 700);
    assert!(raw.windows(data.len()).any(|w| w == data.as_slice()));
    // chain id 31337 (0x7a69) opens the RLP list.
    assert_eq!(&raw[3..6], &[0x82, 0x7a, 0x69]);
    assert_eq!(
        (record.payout.nonce, record.first_at, record.payout.to.as_str()),
        (3, NOW, DEST)
    );
}

#[test]
fn the_same_id_and_fields_replay_the_same_transaction_and_others_conflict() {
    let p = policy();
    let mut book = PayoutBook::default();
    let none = BTreeSet::new();
    let first = signed(run(&p, &mut book, &none, &payout("po_1", "700", "2000"), NOW));
    // The same fields, even spelled otherwise (lowercase address, leading zero).
    let mut again = payout("po_1", "0700", "2000");
    again.to = DEST.to_lowercase();
    assert_eq!(
        run(&p, &mut book, &none, &again, NOW + 5),
        Ok(PayoutDecision::Replay(first.clone()))
    );

    let mut other_to = payout("po_1", "700", "2000");
    other_to.to = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC".into();
    let mut other_nonce = payout("po_1", "700", "3000");
    other_nonce.nonce = 4;
    let mut other_token = payout("po_1", "700", "3000");
    other_token.token = OTHER_TOKEN.into();
    let mut other_gas = payout("po_1", "700", "3000");
    other_gas.gas_limit = 70_000;
    for conflicting in [
        payout("po_1", "701", "2000"),
        payout("po_1", "700", "1999"),
        other_to,
        other_nonce,
        other_token,
        other_gas,
    ] {
        assert_eq!(run(&p, &mut book, &none, &conflicting, NOW), Err(Refusal::Conflict));
    }
    assert_eq!(book.versions("po_1").len(), 1);
}

#[test]
fn a_fee_bump_replaces_with_the_same_nonce_and_counts_once() {
    let mut p = policy();
    p.daily_cap = 1_000;
    let mut book = PayoutBook::default();
    let none = BTreeSet::new();
    let first = signed(run(&p, &mut book, &none, &payout("po_1", "1000", "2000"), NOW));
    let bump = run(&p, &mut book, &none, &payout("po_1", "1000", "4000"), NOW + 60);
    let Ok(PayoutDecision::Signed {
        record: bumped,
        replacement: true,
    }) = bump
    else {
        panic!("not a replacement: {bump:?}")
    };
    assert_eq!((bumped.payout.nonce, bumped.first_at), (first.payout.nonce, NOW));
    assert_ne!(bumped.tx_hash, first.tx_hash);
    // Both versions replay; the cap saw 1,000 once, so it is now spent.
    assert_eq!(
        run(&p, &mut book, &none, &payout("po_1", "1000", "2000"), NOW),
        Ok(PayoutDecision::Replay(first))
    );
    assert_eq!(
        run(&p, &mut book, &none, &payout("po_1", "1000", "4000"), NOW),
        Ok(PayoutDecision::Replay(bumped))
    );
    assert_eq!(book.spent_since(TOKEN, NOW - DAY_SECONDS), 1_000);
    assert_eq!(
        run(&p, &mut book, &none, &payout("po_2", "1", "2000"), NOW),
        Err(Refusal::DailyCap)
    );
    // A fee between the two versions is not a bump of the latest; above the ceiling is refused.
    assert_eq!(
        run(&p, &mut book, &none, &payout("po_1", "1000", "3000"), NOW),
        Err(Refusal::Conflict)
    );
    assert_eq!(
        run(&p, &mut book, &none, &payout("po_1", "1000", "100000000001"), NOW),
        Err(Refusal::Fee)
    );
}

#[test]
fn caps_hold_per_payout_and_per_token_over_a_rolling_day() {
    let p = policy();
    let mut book = PayoutBook::default();
    let none = BTreeSet::new();
    assert_eq!(
        run(&p, &mut book, &none, &payout("po_big", "1001", "2000"), NOW),
        Err(Refusal::PayoutCap)
    );
    signed(run(
        &p,
        &mut book,
        &none,
        &payout("po_1", "1000", "2000"),
        NOW - DAY_SECONDS + 10,
    ));
    signed(run(&p, &mut book, &none, &payout("po_2", "1000", "2000"), NOW));
    signed(run(&p, &mut book, &none, &payout("po_3", "500", "2000"), NOW));
    assert_eq!(
        run(&p, &mut book, &none, &payout("po_4", "1", "2000"), NOW),
        Err(Refusal::DailyCap)
    );
    // Another token has its own day.
    let mut usdt = payout("po_5", "1000", "2000");
    usdt.token = OTHER_TOKEN.into();
    signed(run(&p, &mut book, &none, &usdt, NOW));
    // Once the first payout leaves the window, 1,000 is free again.
    assert_eq!(
        run(&p, &mut book, &none, &payout("po_4", "1001", "2000"), NOW + 10),
        Err(Refusal::PayoutCap)
    );
    signed(run(&p, &mut book, &none, &payout("po_4", "1000", "2000"), NOW + 10));
    // Default deny: no caps configured, no payout.
    let mut closed = policy();
    for (payout_cap, refusal) in [(0, Refusal::PayoutCap), (10, Refusal::DailyCap)] {
        (closed.payout_cap, closed.daily_cap) = (payout_cap, 0);
        let intent = payout("po_1", "1", "2000");
        assert_eq!(
            run(&closed, &mut PayoutBook::default(), &none, &intent, NOW),
            Err(refusal)
        );
    }
}

#[test]
fn a_repeated_request_gets_its_transaction_even_under_a_tighter_policy() {
    let mut p = policy();
    let mut book = PayoutBook::default();
    let first = signed(run(
        &p,
        &mut book,
        &BTreeSet::new(),
        &payout("po_1", "700", "2000"),
        NOW,
    ));
    (p.payout_cap, p.daily_cap, p.max_fee_per_gas_gwei, p.allowlist_only) = (1, 1, 0, true);
    p.tokens.clear();
    let again = run(&p, &mut book, &BTreeSet::new(), &payout("po_1", "700", "2000"), NOW + 1);
    assert_eq!(again, Ok(PayoutDecision::Replay(first)));
    // A bump is a new signature: the policy in force decides it.
    let bump = run(&p, &mut book, &BTreeSet::new(), &payout("po_1", "700", "4000"), NOW + 1);
    assert_eq!(bump, Err(Refusal::Token));
}

#[test]
fn allowlist_only_pays_only_allowed_destinations() {
    let mut p = policy();
    p.allowlist_only = true;
    let mut book = PayoutBook::default();
    let intent = payout("po_1", "10", "2000");
    assert_eq!(
        run(&p, &mut book, &BTreeSet::new(), &intent, NOW),
        Err(Refusal::NotAllowlisted)
    );
    let other = BTreeSet::from([Address([7u8; 20])]);
    assert_eq!(run(&p, &mut book, &other, &intent, NOW), Err(Refusal::NotAllowlisted));
    let allowed = BTreeSet::from([Address::parse(DEST).unwrap()]);
    signed(run(&p, &mut book, &allowed, &intent, NOW));
}

#[test]
fn malformed_payouts_are_refused_with_their_reason() {
    let p = policy();
    let book = PayoutBook::default();
    let none = BTreeSet::new();
    let check = |intent: PayoutIntent| decide(&p, &seed(), &book, &none, &intent, NOW);
    let with = |f: fn(&mut PayoutIntent)| {
        let mut intent = payout("po_1", "10", "2000");
        f(&mut intent);
        intent
    };
    assert_eq!(check(payout("", "10", "2000")), Err(Refusal::PayoutId));
    assert_eq!(check(payout("po 1", "10", "2000")), Err(Refusal::PayoutId));
    assert_eq!(check(payout(&"x".repeat(129), "10", "2000")), Err(Refusal::PayoutId));
    assert_eq!(check(payout("po_1", "0", "2000")), Err(Refusal::Amount));
    assert_eq!(check(payout("po_1", "1.5", "2000")), Err(Refusal::Amount));
    assert_eq!(check(with(|i| i.token = DEST.into())), Err(Refusal::Token));
    assert_eq!(
        check(with(|i| i.to = "0x0000000000000000000000000000000000000000".into())),
        Err(Refusal::Destination)
    );
    assert_eq!(check(with(|i| i.to = TOKEN.into())), Err(Refusal::Destination));
    // A mixed-case address with a wrong checksum.
    assert_eq!(
        check(with(|i| i.to = "0x70997970c51812dc3A010C7d01b50e0d17dc79C8".into())),
        Err(Refusal::Destination)
    );
    assert_eq!(check(with(|i| i.gas_limit = 20_000)), Err(Refusal::GasLimit));
    assert_eq!(
        check(with(|i| i.max_priority_fee_per_gas = "2001".into())),
        Err(Refusal::Fee)
    );
    let hot = seed().address(KeyPath::HotWallet).unwrap().checksummed();
    let mut to_hot = payout("po_1", "10", "2000");
    to_hot.to = hot;
    assert_eq!(check(to_hot), Err(Refusal::Destination));
}

#[test]
fn a_payout_with_an_unknown_or_missing_field_does_not_parse() {
    let valid = serde_json::json!({"op": "sign_payout", "payout_id": "p", "token": TOKEN, "to": DEST, "amount": "1",
        "nonce": 0, "gas_limit": 60000, "max_fee_per_gas": "1", "max_priority_fee_per_gas": "1"});
    assert!(serde_json::from_value::<Intent>(valid.clone()).is_ok());
    for (key, value) in [
        ("chain_id", Some(serde_json::json!(1))),
        ("data", Some(serde_json::json!("0x"))),
        ("to", None),
    ] {
        let mut line = valid.clone();
        match value {
            Some(value) => line[key] = value,
            None => drop(line.as_object_mut().unwrap().remove(key)),
        }
        assert!(
            serde_json::from_value::<Intent>(line.clone()).is_err(),
            "{line} must not parse"
        );
    }
}

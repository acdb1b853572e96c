//! Every typed route of the client against the real server, so the shapes of
//! `paygate-proto` and the server's answers cannot drift apart unnoticed.

use std::time::Duration;

use futures_util::TryStreamExt as _;
use paygate_sdk::proto::auth::{RollApiKey, UpdateSecurityPolicy};
use paygate_sdk::proto::checkout::CreateCheckoutSession;
use paygate_sdk::proto::payments::{
    CardDetails, CreatePayment, CreateWithdrawal, Destination, GenerateAddress, TestDeposit,
};
use paygate_sdk::proto::types::CreateApiKey;
use paygate_sdk::proto::webhooks::{CreateWebhookEndpoint, Redeliver};
use paygate_sdk::proto::ErrorCode;
use paygate_sdk::{Client, ListParams, Order};

use crate::support;

fn payment(amount: i64, card: Option<&str>) -> CreatePayment {
    CreatePayment {
        amount,
        currency: "USD".to_owned(),
        method: "card".to_owned(),
        description: Some("routes".to_owned()),
        metadata: None,
        card: card.map(|number| CardDetails {
            number: number.to_owned(),
            exp_month: 12,
            exp_year: 2099,
            cvc: "123".to_owned(),
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_wallets_withdrawals_checkout_and_realtime() {
    let server = support::start().await;
    let client = server.signed();
    assert_eq!(client.health().await.unwrap().status, "ok");
    assert_eq!(client.readiness().await.unwrap().status, "ready");
    let mut socket = client.realtime(&Default::default()).await.unwrap();

    let paid = client
        .create_payment(&payment(5000, Some("4242424242424242")))
        .await
        .unwrap();
    assert_eq!(paid.status, "succeeded");
    let pushed = tokio::time::timeout(Duration::from_secs(10), socket.next_event())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        pushed.event.event_type.starts_with("payment."),
        "{}",
        pushed.event.event_type
    );
    assert_eq!(client.payment(&paid.id).await.unwrap(), paid);
    let open = client.create_payment(&payment(700, None)).await.unwrap();
    assert_eq!(client.cancel_payment(&open.id).await.unwrap().status, "canceled");
    // Two pages of one; both created in the same second, so their order
    // is by ID: compare as sets.
    let mut pager = client.list_payments(&ListParams::default().limit(1).order(Order::Asc));
    let (mut pages, mut listed) = (0, Vec::new());
    while let Some(page) = pager.next_page().await.unwrap() {
        pages += 1;
        listed.extend(page.data.into_iter().map(|p| p.id));
    }
    let mut expected = vec![paid.id.clone(), open.id.clone()];
    expected.sort();
    listed.sort();
    assert_eq!((pages, listed), (2, expected));
    assert_eq!(client.balance().await.unwrap().balances["USD"].available, 5000);

    let address = client
        .generate_address(&GenerateAddress {
            network: "bitcoin".to_owned(),
        })
        .await
        .unwrap();
    let deposit = client
        .test_deposit(&TestDeposit {
            address: address.address.clone(),
            amount: 10_000,
        })
        .await
        .unwrap();
    assert_eq!(deposit.address, address.address);

    let bank = Destination::Bank {
        iban: "DE89370400440532013000".to_owned(),
        name: "Ada Lovelace".to_owned(),
    };
    let withdraw = |amount| CreateWithdrawal {
        amount,
        currency: "USD".to_owned(),
        destination: bank.clone(),
    };
    let first = client.create_withdrawal(&withdraw(1000)).await.unwrap();
    let second = client.create_withdrawal(&withdraw(500)).await.unwrap();
    assert_eq!(client.withdrawal(&first.id).await.unwrap().status, "pending_approval");
    assert_ne!(
        client.approve_withdrawal(&first.id).await.unwrap().status,
        "pending_approval"
    );
    assert_eq!(client.reject_withdrawal(&second.id).await.unwrap().status, "rejected");
    let again = client.reject_withdrawal(&second.id).await.unwrap_err();
    assert_eq!(again.code(), Some(ErrorCode::InvalidState));
    assert!(again.request_id().unwrap().starts_with("req_"));
    assert_eq!(
        client
            .list_withdrawals(&ListParams::default())
            .page()
            .await
            .unwrap()
            .data
            .len(),
        2
    );
    let too_much = client.create_withdrawal(&withdraw(1_000_000)).await.unwrap_err();
    assert_eq!(too_much.code(), Some(ErrorCode::InsufficientFunds));

    let checkout = client
        .create_checkout_session(&CreateCheckoutSession {
            amount: 1200,
            currency: "EUR".to_owned(),
            methods: None,
            expires_in: None,
        })
        .await
        .unwrap();
    assert!(checkout.session_token.starts_with("cst_"));
    assert!(!format!("{checkout:?}").contains(&checkout.session_token));
    assert_eq!(
        client.checkout_session(&checkout.session.id).await.unwrap().status,
        "open"
    );
    assert!(
        client.payment("../balance").await.is_err(),
        "an ID cannot change the route"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_policy_sessions_webhooks_events_audit_and_leaks() {
    let server = support::start().await;
    let client = server.signed();

    let issued = client
        .create_api_key(&CreateApiKey {
            name: "ci".to_owned(),
            scopes: Some(vec!["payments:read".to_owned()]),
            allowed_ips: None,
        })
        .await
        .unwrap();
    assert!(!format!("{issued:?}").contains(&issued.key));
    let keys = client.list_api_keys(&ListParams::default()).page().await.unwrap();
    assert!(keys.data.iter().any(|k| k.id == issued.info.id));
    let rolled = client
        .roll_api_key(&issued.info.id, &RollApiKey { expire_old_in: Some(0) })
        .await
        .unwrap();
    let narrow = server.builder().api_key(&rolled.key).build().unwrap();
    narrow.balance().await.unwrap();
    let denied = narrow.create_payment(&payment(100, None)).await.unwrap_err();
    assert_eq!(denied.code(), Some(ErrorCode::InsufficientScope));
    client.revoke_api_key(&rolled.info.id).await.unwrap();
    assert_eq!(
        narrow.balance().await.unwrap_err().code(),
        Some(ErrorCode::InvalidApiKey)
    );
    // A leaked (here already revoked) key: the same answer whatever the key.
    assert!(client.report_leaked_key(&rolled.key).await.unwrap().received);

    let unsigned = server.builder().build().unwrap();
    let needs_secret = unsigned
        .create_api_key(&CreateApiKey {
            name: "x".to_owned(),
            scopes: None,
            allowed_ips: None,
        })
        .await
        .unwrap_err();
    assert_eq!(needs_secret.code(), Some(ErrorCode::ApiSecretRequired));

    let policy = client
        .update_security_policy(&UpdateSecurityPolicy {
            require_signature: Some(true),
            require_token: None,
        })
        .await
        .unwrap();
    assert!(policy.require_signature);
    assert_eq!(client.security_policy().await.unwrap(), policy);
    assert_eq!(
        unsigned.balance().await.unwrap_err().code(),
        Some(ErrorCode::SignatureRequired)
    );

    let tokens: Client = server
        .builder()
        .api_secret(&server.secret)
        .access_tokens()
        .build()
        .unwrap();
    let session = tokens.exchange_token().await.unwrap();
    assert!(!format!("{session:?}").contains(&session.access_token));
    tokens.end_session(&session.session_id).await.unwrap();

    let endpoint = client
        .create_webhook_endpoint(&CreateWebhookEndpoint {
            url: "https://example.com/hook".to_owned(),
            events: vec!["payment.succeeded".to_owned()],
            description: None,
        })
        .await
        .unwrap();
    assert!(endpoint.secret.starts_with("whsec_") && !endpoint.secret.contains('*'));
    assert!(client
        .webhook_endpoint(&endpoint.id)
        .await
        .unwrap()
        .secret
        .contains("****"));
    let rotated = client.rotate_webhook_secret(&endpoint.id).await.unwrap();
    assert_ne!(rotated.secret, endpoint.secret);
    assert_eq!(
        client
            .list_webhook_endpoints(&ListParams::default())
            .page()
            .await
            .unwrap()
            .data
            .len(),
        1
    );
    client
        .create_payment(&payment(300, Some("4242424242424242")))
        .await
        .unwrap();
    let events = client.list_events(&ListParams::default()).page().await.unwrap();
    let succeeded = events
        .data
        .iter()
        .find(|e| e.event_type == "payment.succeeded")
        .expect("a payment.succeeded event");
    assert_eq!(&client.event(&succeeded.id).await.unwrap(), succeeded);
    client
        .redeliver_event(&succeeded.id, &Redeliver { endpoint: None })
        .await
        .unwrap();
    client
        .list_deliveries(&endpoint.id, &ListParams::default())
        .unwrap()
        .page()
        .await
        .unwrap();
    client.delete_webhook_endpoint(&endpoint.id).await.unwrap();

    let audit: Vec<_> = client
        .list_audit_events(&ListParams::default().limit(100))
        .items()
        .try_collect()
        .await
        .unwrap();
    assert!(audit.iter().any(|row| row.action == "session.created"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lockdown_stops_the_clients_key_and_hands_back_one_that_works() {
    let server = support::start().await;
    let client = server.signed();
    let unsigned = server.builder().build().unwrap();
    assert_eq!(
        unsigned.lock_down().await.unwrap_err().code(),
        Some(ErrorCode::ApiSecretRequired)
    );

    let reply = client.lock_down().await.unwrap();
    assert_eq!(reply.object, "lockdown");
    assert!(reply.revoked_keys >= 1);
    assert!(!format!("{reply:?}").contains(&reply.new_key.secret));
    assert_eq!(
        client.balance().await.unwrap_err().code(),
        Some(ErrorCode::InvalidApiKey)
    );
    let fresh = server
        .builder()
        .api_key(&reply.new_key.key)
        .api_secret(&reply.new_key.secret)
        .build()
        .unwrap();
    fresh.balance().await.unwrap();
}

use super::*;
use crate::config::tests::load_with;

const USDC: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const USDT: &str = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";

fn test_section(extra: &str) -> String {
    format!(
        "[chains.test.ethereum]\nrpc_url = \"http://127.0.0.1:8545\"\nchain_id = 31337\n\
         tokens = {{ USDC = \"{USDC}\", USDT = \"{USDT}\" }}\n{extra}"
    )
}

#[test]
fn absent_sections_turn_the_rail_off_and_signer_defaults_hold() {
    let config = load_with("", &[]).unwrap();
    assert_eq!(config.chains, Chains::default());
    assert!(config.chains.get(Environment::Test).is_none());
    assert!(!config.chains.any());
    assert_eq!(config.signer.socket, None);
    assert_eq!(config.signer.payout_cap, 10_000_000_000);
    assert_eq!(config.signer.daily_cap, 50_000_000_000);
    assert_eq!(config.signer.max_fee_per_gas_gwei, 500);
    assert!(!config.signer.allowlist_only);
}

#[test]
fn a_test_chain_is_read_with_its_defaults() {
    let config = load_with(&test_section(""), &[]).unwrap();
    let chain = config.chains.get(Environment::Test).unwrap();
    assert!(config.chains.get(Environment::Live).is_none());
    assert_eq!(chain.rpc_url, "http://127.0.0.1:8545");
    assert_eq!(chain.chain_id, 31337);
    assert_eq!(chain.private_rpc_url, None);
    assert_eq!(chain.private_timeout_blocks, 25);
    assert_eq!(chain.confirmations, 12);
    assert_eq!(chain.poll_interval, Duration::from_millis(1000));
    assert_eq!(chain.token_contract(Token::Usdc), Some(USDC));
    assert_eq!(chain.token_contract(Token::Usdt), Some(USDT));
}

#[test]
fn environment_variables_set_and_override_chain_and_signer_keys() {
    let config = load_with(
        &test_section("confirmations = 3\n"),
        &[
            ("PAYGATE_CHAINS__TEST__ETHEREUM__CONFIRMATIONS", "5"),
            ("PAYGATE_CHAINS__TEST__ETHEREUM__POLL_INTERVAL_MS", "250"),
            (
                "PAYGATE_CHAINS__LIVE__ETHEREUM__RPC_URL",
                "https://rpc.example.net/v3/key",
            ),
            ("PAYGATE_CHAINS__LIVE__ETHEREUM__CHAIN_ID", "1"),
            ("PAYGATE_CHAINS__LIVE__ETHEREUM__TOKENS__USDC", USDC),
            ("PAYGATE_SIGNER__SOCKET", "/run/paygate-signer/signer.sock"),
            ("PAYGATE_SIGNER__PAYOUT_CAP", "1000000"),
            ("PAYGATE_SIGNER__ALLOWLIST_ONLY", "true"),
        ],
    )
    .unwrap();
    let test = config.chains.get(Environment::Test).unwrap();
    assert_eq!(test.confirmations, 5);
    assert_eq!(test.poll_interval, Duration::from_millis(250));
    let live = config.chains.get(Environment::Live).unwrap();
    assert_eq!(live.chain_id, 1);
    assert_eq!(live.token_contract(Token::Usdc), Some(USDC));
    assert_eq!(live.token_contract(Token::Usdt), None);
    assert_eq!(
        config.signer.socket.as_deref(),
        Some(std::path::Path::new("/run/paygate-signer/signer.sock"))
    );
    assert_eq!(config.signer.payout_cap, 1_000_000);
    assert!(config.signer.allowlist_only);
    // The provider's key in the URL's path never reaches a log line.
    let shown = format!("{live:?}");
    assert!(
        shown.contains("rpc.example.net") && !shown.contains("/v3/key"),
        "{shown}"
    );
}

#[test]
fn live_mode_refuses_plain_http_rpc_urls() {
    let live = |extra: &str| {
        format!(
            "[chains.live.ethereum]\nrpc_url = \"https://rpc.example.net\"\nchain_id = 1\n{extra}\n\
             [chains.live.ethereum.tokens]\nUSDC = \"{USDC}\"\n"
        )
    };
    let socket = ("PAYGATE_SIGNER__SOCKET", "/run/paygate-signer/signer.sock");
    assert!(load_with(&live(""), &[socket]).is_ok());
    let err = load_with(
        &live(""),
        &[
            socket,
            ("PAYGATE_CHAINS__LIVE__ETHEREUM__RPC_URL", "http://rpc.example.net"),
        ],
    )
    .unwrap_err();
    assert_eq!(err.key, "chains.live.ethereum.rpc_url");
    assert!(err.message.contains("https"), "{err}");
    let err = load_with(&live("private_rpc_url = \"http://relay.example.net\""), &[socket]).unwrap_err();
    assert_eq!(err.key, "chains.live.ethereum.private_rpc_url");
    // A live chain never gets the sandbox signer.
    let err = load_with(&live(""), &[]).unwrap_err();
    assert_eq!(err.key, "signer.socket");
    // Test mode takes a local node over plain http, but not another scheme.
    let err = load_with(
        &test_section(""),
        &[("PAYGATE_CHAINS__TEST__ETHEREUM__RPC_URL", "ws://127.0.0.1:8545")],
    )
    .unwrap_err();
    assert_eq!(err.key, "chains.test.ethereum.rpc_url");
}

#[test]
fn bad_chain_values_name_their_key() {
    for (toml_extra, env, key) in [
        (
            "",
            ("PAYGATE_CHAINS__TEST__ETHEREUM__TOKENS__USDC", "0x1234"),
            "chains.test.ethereum.tokens.USDC",
        ),
        (
            "",
            (
                "PAYGATE_CHAINS__TEST__ETHEREUM__TOKENS__USDT",
                "0xZZbDB2315678afecb367f032d93F642f64180aa3",
            ),
            "chains.test.ethereum.tokens.USDT",
        ),
        (
            "",
            ("PAYGATE_CHAINS__TEST__ETHEREUM__TOKENS__USDT", USDC),
            "chains.test.ethereum.tokens.USDT",
        ),
        (
            "",
            ("PAYGATE_CHAINS__TEST__ETHEREUM__CONFIRMATIONS", "0"),
            "chains.test.ethereum.confirmations",
        ),
        (
            "",
            ("PAYGATE_CHAINS__TEST__ETHEREUM__CHAIN_ID", "0"),
            "chains.test.ethereum.chain_id",
        ),
        (
            "",
            ("PAYGATE_CHAINS__TEST__ETHEREUM__POLL_INTERVAL_MS", "0"),
            "chains.test.ethereum.poll_interval_ms",
        ),
        ("", ("PAYGATE_SIGNER__PAYOUT_CAP", "0"), "signer.payout_cap"),
        ("", ("PAYGATE_SIGNER__DAILY_CAP", "5"), "signer.daily_cap"),
        ("", ("PAYGATE_SIGNER__SOCKET", "relative.sock"), "signer.socket"),
        (
            "",
            ("PAYGATE_CHAINS__LIVE__ETHEREUM__CHAIN_ID", "1"),
            "chains.live.ethereum",
        ),
    ] {
        let err = load_with(&test_section(toml_extra), &[env]).unwrap_err();
        assert!(err.key.starts_with(key), "{env:?}: {err}");
    }
    let err = load_with(&test_section("tokens_x = 1\n"), &[]).unwrap_err();
    assert!(err.to_string().contains("tokens_x"), "{err}");
    let err = load_with(
        "[chains.test.ethereum]\nrpc_url = \"http://127.0.0.1:8545\"\nchain_id = 31337\ntokens = { DAI = \"0x5FbDB2315678afecb367f032d93F642f64180aa3\" }\n",
        &[],
    )
    .unwrap_err();
    assert!(err.to_string().contains("DAI"), "{err}");
    let err = load_with("[chains.test.bitcoin]\nrpc_url = \"http://x\"\n", &[]).unwrap_err();
    assert!(err.to_string().contains("bitcoin"), "{err}");
}

#[test]
fn test_and_live_cannot_share_a_chain_id() {
    let toml = format!(
        "{}[chains.live.ethereum]\nrpc_url = \"https://rpc.example.net\"\nchain_id = 31337\n\
         [signer]\nsocket = \"/run/signer.sock\"\n",
        test_section("")
    );
    let err = load_with(&toml, &[]).unwrap_err();
    assert_eq!(err.key, "chains.live.ethereum.chain_id");
}

#[test]
fn tokens_map_to_and_from_currencies() {
    assert_eq!(Token::from_currency(Currency::USDC), Some(Token::Usdc));
    assert_eq!(Token::try_from(Currency::USDT), Ok(Token::Usdt));
    assert_eq!(Token::from_currency(Currency::BTC), None);
    assert_eq!(Token::Usdt.currency(), Currency::USDT);
    assert_eq!(Token::Usdc.to_string(), "USDC");
    assert_eq!(Token::parse("usdt"), Some(Token::Usdt));
    assert_eq!(Token::parse("dai"), None);
    assert!(is_hex_address(USDC));
    assert!(!is_hex_address(&USDC[2..]));
    assert!(!is_hex_address(&format!("{USDC}0")));
}

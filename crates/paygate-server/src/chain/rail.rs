//! Whether the stablecoin rail runs in an environment: its chain, the
//! signer, and the token contract of a currency; otherwise
//! `422 network_unavailable`, saying what is missing.

use std::sync::Arc;

use paygate_proto::money::Currency;
use paygate_proto::{Environment, ErrorCode};

use super::config::{EvmChain, Token};
use super::signer_client::SignerClient;
use crate::app::AppState;
use crate::http::{ApiError, ApiResult};

/// The environment's chain and the signer's client.
pub fn chain_of(state: &AppState, env: Environment) -> ApiResult<(&EvmChain, Arc<SignerClient>)> {
    match (state.config().chains.get(env), state.signer()) {
        (Some(chain), Some(signer)) => Ok((chain, signer.clone())),
        _ => Err(ApiError::new(ErrorCode::NetworkUnavailable).with_detail(format!(
            "No Ethereum chain is configured for {env} mode on this server, so USDC and USDT cannot move here."
        ))),
    }
}

/// The token of `currency` and its contract on `chain`.
pub fn token_on(chain: &EvmChain, env: Environment, currency: Currency) -> ApiResult<(Token, String)> {
    let token = Token::from_currency(currency).ok_or_else(|| {
        ApiError::new(ErrorCode::NetworkUnavailable).with_detail(format!(
            "{currency} is not a token of the ethereum network (USDC or USDT)."
        ))
    })?;
    let contract = chain.token_contract(token).ok_or_else(|| {
        ApiError::new(ErrorCode::NetworkUnavailable).with_detail(format!(
            "{token} is not configured on this server's {env} mode chain (only {} is).",
            configured(chain)
        ))
    })?;
    Ok((token, contract.to_owned()))
}

/// For a stablecoin (USDC, USDT), that the environment's rail runs and
/// carries its token, as a payment in it needs; nothing for any other
/// currency. Checkout sessions ask at creation, so a session the payor
/// could never pay is refused before it is handed out.
pub fn require_rail_for(state: &AppState, env: Environment, currency: Currency) -> ApiResult<()> {
    if Token::from_currency(currency).is_none() {
        return Ok(());
    }
    let (chain, _) = chain_of(state, env)?;
    token_on(chain, env, currency).map(|_| ())
}

fn configured(chain: &EvmChain) -> String {
    let names: Vec<&str> = chain.tokens.keys().map(|t| t.as_str()).collect();
    if names.is_empty() {
        "no token".to_owned()
    } else {
        names.join(" and ")
    }
}

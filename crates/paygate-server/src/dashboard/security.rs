//! The security page: two-factor authentication, the password (changed
//! with a one-time code), the API security policy of the shown mode and
//! the IP allowlists of its keys.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use paygate_proto::auth::{SecurityPolicy, UpdateSecurityPolicy};
use paygate_proto::types::ApiKeyInfo;
use serde::Deserialize;

use super::keys::IssuedPage;
use super::one_time::{self, Purpose};
use super::pages::{render, Done, Frame};
use super::session::Viewer;
use crate::api_keys::{keys_page, set_allowlist};
use crate::app::AppState;
use crate::http::list::{Page, MAX_LIMIT};
use crate::http::{ApiResult, ClientIp};
use crate::lockdown::{lock_down as lock_down_merchant, reply};
use crate::security_policy::{current_policy, update_policy};

#[derive(Template)]
#[template(path = "dashboard/security.html")]
pub struct SecurityPage {
    pub frame: Frame,
    pub totp_enabled: bool,
    pub policy: SecurityPolicy,
    pub keys: Vec<ApiKeyInfo>,
}

pub async fn view(
    state: &AppState,
    viewer: &Viewer,
    notice: Option<&str>,
    error: Option<String>,
) -> ApiResult<Response> {
    let merchant = viewer.merchant();
    let page = Page {
        limit: MAX_LIMIT,
        ..Page::first()
    };
    let keys = keys_page(state, merchant, viewer.env(), page).await?.data;
    let frame = viewer
        .frame("/dashboard/security")
        .with_error(error)
        .with_notice(notice);
    Ok(render(&SecurityPage {
        frame,
        totp_enabled: viewer.user().totp_enabled,
        policy: current_policy(state, merchant, viewer.env()).await?,
        keys,
    }))
}

pub async fn page(State(state): State<AppState>, viewer: Viewer, Query(done): Query<Done>) -> ApiResult<Response> {
    view(&state, &viewer, done.notice(), None).await
}

/// Checkboxes: present when ticked.
#[derive(Deserialize)]
pub struct PolicyForm {
    #[serde(default)]
    require_signature: Option<String>,
    #[serde(default)]
    require_token: Option<String>,
}

pub async fn save_policy(
    State(state): State<AppState>,
    viewer: Viewer,
    client_ip: ClientIp,
    Form(form): Form<PolicyForm>,
) -> ApiResult<Response> {
    let body = UpdateSecurityPolicy {
        require_signature: Some(form.require_signature.is_some()),
        require_token: Some(form.require_token.is_some()),
    };
    update_policy(&state, viewer.merchant(), viewer.env(), body, &viewer.actor(client_ip)).await?;
    Ok(Redirect::to("/dashboard/security?done=policy").into_response())
}

#[derive(Deserialize)]
pub struct AllowlistForm {
    /// Addresses or CIDRs, one per line or comma-separated; empty: any.
    #[serde(default)]
    allowed_ips: String,
}

/// Replaces one key's IP allowlist; a refusal is explained on the page.
pub async fn save_allowlist(
    State(state): State<AppState>,
    viewer: Viewer,
    client_ip: ClientIp,
    Path(id): Path<String>,
    Form(form): Form<AllowlistForm>,
) -> ApiResult<Response> {
    let entries = super::keys::entries(&form.allowed_ips);
    let saved = set_allowlist(
        &state,
        viewer.merchant(),
        viewer.env(),
        &id,
        &entries,
        &viewer.actor(client_ip),
    )
    .await;
    match saved {
        Ok(_) => Ok(Redirect::to("/dashboard/security?done=allowlist").into_response()),
        Err(err) => {
            let text = err.for_people().ok_or(err)?;
            view(&state, &viewer, None, Some(text)).await
        }
    }
}

#[derive(Deserialize)]
pub struct LockdownForm {
    code: String,
}

/// The lockdown button (docs/api.md section 14), behind a one-time code: every
/// credential of the shown environment stops at once and the one new key
/// and secret are shown this once.
pub async fn lock_down(
    State(state): State<AppState>,
    viewer: Viewer,
    client_ip: ClientIp,
    Form(form): Form<LockdownForm>,
) -> ApiResult<Response> {
    if !one_time::verify(&state, viewer.user(), Purpose::Lockdown, &form.code, client_ip.0).await? {
        let error = "That code is not valid. Enter a current code (each works once).".to_owned();
        return view(&state, &viewer, None, Some(error)).await;
    }
    let done = lock_down_merchant(&state, viewer.merchant(), viewer.env(), &viewer.actor(client_ip)).await?;
    let reply = reply(viewer.env(), done);
    Ok(render(&IssuedPage {
        frame: viewer.frame("/dashboard/security"),
        issued: reply.new_key,
        rolled: false,
        locked_down: true,
    }))
}

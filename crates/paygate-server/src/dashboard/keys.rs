//! The API keys page: the keys that still work (masked), create, roll and
//! revoke. Each goes through the API's own functions, so the events and
//! audit rows are the same; the new key and secret are shown once.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use paygate_proto::types::{ApiKeyInfo, CreateApiKey, IssuedApiKey};
use paygate_proto::Scope;
use serde::Deserialize;

use super::listing::{pager, Pager, CREATED_ONLY};
use super::pages::{render, Done, Frame};
use super::session::Viewer;
use crate::api_keys::{insert_issued, key_spec, keys_page, own_active_key, revoke_key, roll_key};
use crate::app::AppState;
use crate::http::list::Page;
use crate::http::{ApiError, ApiResult, ClientIp};
use crate::keys::prepare_key;

const SECTION: &str = "/dashboard/api-keys";

#[derive(Template)]
#[template(path = "dashboard/api_keys.html")]
pub struct KeysPage {
    pub frame: Frame,
    pub keys: Vec<ApiKeyInfo>,
    pub pager: Pager,
    pub scopes: Vec<&'static str>,
    pub name: String,
}

#[derive(Template)]
#[template(path = "dashboard/key_issued.html")]
pub struct IssuedPage {
    pub frame: Frame,
    pub issued: IssuedApiKey,
    pub rolled: bool,
}

fn scope_names() -> Vec<&'static str> {
    Scope::ALL.iter().map(|s| s.as_str()).collect()
}

async fn view(
    state: &AppState,
    viewer: &Viewer,
    page: Page,
    frame_error: Option<String>,
    notice: Option<&str>,
) -> ApiResult<Response> {
    let reply = keys_page(state, viewer.merchant(), viewer.env(), page.clone()).await?;
    let frame = viewer.frame(SECTION).with_error(frame_error).with_notice(notice);
    Ok(render(&KeysPage {
        frame,
        pager: pager(SECTION, &page, reply.next_cursor.as_deref(), CREATED_ONLY),
        keys: reply.data,
        scopes: scope_names(),
        name: String::new(),
    }))
}

pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    axum::extract::Query(done): axum::extract::Query<Done>,
    page: Page,
) -> ApiResult<Response> {
    view(&state, &viewer, page, None, done.notice()).await
}

/// Turns a refusal into the page with its explanation; a failure of ours stays an error.
async fn refused(state: &AppState, viewer: &Viewer, err: ApiError) -> ApiResult<Response> {
    let text = err.for_people().ok_or(err)?;
    view(state, viewer, Page::first(), Some(text), None).await
}

/// The create form: a name, scopes as checkboxes (none ticked: every
/// scope), and allowed IPs one per line or comma-separated.
#[derive(Deserialize)]
pub struct CreateForm {
    name: String,
    #[serde(default)]
    allowed_ips: String,
    #[serde(flatten)]
    fields: std::collections::HashMap<String, String>,
}

/// The entries of a list typed one per line, or separated by commas or spaces.
pub fn entries(text: &str) -> Vec<String> {
    text.split([',', '\n', ' '])
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(str::to_owned)
        .collect()
}

fn create_body(form: CreateForm) -> CreateApiKey {
    let scopes: Vec<String> = scope_names()
        .into_iter()
        .filter(|scope| form.fields.contains_key(&format!("scope:{scope}")))
        .map(str::to_owned)
        .collect();
    let allowed_ips = entries(&form.allowed_ips);
    CreateApiKey {
        name: form.name,
        scopes: (!scopes.is_empty()).then_some(scopes),
        allowed_ips: (!allowed_ips.is_empty()).then_some(allowed_ips),
    }
}

pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    client_ip: ClientIp,
    Form(form): Form<CreateForm>,
) -> ApiResult<Response> {
    let merchant = viewer.merchant().clone();
    let spec = match key_spec(create_body(form)) {
        Ok(spec) => spec,
        Err(err) => return refused(&state, &viewer, err).await,
    };
    let now = state.now();
    let prepared = prepare_key(state.master_key(), &merchant, viewer.env(), &spec, now)?;
    let mut tx = state.store().begin_write().await?;
    let issued = insert_issued(
        tx.conn(),
        &prepared,
        &merchant,
        viewer.env(),
        &viewer.actor(client_ip),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(render(&IssuedPage {
        frame: viewer.frame(SECTION),
        issued,
        rolled: false,
    }))
}

pub async fn roll(
    State(state): State<AppState>,
    viewer: Viewer,
    client_ip: ClientIp,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let old = match own_active_key(&state, viewer.merchant(), viewer.env(), &id).await {
        Ok(old) => old,
        Err(err) => return refused(&state, &viewer, err).await,
    };
    let grace = state.config().auth.key_roll_grace_secs;
    let issued = roll_key(&state, &old, grace, &viewer.actor(client_ip)).await?;
    Ok(render(&IssuedPage {
        frame: viewer.frame(SECTION),
        issued,
        rolled: true,
    }))
}

pub async fn revoke(
    State(state): State<AppState>,
    viewer: Viewer,
    client_ip: ClientIp,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let owner = (viewer.merchant(), viewer.env());
    match revoke_key(&state, &id, Some(owner), &viewer.actor(client_ip)).await? {
        Some(_) => Ok(Redirect::to("/dashboard/api-keys?done=revoked").into_response()),
        None => refused(&state, &viewer, ApiError::new(paygate_proto::ErrorCode::NotFound)).await,
    }
}

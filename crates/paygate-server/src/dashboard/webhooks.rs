//! The webhooks page: endpoints (create with the signing secret shown
//! once, masked afterwards, rotate), an endpoint's delivery log, and
//! redelivery. Each goes through the webhook API's functions.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use paygate_proto::webhooks::{CreateWebhookEndpoint, Delivery, WebhookEndpoint};
use serde::Deserialize;

use super::listing::{pager, Pager, CREATED_ONLY};
use super::money::actor;
use super::pages::{render, Frame};
use super::session::{CsrfToken, Mode, SignedIn};
use crate::app::AppState;
use crate::http::list::Page;
use crate::http::{ApiResult, ClientIp};
use crate::webhooks::endpoints::{
    create_endpoint, deliveries_page, endpoints_page, masked_endpoint, redeliver_event, rotate_secret,
};

const SECTION: &str = "/dashboard/webhooks";

#[derive(Template)]
#[template(path = "dashboard/webhooks.html")]
pub struct EndpointsPage {
    pub frame: Frame,
    pub endpoints: Vec<WebhookEndpoint>,
    pub pager: Pager,
    pub url: String,
    pub events: String,
}

#[derive(Template)]
#[template(path = "dashboard/webhook.html")]
pub struct EndpointPage {
    pub frame: Frame,
    pub endpoint: WebhookEndpoint,
    pub deliveries: Vec<Delivery>,
    pub pager: Pager,
    /// Set right after creation or rotation: the secret in full, this once.
    pub fresh_secret: bool,
}

async fn list_view(
    state: &AppState,
    csrf: &CsrfToken,
    mode: Mode,
    signed_in: &SignedIn,
    page: Page,
    form: Option<(String, String)>,
    error: Option<String>,
) -> ApiResult<Response> {
    let reply = endpoints_page(state, &signed_in.user.merchant_id, mode.0, page.clone()).await?;
    let (url, events) = form.unwrap_or_else(|| (String::new(), "*".to_owned()));
    Ok(render(&EndpointsPage {
        frame: Frame::signed_in(csrf, &signed_in.user, mode, SECTION).with_error(error),
        pager: pager(SECTION, &page, reply.next_cursor.as_deref(), CREATED_ONLY),
        endpoints: reply.data.into_iter().map(|listed| listed.item).collect(),
        url,
        events,
    }))
}

pub async fn list(
    State(state): State<AppState>,
    csrf: CsrfToken,
    mode: Mode,
    signed_in: SignedIn,
    page: Page,
) -> ApiResult<Response> {
    list_view(&state, &csrf, mode, &signed_in, page, None, None).await
}

#[derive(Deserialize)]
pub struct CreateForm {
    url: String,
    /// Event types separated by commas or spaces; `*` for all.
    #[serde(default)]
    events: String,
    #[serde(default)]
    description: String,
}

pub async fn create(
    State(state): State<AppState>,
    csrf: CsrfToken,
    mode: Mode,
    signed_in: SignedIn,
    client_ip: ClientIp,
    Form(form): Form<CreateForm>,
) -> ApiResult<Response> {
    let body = CreateWebhookEndpoint {
        url: form.url.trim().to_owned(),
        events: form
            .events
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect(),
        description: Some(form.description),
    };
    let actor = actor(&signed_in, client_ip);
    match create_endpoint(&state, &signed_in.user.merchant_id, mode.0, body, &actor).await {
        Ok(endpoint) => endpoint_view(&state, &csrf, mode, &signed_in, endpoint, Page::first(), true, None).await,
        Err(err) => {
            let text = err.for_people().ok_or(err)?;
            list_view(&state, &csrf, mode, &signed_in, Page::first(), Some((form.url, form.events)), Some(text)).await
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn endpoint_view(
    state: &AppState,
    csrf: &CsrfToken,
    mode: Mode,
    signed_in: &SignedIn,
    endpoint: WebhookEndpoint,
    page: Page,
    fresh_secret: bool,
    notice: Option<&str>,
) -> ApiResult<Response> {
    let reply = deliveries_page(state, &signed_in.user.merchant_id, mode.0, &endpoint.id, page.clone()).await?;
    let path = format!("{SECTION}/{}", endpoint.id);
    Ok(render(&EndpointPage {
        frame: Frame::signed_in(csrf, &signed_in.user, mode, SECTION).with_notice(notice),
        pager: pager(&path, &page, reply.next_cursor.as_deref(), CREATED_ONLY),
        deliveries: reply.data.into_iter().map(|listed| listed.item).collect(),
        endpoint,
        fresh_secret,
    }))
}

#[derive(Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    csrf: CsrfToken,
    mode: Mode,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(done): Query<Done>,
    page: Page,
) -> ApiResult<Response> {
    let endpoint = masked_endpoint(&state, &signed_in.user.merchant_id, mode.0, &id).await?;
    let notice = (done.done.as_deref() == Some("redelivered")).then_some("Redelivery planned: it goes out shortly.");
    endpoint_view(&state, &csrf, mode, &signed_in, endpoint, page, false, notice).await
}

pub async fn rotate(
    State(state): State<AppState>,
    csrf: CsrfToken,
    mode: Mode,
    signed_in: SignedIn,
    client_ip: ClientIp,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let actor = actor(&signed_in, client_ip);
    let endpoint = rotate_secret(&state, &signed_in.user.merchant_id, mode.0, &id, &actor).await?;
    let notice = Some("New secret made. The previous one keeps signing beside it for 24 hours.");
    endpoint_view(&state, &csrf, mode, &signed_in, endpoint, Page::first(), true, notice).await
}

#[derive(Deserialize)]
pub struct RedeliverForm {
    event: String,
}

pub async fn redeliver(
    State(state): State<AppState>,
    mode: Mode,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<RedeliverForm>,
) -> ApiResult<Response> {
    let merchant = &signed_in.user.merchant_id;
    let endpoint = masked_endpoint(&state, merchant, mode.0, &id).await?;
    redeliver_event(&state, merchant, mode.0, &form.event, Some(&endpoint.id)).await?;
    Ok(Redirect::to(&format!("{SECTION}/{}?done=redelivered", endpoint.id)).into_response())
}

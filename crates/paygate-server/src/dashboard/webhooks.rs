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
use super::pages::{render, Done, Frame};
use super::session::Viewer;
use crate::app::AppState;
use crate::http::list::Page;
use crate::http::{ApiResult, ClientIp};
use crate::webhooks::deliveries::{deliveries_page, redeliver_event};
use crate::webhooks::endpoints::{create_endpoint, endpoints_page, masked_endpoint, rotate_secret};

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
    viewer: &Viewer,
    page: Page,
    form: Option<(String, String)>,
    error: Option<String>,
) -> ApiResult<Response> {
    let reply = endpoints_page(state, viewer.merchant(), viewer.env(), page.clone()).await?;
    let (url, events) = form.unwrap_or_else(|| (String::new(), "*".to_owned()));
    Ok(render(&EndpointsPage {
        frame: viewer.frame(SECTION).with_error(error),
        pager: pager(SECTION, &page, reply.next_cursor.as_deref(), CREATED_ONLY),
        endpoints: reply.data.into_iter().map(|listed| listed.item).collect(),
        url,
        events,
    }))
}

pub async fn list(State(state): State<AppState>, viewer: Viewer, page: Page) -> ApiResult<Response> {
    list_view(&state, &viewer, page, None, None).await
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
    viewer: Viewer,
    client_ip: ClientIp,
    Form(form): Form<CreateForm>,
) -> ApiResult<Response> {
    let body = CreateWebhookEndpoint {
        url: form.url.trim().to_owned(),
        events: super::keys::entries(&form.events),
        description: Some(form.description),
    };
    let actor = viewer.actor(client_ip);
    match create_endpoint(&state, viewer.merchant(), viewer.env(), body, &actor).await {
        Ok(endpoint) => endpoint_view(&state, &viewer, endpoint, Page::first(), true, None).await,
        Err(err) => {
            let text = err.for_people().ok_or(err)?;
            list_view(
                &state,
                &viewer,
                Page::first(),
                Some((form.url, form.events)),
                Some(text),
            )
            .await
        }
    }
}

async fn endpoint_view(
    state: &AppState,
    viewer: &Viewer,
    endpoint: WebhookEndpoint,
    page: Page,
    fresh_secret: bool,
    notice: Option<&str>,
) -> ApiResult<Response> {
    let reply = deliveries_page(state, viewer.merchant(), viewer.env(), &endpoint.id, page.clone()).await?;
    let path = format!("{SECTION}/{}", endpoint.id);
    Ok(render(&EndpointPage {
        frame: viewer.frame(SECTION).with_notice(notice),
        pager: pager(&path, &page, reply.next_cursor.as_deref(), CREATED_ONLY),
        deliveries: reply.data.into_iter().map(|listed| listed.item).collect(),
        endpoint,
        fresh_secret,
    }))
}

pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(done): Query<Done>,
    page: Page,
) -> ApiResult<Response> {
    let endpoint = masked_endpoint(&state, viewer.merchant(), viewer.env(), &id).await?;
    let notice = done.notice();
    endpoint_view(&state, &viewer, endpoint, page, false, notice).await
}

pub async fn rotate(
    State(state): State<AppState>,
    viewer: Viewer,
    client_ip: ClientIp,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let actor = viewer.actor(client_ip);
    let endpoint = rotate_secret(&state, viewer.merchant(), viewer.env(), &id, &actor).await?;
    let notice = Some("New secret made. The previous one keeps signing beside it for 24 hours.");
    endpoint_view(&state, &viewer, endpoint, Page::first(), true, notice).await
}

#[derive(Deserialize)]
pub struct RedeliverForm {
    event: String,
}

pub async fn redeliver(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<RedeliverForm>,
) -> ApiResult<Response> {
    let merchant = viewer.merchant();
    let endpoint = masked_endpoint(&state, merchant, viewer.env(), &id).await?;
    redeliver_event(&state, merchant, viewer.env(), &form.event, Some(&endpoint.id)).await?;
    Ok(Redirect::to(&format!("{SECTION}/{}?done=redelivered", endpoint.id)).into_response())
}

//! The audit log page: the merchant's audit rows in the shown mode, read
//! through the same query as `GET /v1/audit-events`.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::listing::{pager, when, Pager, CREATED_ONLY};
use super::pages::{render, Frame};
use super::session::Viewer;
use crate::app::AppState;
use crate::audit_events::audit_page;
use crate::http::list::Page;
use crate::http::ApiResult;

const SECTION: &str = "/dashboard/audit";

pub struct AuditRow {
    pub at: String,
    pub action: String,
    pub outcome: String,
    pub actor: String,
    pub ip: String,
    pub details: String,
}

#[derive(Template)]
#[template(path = "dashboard/audit.html")]
pub struct AuditPage {
    pub frame: Frame,
    pub rows: Vec<AuditRow>,
    pub pager: Pager,
}

pub async fn list(State(state): State<AppState>, viewer: Viewer, page: Page) -> ApiResult<Response> {
    let reply = audit_page(&state, viewer.merchant(), viewer.env(), page.clone()).await?;
    let rows = reply
        .data
        .into_iter()
        .map(|event| AuditRow {
            at: when(&event.created_at),
            action: event.action,
            outcome: event.outcome,
            actor: event.actor.unwrap_or_default(),
            ip: event.ip.unwrap_or_default(),
            details: match &event.details {
                serde_json::Value::Object(map) if map.is_empty() => String::new(),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            },
        })
        .collect();
    Ok(render(&AuditPage {
        frame: viewer.frame(SECTION),
        rows,
        pager: pager(SECTION, &page, reply.next_cursor.as_deref(), CREATED_ONLY),
    }))
}

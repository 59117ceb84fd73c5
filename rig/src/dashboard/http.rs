//! The dashboard's HTTP surface (axum): the page and its JSON API, all behind [`Access`].
//!
//! | Method, path | Answer |
//! |--------------|--------|
//! | `GET /` | the page (`page.html`, compiled in) |
//! | `GET /api/state` | [`super::Snapshot`] as JSON |
//! | `GET /api/events` | server-sent events: `state` (first, the snapshot), `device`, `alarm`, `event`, `take`, `plan`, `rig`, `summary` |
//! | `POST /api/check` | runs `rig check`; [`super::ControlReply`] with the report |
//! | `POST /api/record` | starts a take ([`super::RecordRequest`] body, may be empty); 409 while one runs |
//! | `POST /api/stop` | stops the take, or every agent's recording |
//!
//! A request the access refuses gets 401 before any handler runs, so nothing is started.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::{Access, Control, ControlError, ControlReply, RecordRequest};

const PAGE: &str = include_str!("page.html");

pub(super) fn router(control: Arc<Control>, access: Access) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/state", get(state))
        .route("/api/events", get(events))
        .route("/api/check", post(check))
        .route("/api/record", post(record))
        .route("/api/stop", post(stop))
        .layer(middleware::from_fn_with_state(access, require_access))
        .with_state(control)
}

async fn require_access(State(access): State<Access>, request: Request, next: Next) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if access.allows(authorization, request.uri().query()) {
        return next.run(request).await;
    }
    let mut response = (
        StatusCode::UNAUTHORIZED,
        "this dashboard needs its token: open the URL `k4sync rig serve` printed (…?token=…) or \
         send `Authorization: Bearer <token>`\n",
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

async fn page() -> Response {
    let mut response = Html(PAGE).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn state(State(control): State<Arc<Control>>) -> Response {
    Json(control.snapshot()).into_response()
}

async fn events(State(control): State<Arc<Control>>) -> Response {
    let queue = control.hub().subscribe();
    let stream = futures_util::stream::unfold(queue, |mut queue| async move {
        let message = queue.recv().await?;
        let event = Event::default().event(message.kind).data(&*message.data);
        Some((Ok::<_, Infallible>(event), queue))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn reply(result: Result<ControlReply, ControlError>, ok: StatusCode) -> Response {
    let (status, message) = match result {
        Ok(reply) => return (ok, Json(reply)).into_response(),
        Err(ControlError::BadRequest(m)) => (StatusCode::BAD_REQUEST, m),
        Err(ControlError::Busy(m)) => (StatusCode::CONFLICT, m),
        Err(ControlError::Failed(m)) => (StatusCode::INTERNAL_SERVER_ERROR, m),
    };
    let body = ControlReply {
        ok: false,
        message,
        take: None,
        check: None,
    };
    (status, Json(body)).into_response()
}

async fn check(State(control): State<Arc<Control>>) -> Response {
    reply(control.check().await, StatusCode::OK)
}

async fn record(State(control): State<Arc<Control>>, body: Bytes) -> Response {
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        Ok(RecordRequest::default())
    } else {
        serde_json::from_slice::<RecordRequest>(&body)
            .map_err(|e| ControlError::BadRequest(format!("the record request: {e}")))
    };
    reply(
        request.and_then(|r| control.record(&r)),
        StatusCode::ACCEPTED,
    )
}

async fn stop(State(control): State<Arc<Control>>) -> Response {
    reply(control.stop().await, StatusCode::OK)
}

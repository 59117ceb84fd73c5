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
//! A request the access refuses gets 401 before any handler runs, so nothing is started. A
//! POST that a browser sends from another page's origin gets 403: an open loopback dashboard
//! must not start a take because the operator visited some web site.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
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
    if !access.allows(authorization, request.uri().query()) {
        return unauthorized();
    }
    let cross_site = {
        let headers = request.headers();
        let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
        request.method() == Method::POST && !same_origin(text(header::ORIGIN), text(header::HOST))
    };
    if cross_site {
        return (
            StatusCode::FORBIDDEN,
            "a control request from another web page's origin is refused\n",
        )
            .into_response();
    }
    next.run(request).await
}

/// Whether a request's `Origin` (sent by browsers on cross-origin and on POST requests) names
/// the dashboard itself; requests without one (scripts, curl) pass.
fn same_origin(origin: Option<&str>, host: Option<&str>) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

fn unauthorized() -> Response {
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

#[cfg(test)]
mod tests {
    use super::same_origin;

    #[test]
    fn only_the_dashboards_own_origin_or_none_may_post() {
        assert!(same_origin(None, Some("127.0.0.1:8740")));
        assert!(same_origin(
            Some("http://127.0.0.1:8740"),
            Some("127.0.0.1:8740")
        ));
        assert!(!same_origin(
            Some("https://evil.example"),
            Some("127.0.0.1:8740")
        ));
        assert!(!same_origin(
            Some("http://127.0.0.1:9999"),
            Some("127.0.0.1:8740")
        ));
        assert!(!same_origin(Some("null"), Some("127.0.0.1:8740")));
        assert!(!same_origin(Some("http://127.0.0.1:8740"), None));
    }
}

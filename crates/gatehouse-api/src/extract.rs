//! Extractors that turn request parts into typed values or a precise problem.
//!
//! axum's own extractors answer with plain-text errors; these answer with problem
//! details naming the field (via `serde_path_to_error`), separate malformed JSON
//! (400) from well-formed JSON that doesn't fit (422), and enforce body limits (413).

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body, parsed into `T` (whose own types validate each field).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::unsupported_media_type("application/json"));
        }
        let bytes = read_body(req.into_body(), state.limits.json_body_bytes_max).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses JSON, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = strip_position(&inner.to_string());
        match inner.classify() {
            serde_json::error::Category::Data => {
                // serde_path_to_error's path already ends at an unknown field, but stops
                // at the enclosing object for a missing one.
                let path = if path == "." { String::new() } else { path };
                let field = match field_named_in(&message) {
                    Some(name) if path.is_empty() => name.to_owned(),
                    Some(name) if !path.ends_with(name) => format!("{path}.{name}"),
                    _ => path,
                };
                ApiError::validation(field, message)
            }
            _ => ApiError::malformed_json(message),
        }
    })?;
    deserializer.end().map_err(|err| ApiError::malformed_json(strip_position(&err.to_string())))?;
    Ok(value)
}

/// Serde reports unknown and missing fields at the enclosing object; the name is in the message.
fn field_named_in(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `").or_else(|| message.strip_prefix("missing field `"))?;
    rest.split('`').next()
}

/// serde_json appends " at line 1 column 7"; the field path says more than that.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) if message[at..].contains(" column ") => message[..at].to_owned(),
        _ => message.to_owned(),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Past the limit, how much more of a body is read and thrown away so the client
/// (still sending) receives the 413 instead of a reset connection.
const DRAIN_BYTES_MAX: usize = 16 * 1024 * 1024;
/// How long draining may take.
const DRAIN_TIME_MAX: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads the whole body, refusing more than `limit` bytes with 413.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt as _;
    let mut body = body;
    let mut collected = Vec::new();
    loop {
        match body.frame().await {
            None => return Ok(Bytes::from(collected)),
            Some(Err(err)) => return Err(ApiError::malformed_json(format!("could not read the body: {err}"))),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if collected.len() + data.len() > limit {
                        drain(body, DRAIN_BYTES_MAX).await;
                        return Err(ApiError::payload_too_large(limit));
                    }
                    collected.extend_from_slice(&data);
                }
            }
        }
    }
}

/// Reads and discards up to `bytes_max` more bytes (within [`DRAIN_TIME_MAX`]).
async fn drain(mut body: Body, bytes_max: usize) {
    use http_body_util::BodyExt as _;
    let _ = tokio::time::timeout(DRAIN_TIME_MAX, async move {
        let mut drained = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            drained += frame.data_ref().map_or(0, |data| data.len());
            if drained > bytes_max {
                break;
            }
        }
    })
    .await;
}

/// A `text/csv` body of at most the import limit.
pub struct CsvBody(pub Bytes);

impl FromRequest<AppState> for CsvBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if essence != "text/csv" {
            return Err(ApiError::unsupported_media_type("text/csv"));
        }
        read_body(req.into_body(), state.limits.import_body_bytes_max).await.map(CsvBody)
    }
}

/// Query parameters parsed into `T`, naming the parameter at fault.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer).map(ApiQuery).map_err(|err| {
            let path = err.path().to_string();
            let message = err.into_inner().to_string();
            let field = field_named_in(&message).map(str::to_owned).unwrap_or(if path == "." { String::new() } else { path });
            ApiError::invalid_query(message).with_field(field)
        })
    }
}

/// Path parameters parsed into `T`.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => {
                let detail = rejection.body_text();
                let field = match &rejection {
                    axum::extract::rejection::PathRejection::FailedToDeserializePathParams(inner) => match inner.kind() {
                        axum::extract::path::ErrorKind::ParseErrorAtKey { key, .. }
                        | axum::extract::path::ErrorKind::InvalidUtf8InPathParam { key } => key.clone(),
                        _ => "id".to_owned(),
                    },
                    _ => String::new(),
                };
                Err(ApiError::invalid_path(detail).with_field(field))
            }
        }
    }
}

/// Longest free-text filter accepted in a query string, in characters.
pub const FILTER_TEXT_CHARS_MAX: usize = 200;

/// A free-text filter (`name`, `q`, `email`, ...): bounded, no control characters.
pub fn filter_text(field: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(text) if text.chars().count() > FILTER_TEXT_CHARS_MAX || text.chars().any(char::is_control) => {
            Err(ApiError::invalid_query(format!(
                "{field} must be at most {FILTER_TEXT_CHARS_MAX} characters with no control characters"
            ))
            .with_field(field))
        }
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_domain::tenancy::NewSite;

    fn problem(body: &str) -> (u16, Option<String>, String) {
        match parse_json::<NewSite>(body.as_bytes()) {
            Ok(_) => (200, None, String::new()),
            Err(err) => {
                let p = err.to_problem();
                (p.status, p.field, p.code.to_owned())
            }
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        assert_eq!(problem(r#"{"name": "N", "time_zone": "UTC"}"#).0, 200);
        assert_eq!(
            problem(r#"{"name": "N", "time_zone": "Mars/Base"}"#),
            (422, Some("time_zone".into()), "validation_failed".into())
        );
        assert_eq!(problem(r#"{"name": 7, "time_zone": "UTC"}"#), (422, Some("name".into()), "validation_failed".into()));
        assert_eq!(problem(r#"{"time_zone": "UTC"}"#), (422, Some("name".into()), "validation_failed".into()));
        assert_eq!(problem(r#"{"name": "N", "time_zone": "UTC", "x": 1}"#), (422, Some("x".into()), "validation_failed".into()));
        assert_eq!(problem(r#"{"name": "N", "#), (400, None, "malformed_json".into()));
        assert_eq!(problem(r#"{"name": "N", "time_zone": "UTC"} trailing"#), (400, None, "malformed_json".into()));
    }
}

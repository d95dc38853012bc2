//! Building successful responses (errors are in [`crate::problem`]).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use portal_core::DomainError;
use serde::Serialize;

pub type Outcome = Result<Response<Bytes>, DomainError>;

/// A JSON response. Identity responses are never cached.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Outcome {
    let bytes = serde_json::to_vec(body).map_err(|e| DomainError::Internal(e.to_string()))?;
    let mut response = Response::new(Bytes::from(bytes));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

pub fn ok<T: Serialize>(body: &T) -> Outcome {
    json(StatusCode::OK, body)
}

pub fn created<T: Serialize>(body: &T) -> Outcome {
    json(StatusCode::CREATED, body)
}

pub fn no_content() -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// `202` for requests whose effect is a message sent (or, by design, not sent): the same body
/// either way.
pub fn accepted() -> Outcome {
    json(
        StatusCode::ACCEPTED,
        &serde_json::json!({"status": "accepted"}),
    )
}

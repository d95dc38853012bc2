//! The one place where domain outcomes become HTTP: RFC 9457 problem documents.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use portal_core::DomainError;
use portal_core::error::FieldError;
use serde::Serialize;

/// Seconds a client should wait before retrying when a dependency is unavailable.
const UNAVAILABLE_RETRY_AFTER: i64 = 5;

#[derive(Debug, Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    code: &'a str,
    detail: String,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

/// A problem response with a stable `code`.
pub fn problem(
    status: StatusCode,
    code: &str,
    detail: impl Into<String>,
    errors: &[FieldError],
    retry_after: Option<i64>,
    request_id: Option<&str>,
) -> Response<Bytes> {
    let body = Problem {
        kind: format!("https://errors.portal.invalid/{code}"),
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        code,
        detail: detail.into(),
        errors,
        request_id,
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut response = Response::new(Bytes::from(bytes));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(seconds) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    }
    response
}

/// Maps a domain error. Internal details never reach the client: a 500 carries only the
/// request id (the cause is in the log line of that id).
pub fn from_domain(err: &DomainError, request_id: Option<&str>) -> Response<Bytes> {
    use StatusCode as S;
    let none: &[FieldError] = &[];
    match err {
        DomainError::Malformed(detail) => problem(
            S::BAD_REQUEST,
            "malformed_request",
            detail.clone(),
            none,
            None,
            None,
        ),
        DomainError::Validation(errors) => problem(
            S::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "one or more fields are invalid",
            errors,
            None,
            None,
        ),
        DomainError::AccountNotFound => problem(
            S::NOT_FOUND,
            "account_not_found",
            "no such account",
            none,
            None,
            None,
        ),
        DomainError::NotFound => problem(
            S::NOT_FOUND,
            "not_found",
            "no such resource",
            none,
            None,
            None,
        ),
        DomainError::InvalidCredentials => problem(
            S::UNAUTHORIZED,
            "invalid_credentials",
            "the username or password is not correct",
            none,
            None,
            None,
        ),
        DomainError::WrongCurrentPassword => problem(
            S::FORBIDDEN,
            "invalid_credentials",
            "the current password is not correct",
            none,
            None,
            None,
        ),
        DomainError::TooManyAttempts { retry_after } => problem(
            S::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "too many failed attempts; try again later",
            none,
            Some(*retry_after),
            None,
        ),
        DomainError::TooManyRequests { retry_after } => problem(
            S::TOO_MANY_REQUESTS,
            "too_many_requests",
            "too many requests; try again later",
            none,
            Some(*retry_after),
            None,
        ),
        DomainError::Unauthenticated => problem(
            S::UNAUTHORIZED,
            "unauthenticated",
            "a valid bearer token is required",
            none,
            None,
            None,
        ),
        DomainError::Forbidden => {
            problem(S::FORBIDDEN, "forbidden", "not allowed", none, None, None)
        }
        DomainError::TermsNotAccepted => problem(
            S::FORBIDDEN,
            "terms_not_accepted",
            "the current Terms & Conditions must be accepted first",
            none,
            None,
            None,
        ),
        DomainError::OwnerOnly => problem(
            S::FORBIDDEN,
            "owner_only",
            "only the business owner may do this",
            none,
            None,
            None,
        ),
        DomainError::AccessRevoked => problem(
            S::FORBIDDEN,
            "access_revoked",
            "your access to this family was revoked",
            none,
            None,
            None,
        ),
        DomainError::AgeConfirmationRequired => problem(
            S::FORBIDDEN,
            "age_confirmation_required",
            "confirm that you are 18 or older first",
            none,
            None,
            None,
        ),
        DomainError::PrimaryPoliciesPending => problem(
            S::FORBIDDEN,
            "primary_policies_pending",
            "the primary guardian has not accepted every required policy yet",
            none,
            None,
            None,
        ),
        DomainError::ViewOnly => problem(
            S::FORBIDDEN,
            "view_only",
            "your access to this family is view-only",
            none,
            None,
            None,
        ),
        DomainError::SignupDisabled => problem(
            S::FORBIDDEN,
            "signup_disabled",
            "online sign-up is disabled for this account",
            none,
            None,
            None,
        ),
        DomainError::EmailNotVerified => problem(
            S::BAD_REQUEST,
            "email_not_verified",
            "a valid email verification token for this address is required",
            none,
            None,
            None,
        ),
        DomainError::InvalidCode => problem(
            S::BAD_REQUEST,
            "invalid_code",
            "the code is not correct",
            none,
            None,
            None,
        ),
        DomainError::CodeExpired => problem(
            S::GONE,
            "code_expired",
            "the code has expired; request a new one",
            none,
            None,
            None,
        ),
        DomainError::InvalidToken => problem(
            S::BAD_REQUEST,
            "invalid_token",
            "the link is not valid or was already used",
            none,
            None,
            None,
        ),
        DomainError::TokenExpired => problem(
            S::GONE,
            "token_expired",
            "the link has expired; request a new one",
            none,
            None,
            None,
        ),
        DomainError::SmsDisabled => problem(
            S::CONFLICT,
            "sms_disabled",
            "SMS is not enabled for this account",
            none,
            None,
            None,
        ),
        DomainError::InsufficientSmsCredits => problem(
            S::PAYMENT_REQUIRED,
            "insufficient_sms_credits",
            "the account has no SMS credits left",
            none,
            None,
            None,
        ),
        DomainError::NoEmailOnFile => problem(
            S::UNPROCESSABLE_ENTITY,
            "no_email_on_file",
            "there is no email address on file",
            &[FieldError::new(
                "channel",
                "no_email_on_file",
                "there is no email address on file",
            )],
            None,
            None,
        ),
        DomainError::NoPhoneOnFile => problem(
            S::UNPROCESSABLE_ENTITY,
            "no_phone_on_file",
            "there is no phone number on file",
            &[FieldError::new(
                "channel",
                "no_phone_on_file",
                "there is no phone number on file",
            )],
            None,
            None,
        ),
        DomainError::StaffCannotSetGuardianPassword => problem(
            S::FORBIDDEN,
            "staff_cannot_set_guardian_password",
            "staff cannot set a guardian's password; send a reset link instead",
            none,
            None,
            None,
        ),
        DomainError::DeliveryFailed => problem(
            S::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "the message could not be sent; nothing was charged; try again shortly",
            none,
            Some(UNAVAILABLE_RETRY_AFTER),
            None,
        ),
        DomainError::Conflict(c) => problem(S::CONFLICT, c.code(), c.to_string(), none, None, None),
        DomainError::Store(e) if e.is_transient() => problem(
            S::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "a dependency is unavailable; try again shortly",
            none,
            Some(UNAVAILABLE_RETRY_AFTER),
            None,
        ),
        DomainError::Store(_) | DomainError::Internal(_) => problem(
            S::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong; quote the request id",
            none,
            None,
            request_id,
        ),
    }
}

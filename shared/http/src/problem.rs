//! The one place where domain outcomes become HTTP: RFC 9457 problem documents.

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use portal_core::DomainError;
use portal_core::error::FieldError;
use portal_core::metrics::{Metric, Metrics};
use serde::Serialize;

/// Seconds a client should wait before retrying when a dependency is unavailable.
pub(crate) const UNAVAILABLE_RETRY_AFTER: i64 = 5;

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

/// The problem code an answer carries, kept on the response (an extension, never sent) so
/// that [`count_answer`] can count a server error by its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProblemCode(pub &'static str);

/// Counts a `5xx` answer, API or page: `ServerError` by problem code and, for a `503` (a
/// dependency down, handled), also `ServiceUnavailable`, so that an outage the function
/// answered itself still reaches an alarm.
pub fn count_answer(metrics: &dyn Metrics, response: &Response<Bytes>) {
    let status = response.status();
    if !status.is_server_error() {
        return;
    }
    let unavailable = status == StatusCode::SERVICE_UNAVAILABLE;
    let code = match response.extensions().get::<ProblemCode>() {
        Some(ProblemCode(code)) => code,
        None if unavailable => "service_unavailable",
        None => "internal_error",
    };
    metrics.record(Metric::ServerError { code });
    if unavailable {
        metrics.record(Metric::ServiceUnavailable);
    }
}

/// A problem response with a stable `code`.
pub fn problem(
    status: StatusCode,
    code: &'static str,
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
    response.extensions_mut().insert(ProblemCode(code));
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

/// How a domain error is answered: status, stable `code`, text and `Retry-After`. The one table
/// of the mapping; `is_transient` errors (and only they) are `503` with `Retry-After`.
struct Answer {
    status: StatusCode,
    code: &'static str,
    detail: Cow<'static, str>,
    retry_after: Option<i64>,
}

fn answer(err: &DomainError) -> Answer {
    use StatusCode as S;
    let a = |status, code, detail: &'static str| Answer {
        status,
        code,
        detail: Cow::Borrowed(detail),
        retry_after: None,
    };
    match err {
        DomainError::Malformed(detail) => Answer {
            detail: Cow::Owned(detail.clone()),
            ..a(S::BAD_REQUEST, "malformed_request", "")
        },
        DomainError::Validation(_) => a(
            S::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "one or more fields are invalid",
        ),
        DomainError::AccountNotFound => a(S::NOT_FOUND, "account_not_found", "no such account"),
        DomainError::NotFound => a(S::NOT_FOUND, "not_found", "no such resource"),
        DomainError::InvalidCredentials => a(
            S::UNAUTHORIZED,
            "invalid_credentials",
            "the username or password is not correct",
        ),
        DomainError::WrongCurrentPassword => a(
            S::FORBIDDEN,
            "invalid_credentials",
            "the current password is not correct",
        ),
        DomainError::TooManyAttempts { retry_after } => Answer {
            retry_after: Some(*retry_after),
            ..a(
                S::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "too many failed attempts; try again later",
            )
        },
        DomainError::TooManyRequests { retry_after } => Answer {
            retry_after: Some(*retry_after),
            ..a(
                S::TOO_MANY_REQUESTS,
                "too_many_requests",
                "too many requests; try again later",
            )
        },
        DomainError::Unauthenticated => a(
            S::UNAUTHORIZED,
            "unauthenticated",
            "a valid bearer token is required",
        ),
        DomainError::Forbidden => a(S::FORBIDDEN, "forbidden", "not allowed"),
        DomainError::TermsNotAccepted => a(
            S::FORBIDDEN,
            "terms_not_accepted",
            "the current Terms & Conditions must be accepted first",
        ),
        DomainError::OwnerOnly => a(
            S::FORBIDDEN,
            "owner_only",
            "only the business owner may do this",
        ),
        DomainError::AccessRevoked => a(
            S::FORBIDDEN,
            "access_revoked",
            "your access to this family was revoked",
        ),
        DomainError::AgeConfirmationRequired => a(
            S::FORBIDDEN,
            "age_confirmation_required",
            "confirm that you are 18 or older first",
        ),
        DomainError::PrimaryPoliciesPending => a(
            S::FORBIDDEN,
            "primary_policies_pending",
            "the primary guardian has not accepted every required policy yet",
        ),
        DomainError::ViewOnly => a(
            S::FORBIDDEN,
            "view_only",
            "your access to this family is view-only",
        ),
        DomainError::SignupDisabled => a(
            S::FORBIDDEN,
            "signup_disabled",
            "online sign-up is disabled for this account",
        ),
        DomainError::AccountSuspended => a(
            S::FORBIDDEN,
            "account_suspended",
            "this account is suspended; contact the business",
        ),
        DomainError::EmailNotVerified => a(
            S::BAD_REQUEST,
            "email_not_verified",
            "a valid email verification token for this address is required",
        ),
        DomainError::InvalidCode => a(S::BAD_REQUEST, "invalid_code", "the code is not correct"),
        DomainError::CodeExpired => a(
            S::GONE,
            "code_expired",
            "the code has expired; request a new one",
        ),
        DomainError::InvalidToken => a(
            S::BAD_REQUEST,
            "invalid_token",
            "the link is not valid or was already used",
        ),
        DomainError::TokenExpired => a(
            S::GONE,
            "token_expired",
            "the link has expired; request a new one",
        ),
        DomainError::SmsDisabled => a(
            S::CONFLICT,
            "sms_disabled",
            "SMS is not enabled for this account",
        ),
        DomainError::InsufficientSmsCredits => a(
            S::PAYMENT_REQUIRED,
            "insufficient_sms_credits",
            "the account has no SMS credits left",
        ),
        DomainError::StaffCannotSetGuardianPassword => a(
            S::FORBIDDEN,
            "staff_cannot_set_guardian_password",
            "staff cannot set a guardian's password; send a reset link instead",
        ),
        DomainError::DeliveryFailed => Answer {
            retry_after: Some(UNAVAILABLE_RETRY_AFTER),
            ..a(
                S::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "the message could not be sent; nothing was charged; try again shortly",
            )
        },
        DomainError::Store(e) if e.is_transient() => Answer {
            retry_after: Some(UNAVAILABLE_RETRY_AFTER),
            ..a(
                S::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "a dependency is unavailable; try again shortly",
            )
        },
        DomainError::NoEmailOnFile => a(
            S::UNPROCESSABLE_ENTITY,
            "no_email_on_file",
            "there is no email address on file",
        ),
        DomainError::NoPhoneOnFile => a(
            S::UNPROCESSABLE_ENTITY,
            "no_phone_on_file",
            "there is no phone number on file",
        ),
        DomainError::Conflict(c) => Answer {
            detail: Cow::Owned(c.to_string()),
            ..a(S::CONFLICT, c.code(), "")
        },
        DomainError::Store(_) | DomainError::Internal(_) => a(
            S::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong; quote the request id",
        ),
    }
}

/// The stable code a domain error is answered with (the hosted pages say it in words).
pub fn code_of(err: &DomainError) -> &'static str {
    answer(err).code
}

/// The status a domain error is answered with.
pub fn status_of(err: &DomainError) -> StatusCode {
    answer(err).status
}

/// Maps a domain error. Internal details never reach the client: a 500 carries only the
/// request id (the cause is in the log line of that id).
pub fn from_domain(err: &DomainError, request_id: Option<&str>) -> Response<Bytes> {
    let answer = answer(err);
    // The field errors a 422 lists (the "nothing on file" refusals name the channel).
    let on_file;
    let errors: &[FieldError] = match err {
        DomainError::Validation(errors) => errors,
        DomainError::NoEmailOnFile | DomainError::NoPhoneOnFile => {
            on_file = [FieldError::new(
                "channel",
                answer.code,
                answer.detail.to_string(),
            )];
            &on_file
        }
        _ => &[],
    };
    let request_id = (answer.status == StatusCode::INTERNAL_SERVER_ERROR)
        .then_some(request_id)
        .flatten();
    problem(
        answer.status,
        answer.code,
        answer.detail,
        errors,
        answer.retry_after,
        request_id,
    )
}

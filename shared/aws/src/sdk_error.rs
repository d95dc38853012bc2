//! Describing SDK errors without request data.

use aws_sdk_dynamodb::error::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// A short description of an SDK error without request data: the service error code, or the
/// transport failure kind.
pub(crate) fn sdk_error_reason<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> String {
    match err {
        SdkError::ConstructionFailure(_) => "request construction failed".into(),
        SdkError::TimeoutError(_) => "timeout".into(),
        SdkError::DispatchFailure(d) if d.is_timeout() => "timeout".into(),
        SdkError::DispatchFailure(d) if d.is_io() => "connection failed".into(),
        SdkError::DispatchFailure(_) => "dispatch failed".into(),
        SdkError::ResponseError(_) => "unreadable response".into(),
        SdkError::ServiceError(s) => s.err().code().unwrap_or("unknown service error").into(),
        _ => "unknown SDK error".into(),
    }
}

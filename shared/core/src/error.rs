//! The domain's outcomes other than success. Mapped to problem+json in exactly one place
//! (`portal-http`'s `problem` module).

use crate::store::StoreError;
use crate::tokens::RandomError;

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub detail: String,
    /// For `password_policy`: the rules the password failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<&'static str>>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            detail: detail.into(),
            rules: None,
        }
    }

    pub fn required(field: impl Into<String>) -> Self {
        let field = field.into();
        let detail = format!("{field} is required");
        Self::new(field, "required", detail)
    }
}

/// Collects every invalid field of a request, so one response lists them all.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, error: FieldError) {
        self.0.push(error);
    }

    /// Keeps the value of a parse, or records its error.
    pub fn take<T>(&mut self, parsed: Result<T, FieldError>) -> Option<T> {
        match parsed {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was recorded, else the validation error.
    /// A nullable field of a change: left out (`None`) stays unchanged, `null` or blank clears
    /// it (`Some(None)`), anything else is parsed (a failure is kept here).
    pub fn take_optional<T>(
        &mut self,
        raw: &Option<Option<String>>,
        parse: impl Fn(&str) -> Result<T, FieldError>,
    ) -> Option<Option<T>> {
        match raw {
            None => None,
            Some(None) => Some(None),
            Some(Some(s)) if s.trim().is_empty() => Some(None),
            Some(Some(s)) => self.take(parse(s)).map(Some),
        }
    }

    pub fn finish(self) -> Result<(), DomainError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Validation(self.0))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("the request is malformed: {0}")]
    Malformed(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("account not found")]
    AccountNotFound,
    #[error("not found")]
    NotFound,
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The current password given to change one's own password is wrong (403, not 401: the
    /// caller is authenticated).
    #[error("current password is wrong")]
    WrongCurrentPassword,
    #[error("too many failed attempts")]
    TooManyAttempts { retry_after: i64 },
    #[error("too many requests")]
    TooManyRequests { retry_after: i64 },
    #[error("unauthenticated")]
    Unauthenticated,
    #[error("forbidden")]
    Forbidden,
    #[error("terms not accepted")]
    TermsNotAccepted,
    #[error("only the business owner may do this")]
    OwnerOnly,
    #[error("access to this family was revoked")]
    AccessRevoked,
    #[error("age confirmation required")]
    AgeConfirmationRequired,
    #[error("the primary guardian has policies pending")]
    PrimaryPoliciesPending,
    #[error("view-only access")]
    ViewOnly,
    #[error("online sign-up is disabled")]
    SignupDisabled,
    /// An operator suspended the account (`portal-admin suspend-tenant`): no login, sign-up,
    /// invitation acceptance or reset request until it is resumed.
    #[error("the account is suspended")]
    AccountSuspended,
    #[error("the email was not verified")]
    EmailNotVerified,
    #[error("invalid code")]
    InvalidCode,
    #[error("the code expired")]
    CodeExpired,
    #[error("invalid or used token")]
    InvalidToken,
    #[error("the token expired")]
    TokenExpired,
    #[error("SMS is not enabled for this account")]
    SmsDisabled,
    #[error("no SMS credits left")]
    InsufficientSmsCredits,
    #[error("no email address on file")]
    NoEmailOnFile,
    #[error("no phone number on file")]
    NoPhoneOnFile,
    #[error("staff cannot set a guardian's password")]
    StaffCannotSetGuardianPassword,
    /// A message could not be delivered (nothing was charged or kept).
    #[error("message not delivered")]
    DeliveryFailed,
    #[error("conflict: {0}")]
    Conflict(Conflict),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// The 409 outcomes, each with its stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("username_taken")]
    UsernameTaken,
    #[error("terms_version_mismatch")]
    TermsVersionMismatch,
    #[error("account_exists")]
    AccountExists,
    #[error("email_in_use")]
    EmailInUse,
    #[error("policies_pending")]
    PoliciesPending,
    #[error("already_member")]
    AlreadyMember,
}

impl Conflict {
    pub fn code(self) -> &'static str {
        match self {
            Conflict::UsernameTaken => "username_taken",
            Conflict::TermsVersionMismatch => "terms_version_mismatch",
            Conflict::AccountExists => "account_exists",
            Conflict::EmailInUse => "email_in_use",
            Conflict::PoliciesPending => "policies_pending",
            Conflict::AlreadyMember => "already_member",
        }
    }
}

pub type DomainResult<T> = Result<T, DomainError>;

impl From<RandomError> for DomainError {
    fn from(e: RandomError) -> Self {
        DomainError::Internal(e.to_string())
    }
}

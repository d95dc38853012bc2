//! The `/_dev` routes: only in `portal-local`, never in a Lambda build.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use portal_core::account::AccountName;
use portal_core::clock::{AdjustableClock, Clock, MAX_ADVANCE_SECONDS, rfc3339};
use portal_core::contact::parse_text;
use portal_core::error::FieldErrors;
use portal_core::onboarding::NewTenant;
use portal_core::staff::{NewStaff, StaffInput};
use portal_core::tenants::{DailyMailLimit, SettingsChange, SettingsInput};
use portal_core::{DomainError, DomainResult, FieldError, Portal};
use portal_http::problem::from_domain;
use portal_http::request::json_body;
use portal_http::response::{Outcome, json, no_content};
use serde::Deserialize;

use crate::outbox::Outbox;

/// The dev routes (method, path), for the OpenAPI coverage test.
pub const DEV_ROUTES: &[(&str, &str)] = &[
    ("POST", "/_dev/tenants"),
    ("PATCH", "/_dev/tenants/{account}"),
    ("PUT", "/_dev/terms"),
    ("GET", "/_dev/outbox"),
    ("DELETE", "/_dev/outbox"),
    ("POST", "/_dev/clock"),
    ("POST", "/_dev/purge"),
];

pub struct Dev<'a> {
    pub portal: &'a Portal,
    pub clock: &'a AdjustableClock,
    pub outbox: &'a Outbox,
}

#[derive(Deserialize)]
struct TenantBody {
    account: Option<String>,
    business_name: Option<String>,
    owner: Option<StaffInput>,
    settings: Option<SettingsWithCredits>,
}

#[derive(Deserialize, Default)]
struct SettingsWithCredits {
    #[serde(flatten)]
    settings: SettingsInput,
    sms_credits: Option<i64>,
    /// Operator-only, as the credits: the office's settings cannot change it.
    daily_mail_limit: Option<i64>,
}

impl SettingsWithCredits {
    /// The settings change, with the operator's daily mail ceiling when given.
    fn change(&self) -> DomainResult<SettingsChange> {
        let parsed = SettingsChange::parse(&self.settings);
        let limit = self
            .daily_mail_limit
            .map(|n| DailyMailLimit::parse(n, "daily_mail_limit"))
            .transpose();
        match (parsed, limit) {
            (Ok(change), Ok(None)) => Ok(change),
            (Ok(change), Ok(Some(limit))) => Ok(change.with_daily_mail_limit(limit)),
            (Err(DomainError::Validation(mut errors)), Err(e)) => {
                errors.push(e);
                Err(DomainError::Validation(errors))
            }
            (Ok(_), Err(e)) => Err(DomainError::Validation(vec![e])),
            (Err(e), _) => Err(e),
        }
    }
}

#[derive(Deserialize)]
struct TermsBody {
    version: Option<String>,
}

#[derive(Deserialize)]
struct ClockBody {
    advance_seconds: Option<i64>,
}

impl Dev<'_> {
    pub async fn handle(&self, req: &Request<Bytes>) -> Response<Bytes> {
        match self.route(req).await {
            Ok(r) => r,
            Err(e) => from_domain(&e, None),
        }
    }

    async fn route(&self, req: &Request<Bytes>) -> Outcome {
        let path = req.uri().path().trim_end_matches('/');
        let method = req.method().clone();
        match (method, path) {
            (Method::POST, "/_dev/tenants") => self.create_tenant(req).await,
            (Method::PATCH, p) if p.starts_with("/_dev/tenants/") => {
                let account = AccountName::parse(&p["/_dev/tenants/".len()..])
                    .ok_or(DomainError::AccountNotFound)?;
                let body: SettingsWithCredits = json_body(req)?;
                let change = body.change()?;
                let settings = self
                    .portal
                    .patch_tenant(&account, &change, body.sms_credits)
                    .await?;
                json(StatusCode::OK, &settings)
            }
            (Method::PUT, "/_dev/terms") => {
                let body: TermsBody = json_body(req)?;
                self.portal
                    .publish_terms(body.version.as_deref().unwrap_or_default())
                    .await?;
                Ok(no_content())
            }
            (Method::GET, "/_dev/outbox") => json(
                StatusCode::OK,
                &serde_json::json!({"messages": self.outbox.messages()}),
            ),
            (Method::DELETE, "/_dev/outbox") => {
                self.outbox.clear();
                Ok(no_content())
            }
            (Method::POST, "/_dev/clock") => {
                // 0 to 10 years in all; anything else is refused whole and moves nothing.
                let body: ClockBody = json_body(req)?;
                let now = body
                    .advance_seconds
                    .and_then(|seconds| self.clock.advance(seconds))
                    .ok_or_else(|| {
                        DomainError::Malformed(format!(
                            "advance_seconds must be an integer from 0 that keeps the clock \
                             within {MAX_ADVANCE_SECONDS} s (10 years) of real time in all; \
                             it is now {} s ahead",
                            self.clock.offset_seconds()
                        ))
                    })?;
                json(StatusCode::OK, &serde_json::json!({"now": rfc3339(now)}))
            }
            (Method::POST, "/_dev/purge") => {
                let report = self.portal.scheduled_run(self.clock.epoch()).await?;
                json(
                    StatusCode::OK,
                    &serde_json::json!({"deleted": report.purge.deleted}),
                )
            }
            _ => Err(DomainError::NotFound),
        }
    }

    async fn create_tenant(&self, req: &Request<Bytes>) -> Outcome {
        let body: TenantBody = json_body(req)?;
        let mut errors = FieldErrors::new();
        let account = match body.account.as_deref() {
            None | Some("") => {
                errors.push(FieldError::required("account"));
                None
            }
            Some(a) => {
                let parsed = AccountName::parse(a);
                if parsed.is_none() {
                    errors.push(FieldError::new(
                        "account",
                        "invalid",
                        "use 2 to 63 lower-case letters, digits and '-', starting with a letter or digit",
                    ));
                }
                parsed
            }
        };
        let business_name = errors.take(parse_text(
            body.business_name.as_deref().unwrap_or_default(),
            "business_name",
            200,
        ));
        let owner = match NewStaff::parse(body.owner.unwrap_or_default(), "owner.") {
            Ok(o) => Some(o),
            Err(DomainError::Validation(es)) => {
                es.into_iter().for_each(|e| errors.push(e));
                None
            }
            Err(e) => return Err(e),
        };
        let extra = body.settings.unwrap_or_default();
        let settings = match extra.change() {
            Ok(s) => Some(s),
            Err(DomainError::Validation(es)) => {
                es.into_iter().for_each(|mut e| {
                    e.field = format!("settings.{}", e.field);
                    errors.push(e)
                });
                None
            }
            Err(e) => return Err(e),
        };
        if extra.sms_credits.is_some_and(|c| c < 0) {
            errors.push(FieldError::new(
                "settings.sms_credits",
                "invalid",
                "credits cannot be negative",
            ));
        }
        errors.finish()?;
        let (Some(account), Some(business_name), Some(owner), Some(settings)) =
            (account, business_name, owner, settings)
        else {
            return Err(DomainError::Internal("validation lost an error".into()));
        };
        let owner_staff_id = self
            .portal
            .create_tenant(NewTenant {
                account: account.clone(),
                business_name,
                owner,
                settings,
                sms_credits: extra.sms_credits.unwrap_or(0),
                actor: portal_core::audit::Actor::system(),
            })
            .await?;
        json(
            StatusCode::CREATED,
            &serde_json::json!({"account": account, "owner_staff_id": owner_staff_id}),
        )
    }
}

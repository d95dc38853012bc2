//! The sign-up wizard (seed 003) and the policies step.
//!
//! `sign-up` shows the current step (GET) and takes it (POST, naming it in a hidden `step`; the
//! "Back" button submits `back=1` and keeps what was typed). The steps: email, then the emailed
//! 6-digit code when the tenant validates emails → guardian (name, relationship, email type and
//! opt-in, one or two phones with SMS opt-in; web needs one) → password → address and referral
//! source → the tenant's custom fields (only when it has some) → review with the 18+
//! confirmation → create. Each step is checked as it is taken by the domain's own parse
//! (`SignupForm::parse` on the answers so far, its errors kept to the step's fields), and the
//! family is created by the same `Portal::signup` as `POST portal/signup` (`client: "web"`), so
//! every rule, error, limit and audit entry is the API's; an error the create finds sends the
//! visitor back to the step that asks for the field.
//!
//! The answers so far, the password and the email-verification token included, live in the flow
//! cookie (`__Host-portal-flow`, see `cookies`): sealed with ChaCha20-Poly1305 (neither readable
//! nor changeable in the browser), `HttpOnly`, for one hour; the flow ends when the family is
//! created. The draft keeps short keys and values within the domain's limits, and a draft that
//! would not fit a cookie (4 KiB) is refused in words instead of being lost.
//!
//! `policies`: the active family's policies, each with its text and an "I accept" box per
//! version not accepted yet, accepted through the same `Portal::accept_policies` as
//! `POST portal/policies/accept`; read-only for a secondary (view-only) user.

use std::collections::BTreeMap;

use http::StatusCode;
use maud::{Markup, html};
use portal_core::families::{FamilyContext, FamilyUse, Role};
use portal_core::policies::AcceptInput;
use portal_core::signer::SubjectKind;
use portal_core::signup::{
    AddressInput, EmailInput, EmailStep, GuardianInput, PhoneInput, SignupForm, SignupInput,
};
use portal_core::tenants::TenantRecord;
use portal_core::{DomainError, FieldError};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::layout::{FormErrors, Input, checkbox, error_message, form, notice, select};
use super::messages::Msg;
use super::{Ctx, PageResult, status_of};

/// The most JSON the flow cookie may carry: sealed (12-byte nonce, 16-byte tag) and in base64
/// (4/3), with its name, it stays under the 4096 bytes a browser keeps for one cookie.
const MAX_FLOW_JSON: usize = 2_900;

// The domain's limits (characters), so the draft never holds more than a valid answer; past
// one, the step is refused with the domain's `too_long`. Phone numbers and the second address
// line have no limit in the domain: these pages keep them short for the cookie's sake.
const MAX_EMAIL: usize = 254;
const MAX_NAME: usize = 100;
const MAX_RELATIONSHIP: usize = 50;
const MAX_PHONE: usize = 32;
const MAX_LINE: usize = 200;
const MAX_PLACE: usize = 100;
const MAX_POSTAL_CODE: usize = 20;
const MAX_REFERRAL: usize = 100;
const MAX_CUSTOM: usize = 1000;
/// Phone rows on the page (no script: one row plus an optional second).
const PHONE_ROWS: usize = 2;

const EMAIL_TYPES: &[(&str, Msg)] = &[
    ("home", Msg::OptionHome),
    ("work", Msg::OptionWork),
    ("other", Msg::OptionOther),
];
const PHONE_TYPES: &[(&str, Msg)] = &[
    ("mobile", Msg::OptionMobile),
    ("home", Msg::OptionHome),
    ("work", Msg::OptionWork),
];

/// The API's field names → this wizard's form fields (custom fields, `password`,
/// `password_confirmation`, `referral_source` and `age_confirmed` keep their names).
const RENAME: &[(&str, &str)] = &[
    ("email", "email"),
    ("email.address", "email"),
    ("guardian.first_name", "first_name"),
    ("guardian.last_name", "last_name"),
    ("guardian.relationship", "relationship"),
    ("email.type", "email_type"),
    ("email.opt_in", "email_opt_in"),
    ("phones", "phone1"),
    ("phones[0].number", "phone1"),
    ("phones[0].type", "phone1_type"),
    ("phones[1].number", "phone2"),
    ("phones[1].type", "phone2_type"),
    ("address", "line1"),
    ("address.line1", "line1"),
    ("address.line2", "line2"),
    ("address.city", "city"),
    ("address.region", "region"),
    ("address.postal_code", "postal_code"),
    ("address.country", "country"),
];

/// The wizard's steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Step {
    #[default]
    Email,
    Code,
    Guardian,
    Password,
    Address,
    Custom,
    Review,
}

impl Step {
    const ALL: [Step; 7] = [
        Step::Email,
        Step::Code,
        Step::Guardian,
        Step::Password,
        Step::Address,
        Step::Custom,
        Step::Review,
    ];

    fn name(self) -> &'static str {
        match self {
            Step::Email => "email",
            Step::Code => "code",
            Step::Guardian => "guardian",
            Step::Password => "password",
            Step::Address => "address",
            Step::Custom => "custom",
            Step::Review => "review",
        }
    }

    fn parse(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.name() == name)
    }

    fn title(self) -> Msg {
        match self {
            Step::Email => Msg::SignupStepEmail,
            Step::Code => Msg::SignupStepCode,
            Step::Guardian => Msg::SignupStepGuardian,
            Step::Password => Msg::SignupStepPassword,
            Step::Address => Msg::SignupStepAddress,
            Step::Custom => Msg::SignupStepCustom,
            Step::Review => Msg::SignupStepReview,
        }
    }

    /// Whether this tenant asks the step: the code only with email validation on, the custom
    /// fields only when it has some.
    fn applies(self, tenant: &TenantRecord) -> bool {
        match self {
            Step::Code => tenant.email_validation_required,
            Step::Custom => !tenant.custom_fields.is_empty(),
            _ => true,
        }
    }

    /// The step after this one.
    fn next(self, tenant: &TenantRecord) -> Step {
        Step::ALL
            .into_iter()
            .skip_while(|s| *s != self)
            .skip(1)
            .find(|s| s.applies(tenant))
            .unwrap_or(Step::Review)
    }

    /// Where "Back" goes: the step before, never the code step (a code is used up once
    /// entered; back from it is the email).
    fn back(self, tenant: &TenantRecord) -> Step {
        Step::ALL
            .into_iter()
            .rev()
            .skip_while(|s| *s != self)
            .skip(1)
            .find(|s| s.applies(tenant) && *s != Step::Code)
            .unwrap_or(Step::Email)
    }

    /// The step that asks for an API field.
    fn of_field(field: &str) -> Step {
        match field {
            "email" | "email.address" => Step::Email,
            "password" | "password_confirmation" => Step::Password,
            "address" | "referral_source" => Step::Address,
            f if f.starts_with("guardian.")
                || f.starts_with("email.")
                || f == "phones"
                || f.starts_with("phones[") =>
            {
                Step::Guardian
            }
            f if f.starts_with("address.") => Step::Address,
            f if f.starts_with("custom_fields.") => Step::Custom,
            _ => Step::Review,
        }
    }
}

/// The answers so far, as kept in the flow cookie (short keys: the cookie is small).
#[derive(Clone, Default, Serialize, Deserialize)]
struct SignupDraft {
    /// The step the visitor is at.
    #[serde(rename = "s", default)]
    at: Step,
    #[serde(rename = "e", default, skip_serializing_if = "String::is_empty")]
    email: String,
    /// The proof of the emailed code (validation on).
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    verification: Option<String>,
    #[serde(rename = "f", default, skip_serializing_if = "String::is_empty")]
    first_name: String,
    #[serde(rename = "l", default, skip_serializing_if = "String::is_empty")]
    last_name: String,
    #[serde(rename = "r", default, skip_serializing_if = "String::is_empty")]
    relationship: String,
    #[serde(rename = "t", default, skip_serializing_if = "String::is_empty")]
    email_type: String,
    #[serde(rename = "o", default, skip_serializing_if = "is_false")]
    email_opt_in: bool,
    #[serde(rename = "p", default, skip_serializing_if = "Vec::is_empty")]
    phones: Vec<DraftPhone>,
    /// As typed (never trimmed), only once the password step accepted it.
    #[serde(rename = "w", default, skip_serializing_if = "String::is_empty")]
    password: String,
    #[serde(rename = "a", default, skip_serializing_if = "DraftAddress::is_empty")]
    address: DraftAddress,
    #[serde(rename = "h", default, skip_serializing_if = "String::is_empty")]
    referral_source: String,
    /// Custom field answers by key (only the tenant's fields, only non-empty ones).
    #[serde(rename = "c", default, skip_serializing_if = "BTreeMap::is_empty")]
    custom: BTreeMap<String, String>,
    #[serde(rename = "g", default, skip_serializing_if = "is_false")]
    age_confirmed: bool,
}

#[derive(Clone, Default, Serialize, Deserialize)]
struct DraftPhone {
    #[serde(rename = "n")]
    number: String,
    #[serde(rename = "t", default)]
    kind: String,
    #[serde(rename = "s", default, skip_serializing_if = "is_false")]
    sms_opt_in: bool,
}

#[derive(Clone, Default, Serialize, Deserialize)]
struct DraftAddress {
    #[serde(rename = "1", default, skip_serializing_if = "String::is_empty")]
    line1: String,
    #[serde(rename = "2", default, skip_serializing_if = "String::is_empty")]
    line2: String,
    #[serde(rename = "c", default, skip_serializing_if = "String::is_empty")]
    city: String,
    #[serde(rename = "r", default, skip_serializing_if = "String::is_empty")]
    region: String,
    #[serde(rename = "p", default, skip_serializing_if = "String::is_empty")]
    postal_code: String,
    #[serde(rename = "k", default, skip_serializing_if = "String::is_empty")]
    country: String,
}

impl DraftAddress {
    fn is_empty(&self) -> bool {
        [
            &self.line1,
            &self.line2,
            &self.city,
            &self.region,
            &self.postal_code,
            &self.country,
        ]
        .iter()
        .all(|v| v.is_empty())
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A submitted text, trimmed and kept to `max` characters; past it, the domain's `too_long`
/// under the API's field name.
fn capped(raw: &str, max: usize, api_field: &str, errors: &mut Vec<FieldError>) -> String {
    let value = raw.trim();
    if value.chars().count() > max {
        errors.push(FieldError::new(
            api_field,
            "too_long",
            format!("at most {max} characters"),
        ));
        value.chars().take(max).collect()
    } else {
        value.to_owned()
    }
}

/// A submitted choice among `options` ("" for anything else: the domain says what is wrong).
fn one_of(raw: &str, options: &[(&str, Msg)]) -> String {
    options
        .iter()
        .find(|(value, _)| *value == raw)
        .map_or_else(String::new, |(value, _)| (*value).to_owned())
}

fn label_of(value: &str, options: &[(&str, Msg)]) -> &'static str {
    options
        .iter()
        .find(|(v, _)| *v == value)
        .map_or("", |(_, m)| m.en())
}

fn some(value: &str) -> Option<String> {
    Some(value.to_owned())
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

impl SignupDraft {
    /// The step to show: the one reached, less any the tenant no longer asks.
    fn current(&self, tenant: &TenantRecord) -> Step {
        if self.email.is_empty() {
            return Step::Email;
        }
        let mut step = self.at;
        while !step.applies(tenant) {
            step = step.next(tenant);
        }
        step
    }

    /// Takes a step's answers from the form (not the email, code and password steps, which
    /// are taken by their own calls); the over-long ones as errors.
    fn take(&mut self, step: Step, ctx: &Ctx<'_>) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let f = &ctx.form;
        match step {
            Step::Guardian => {
                self.first_name = capped(
                    f.get("first_name"),
                    MAX_NAME,
                    "guardian.first_name",
                    &mut errors,
                );
                self.last_name = capped(
                    f.get("last_name"),
                    MAX_NAME,
                    "guardian.last_name",
                    &mut errors,
                );
                self.relationship = capped(
                    f.get("relationship"),
                    MAX_RELATIONSHIP,
                    "guardian.relationship",
                    &mut errors,
                );
                self.email_type = one_of(f.get("email_type"), EMAIL_TYPES);
                self.email_opt_in = f.checked("email_opt_in");
                // Rows left empty are dropped; the others become phones 1 and 2 in order.
                self.phones.clear();
                for row in 1..=PHONE_ROWS {
                    let number = f.get(&format!("phone{row}"));
                    if number.trim().is_empty() {
                        continue;
                    }
                    let i = self.phones.len();
                    self.phones.push(DraftPhone {
                        number: capped(
                            number,
                            MAX_PHONE,
                            &format!("phones[{i}].number"),
                            &mut errors,
                        ),
                        kind: one_of(f.get(&format!("phone{row}_type")), PHONE_TYPES),
                        sms_opt_in: f.checked(&format!("phone{row}_sms")),
                    });
                }
            }
            Step::Address => {
                let mut field = |name: &str, max: usize| {
                    capped(f.get(name), max, &format!("address.{name}"), &mut errors)
                };
                self.address = DraftAddress {
                    line1: field("line1", MAX_LINE),
                    line2: field("line2", MAX_LINE),
                    city: field("city", MAX_PLACE),
                    region: field("region", MAX_PLACE),
                    postal_code: field("postal_code", MAX_POSTAL_CODE),
                    country: field("country", MAX_PLACE),
                };
                self.referral_source = capped(
                    f.get("referral_source"),
                    MAX_REFERRAL,
                    "referral_source",
                    &mut errors,
                );
            }
            Step::Custom => {
                self.custom.clear();
                for field in &ctx.tenant.custom_fields {
                    let name = format!("custom_fields.{}", field.key);
                    let value = capped(f.get(&name), MAX_CUSTOM, &name, &mut errors);
                    if !value.is_empty() {
                        self.custom.insert(field.key.clone(), value);
                    }
                }
            }
            Step::Review => self.age_confirmed = f.checked("age_confirmed"),
            Step::Email | Step::Code | Step::Password => {}
        }
        errors
    }

    /// The API's sign-up input from the answers (a web sign-up).
    fn input(&self) -> SignupInput {
        SignupInput {
            email_verification_token: self.verification.clone(),
            client: some("web"),
            age_confirmed: Some(self.age_confirmed),
            guardian: Some(GuardianInput {
                first_name: some(&self.first_name),
                last_name: some(&self.last_name),
                relationship: some(&self.relationship),
            }),
            email: Some(EmailInput {
                address: some(&self.email),
                kind: non_empty(&self.email_type),
                opt_in: Some(self.email_opt_in),
            }),
            phones: Some(
                self.phones
                    .iter()
                    .map(|p| PhoneInput {
                        number: some(&p.number),
                        kind: non_empty(&p.kind),
                        sms_opt_in: Some(p.sms_opt_in),
                    })
                    .collect(),
            ),
            password: Some(SecretString::from(self.password.clone())),
            // The password step checked the confirmation.
            password_confirmation: Some(SecretString::from(self.password.clone())),
            address: Some(AddressInput {
                line1: some(&self.address.line1),
                line2: non_empty(&self.address.line2),
                city: some(&self.address.city),
                region: some(&self.address.region),
                postal_code: some(&self.address.postal_code),
                country: some(&self.address.country),
            }),
            referral_source: non_empty(&self.referral_source),
            custom_fields: Some(
                self.custom
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect(),
            ),
        }
    }
}

/// The domain's field errors for one step: `SignupForm::parse` on the answers so far, kept to
/// the fields that step asks for (later steps are not answered yet), after `found`.
fn step_errors(
    input: SignupInput,
    step: Step,
    tenant: &TenantRecord,
    mut found: Vec<FieldError>,
) -> Vec<FieldError> {
    if let Err(DomainError::Validation(list)) = SignupForm::parse(input, tenant) {
        for e in list {
            if Step::of_field(&e.field) == step && !found.iter().any(|f| f.field == e.field) {
                found.push(e);
            }
        }
    }
    found
}

/// Field errors in words, by form field.
fn errors_of(list: Vec<FieldError>) -> FormErrors {
    let required = |field: &str| {
        list.iter()
            .any(|e| e.field == field && e.code == "required")
    };
    let (age, phones) = (required("age_confirmed"), required("phones"));
    let mut errors = FormErrors::from_domain(&DomainError::Validation(list), RENAME);
    if age {
        errors
            .fields
            .insert("age_confirmed".into(), Msg::SignupAgeRequired.en().into());
    }
    if phones {
        errors
            .fields
            .insert("phone1".into(), Msg::SignupPhoneRequired.en().into());
    }
    errors
}

/// The draft in the flow cookie (none yet: an empty one).
fn load(ctx: &mut Ctx<'_>) -> Result<SignupDraft, DomainError> {
    Ok(ctx
        .flow()?
        .signup
        .clone()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default())
}

/// Keeps the draft in the flow cookie; `false` (nothing kept) when it would not fit.
fn save(ctx: &mut Ctx<'_>, draft: &SignupDraft) -> Result<bool, DomainError> {
    let value = serde_json::to_value(draft).map_err(|e| DomainError::Internal(e.to_string()))?;
    let flow = ctx.flow()?;
    let before = flow.signup.replace(value);
    let size = serde_json::to_vec(&*flow).map_or(usize::MAX, |json| json.len());
    if size > MAX_FLOW_JSON {
        flow.signup = before;
        return Ok(false);
    }
    ctx.save_flow()?;
    Ok(true)
}

/// `sign-up`: the wizard.
pub(crate) async fn sign_up(ctx: &mut Ctx<'_>) -> PageResult {
    if !ctx.tenant.customer_signup_enabled {
        return disabled(ctx);
    }
    let mut draft = load(ctx)?;
    let current = draft.current(&ctx.tenant);
    if !ctx.is_post() {
        let resent = ctx.query("sent").is_some() && current == Step::Code;
        let note = resent.then_some(Msg::SignupCodeResent);
        return show(
            ctx,
            &draft,
            current,
            &FormErrors::none(),
            note,
            StatusCode::OK,
        );
    }
    // A step already reached (the current one, or an earlier one revisited); anything else is
    // a form from another time: the current step is shown.
    let step = match Step::parse(ctx.form.get("step")) {
        Some(step) if step <= current && step.applies(&ctx.tenant) => step,
        _ => return ctx.redirect("sign-up"),
    };
    if ctx.form.checked("back") {
        // What was typed is kept (unchecked; the password only once accepted).
        let mut kept = draft.clone();
        draft.take(step, ctx);
        draft.at = step.back(&ctx.tenant);
        if !save(ctx, &draft)? {
            kept.at = draft.at;
            save(ctx, &kept)?;
        }
        return ctx.redirect("sign-up");
    }
    match step {
        Step::Email => email_step(ctx, draft).await,
        Step::Code => code_step(ctx, draft).await,
        Step::Password => password_step(ctx, draft),
        Step::Review => create(ctx, draft).await,
        Step::Guardian | Step::Address | Step::Custom => {
            let found = draft.take(step, ctx);
            let list = step_errors(draft.input(), step, &ctx.tenant, found);
            if list.is_empty() {
                let next = step.next(&ctx.tenant);
                advance(ctx, draft, step, next)
            } else {
                show(
                    ctx,
                    &draft,
                    step,
                    &errors_of(list),
                    None,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
            }
        }
    }
}

/// Moves the draft from `step` on to `to` (post-redirect-get), unless it no longer fits.
fn advance(ctx: &mut Ctx<'_>, mut draft: SignupDraft, step: Step, to: Step) -> PageResult {
    draft.at = to;
    if save(ctx, &draft)? {
        return ctx.redirect("sign-up");
    }
    draft.at = step;
    show(
        ctx,
        &draft,
        step,
        &FormErrors::general(Msg::SignupTooLarge.en()),
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
}

/// The email step: `start_signup` (the code mailed when validation is on; `email_in_use`,
/// `too_many_requests` and the email's own errors in words).
async fn email_step(ctx: &mut Ctx<'_>, mut draft: SignupDraft) -> PageResult {
    let mut found = Vec::new();
    let email = capped(ctx.form.get("email"), MAX_EMAIL, "email", &mut found);
    let unchanged = email.to_lowercase() == draft.email.to_lowercase();
    draft.email = email;
    if !found.is_empty() {
        return show(
            ctx,
            &draft,
            Step::Email,
            &errors_of(found),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    if unchanged && draft.verification.is_some() && ctx.tenant.email_validation_required {
        // Back to the email and on again: the address is proven already.
        return advance(ctx, draft, Step::Email, Step::Guardian);
    }
    match ctx.p.start_signup(&ctx.account, &draft.email).await {
        Ok(sent) => {
            draft.verification = None;
            let to = match sent {
                EmailStep::CodeSent => Step::Code,
                EmailStep::NotRequired => Step::Guardian,
            };
            advance(ctx, draft, Step::Email, to)
        }
        Err(DomainError::SignupDisabled) => disabled(ctx),
        Err(e) => match status_of(&e) {
            Some(status) => {
                let errors = match e {
                    DomainError::Validation(list) => errors_of(list),
                    other => {
                        let mut errors = FormErrors::none();
                        errors.field("email", error_message(&other));
                        errors
                    }
                };
                show(ctx, &draft, Step::Email, &errors, None, status)
            }
            None => Err(e),
        },
    }
}

/// The code step: the emailed code checked (`invalid_code`, `code_expired`,
/// `too_many_attempts`), or a new one sent.
async fn code_step(ctx: &mut Ctx<'_>, mut draft: SignupDraft) -> PageResult {
    let resend = ctx.form.checked("resend");
    let outcome = if resend {
        match ctx.p.start_signup(&ctx.account, &draft.email).await {
            Ok(EmailStep::CodeSent) => {
                draft.at = Step::Code;
                save(ctx, &draft)?;
                return ctx.redirect("sign-up?sent=1");
            }
            // Validation was switched off meanwhile: nothing to prove.
            Ok(EmailStep::NotRequired) => return advance(ctx, draft, Step::Code, Step::Guardian),
            Err(e) => e,
        }
    } else {
        let code = ctx.form.get("code").trim().to_owned();
        if code.is_empty() {
            let mut errors = FormErrors::none();
            errors.field("code", Msg::FieldRequired.en());
            return show(
                ctx,
                &draft,
                Step::Code,
                &errors,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
        match ctx
            .p
            .verify_signup_code(&ctx.account, &draft.email, &code)
            .await
        {
            Ok(token) => {
                draft.verification = Some(token);
                return advance(ctx, draft, Step::Code, Step::Guardian);
            }
            Err(e) => e,
        }
    };
    if matches!(outcome, DomainError::SignupDisabled) {
        return disabled(ctx);
    }
    let Some(status) = status_of(&outcome) else {
        return Err(outcome);
    };
    let message = match (&outcome, resend) {
        // A code's tries, not a login's lockout.
        (DomainError::TooManyAttempts { .. }, false) => {
            Msg::SignupCodeTooManyAttempts.en().to_owned()
        }
        _ => error_message(&outcome),
    };
    let mut errors = FormErrors::none();
    errors.field("code", message);
    show(ctx, &draft, Step::Code, &errors, None, status)
}

/// The password step: the rules and the confirmation checked by the domain's parse. A
/// password chosen before is kept when both fields are left empty.
fn password_step(ctx: &mut Ctx<'_>, mut draft: SignupDraft) -> PageResult {
    let password = ctx.form.get("password").to_owned();
    let confirmation = ctx.form.get("password_confirmation").to_owned();
    if password.is_empty() && confirmation.is_empty() && !draft.password.is_empty() {
        return advance(ctx, draft, Step::Password, Step::Password.next(&ctx.tenant));
    }
    let mut input = draft.input();
    input.password = Some(SecretString::from(password.clone()));
    input.password_confirmation = Some(SecretString::from(confirmation));
    let list = step_errors(input, Step::Password, &ctx.tenant, Vec::new());
    if !list.is_empty() {
        return show(
            ctx,
            &draft,
            Step::Password,
            &errors_of(list),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    draft.password = password;
    let next = Step::Password.next(&ctx.tenant);
    advance(ctx, draft, Step::Password, next)
}

/// The review step: the family created by the API's own sign-up, or the step of the first
/// field the domain refused.
async fn create(ctx: &mut Ctx<'_>, mut draft: SignupDraft) -> PageResult {
    draft.take(Step::Review, ctx);
    match ctx.p.signup(&ctx.account, draft.input()).await {
        Ok(outcome) => {
            // The flow (and the password in it) ends with the new session.
            ctx.start_session(&outcome.token, false);
            ctx.redirect(if outcome.pending_policies.is_empty() {
                "family"
            } else {
                "policies"
            })
        }
        Err(DomainError::Validation(list)) => {
            let step = list
                .iter()
                .map(|e| Step::of_field(&e.field))
                .filter(|s| s.applies(&ctx.tenant))
                .min()
                .unwrap_or(Step::Review);
            let list: Vec<FieldError> = list
                .into_iter()
                .filter(|e| Step::of_field(&e.field) == step)
                .collect();
            draft.at = step;
            save(ctx, &draft)?;
            show(
                ctx,
                &draft,
                step,
                &errors_of(list),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        Err(e @ DomainError::EmailNotVerified) => {
            // The proof is gone (expired, or validation switched on meanwhile): a new code.
            draft.verification = None;
            draft.at = Step::Email;
            save(ctx, &draft)?;
            let mut errors = FormErrors::none();
            errors.field("email", error_message(&e));
            show(
                ctx,
                &draft,
                Step::Email,
                &errors,
                None,
                StatusCode::BAD_REQUEST,
            )
        }
        Err(DomainError::SignupDisabled) => disabled(ctx),
        Err(e) => match status_of(&e) {
            Some(status) => {
                save(ctx, &draft)?;
                let mut errors = FormErrors::from_domain(&e, RENAME);
                if crate::problem::code_of(&e) == "email_in_use" {
                    // Also the answer to a wrong password for an existing login.
                    errors
                        .general
                        .push(Msg::SignupExistingLoginHint.en().to_owned());
                }
                show(ctx, &draft, Step::Review, &errors, None, status)
            }
            None => Err(e),
        },
    }
}

/// Online sign-up is off: said in words, no form (`403 signup_disabled`).
fn disabled(ctx: &mut Ctx<'_>) -> PageResult {
    let sign_in = ctx.path("sign-in");
    let content = html! {
        p { (Msg::ErrorSignupDisabled) }
        p { a href=(sign_in) { (Msg::SignInTitle) } }
    };
    ctx.page_with_status(
        StatusCode::FORBIDDEN,
        Msg::SignupDisabledTitle.en(),
        content,
    )
}

/// One step of the wizard as a page.
fn show(
    ctx: &mut Ctx<'_>,
    draft: &SignupDraft,
    step: Step,
    errors: &FormErrors,
    note: Option<Msg>,
    status: StatusCode,
) -> PageResult {
    let csrf = ctx.flow_csrf()?;
    let action = ctx.path("sign-up");
    let sign_in = ctx.path("sign-in");
    let steps: Vec<Step> = Step::ALL
        .into_iter()
        .filter(|s| s.applies(&ctx.tenant))
        .collect();
    let n = steps.iter().position(|s| *s == step).map_or(1, |i| i + 1);
    let progress =
        Msg::SignupStepOf.fill(&[("n", &n.to_string()), ("total", &steps.len().to_string())]);
    let fields = match step {
        Step::Email => email_fields(ctx, draft, errors),
        Step::Code => code_fields(ctx, draft, errors),
        Step::Guardian => guardian_fields(draft, errors),
        Step::Password => password_fields(draft, errors),
        Step::Address => address_fields(draft, errors),
        Step::Custom => custom_fields(ctx, draft, errors),
        Step::Review => review_fields(ctx, draft, errors),
    };
    let submit = if step == Step::Review {
        Msg::SignupCreate
    } else {
        Msg::Continue
    };
    let content = html! {
        p.steps { (progress) }
        (notice(note))
        (errors.summary())
        (form(&action, &csrf, html! {
            input type="hidden" name="step" value=(step.name());
            (fields)
            div.actions {
                // First, so that Enter continues.
                button type="submit" { (submit) }
                @if step == Step::Code {
                    button.secondary type="submit" name="resend" value="1" { (Msg::SignupResendCode) }
                }
                @if step != Step::Email {
                    button.secondary type="submit" name="back" value="1" { (Msg::Back) }
                }
            }
        }))
        @if step == Step::Email {
            p { a href=(sign_in) { (Msg::SignupHaveAccount) } }
        }
    };
    ctx.page_with_status(status, step.title().en(), content)
}

fn email_fields(ctx: &Ctx<'_>, draft: &SignupDraft, errors: &FormErrors) -> Markup {
    html! {
        p {
            (Msg::SignupEmailIntro)
            @if ctx.tenant.email_validation_required {
                " " (Msg::SignupEmailIntroCode)
            }
        }
        (Input::new("email", Msg::LabelEmail.en(), "email").value(&draft.email).autocomplete("email").render(errors))
    }
}

fn code_fields(ctx: &Ctx<'_>, draft: &SignupDraft, errors: &FormErrors) -> Markup {
    let minutes = (ctx.p.security.code_seconds / 60).to_string();
    html! {
        p { (Msg::SignupCodeIntro.fill(&[("email", &draft.email), ("minutes", &minutes)])) }
        (Input::new("code", Msg::LabelCode.en(), "text").autocomplete("one-time-code").render(errors))
    }
}

fn guardian_fields(draft: &SignupDraft, errors: &FormErrors) -> Markup {
    let email_type = if draft.email_type.is_empty() {
        "home"
    } else {
        draft.email_type.as_str()
    };
    let phone_legend = [Msg::SignupPhoneLegend, Msg::SignupPhoneOtherLegend];
    html! {
        (Input::new("first_name", Msg::LabelFirstName.en(), "text").value(&draft.first_name).autocomplete("given-name").render(errors))
        (Input::new("last_name", Msg::LabelLastName.en(), "text").value(&draft.last_name).autocomplete("family-name").render(errors))
        (Input::new("relationship", Msg::LabelRelationship.en(), "text").value(&draft.relationship).hint(Msg::SignupRelationshipHint.en()).render(errors))
        dl.review {
            dt { (Msg::LabelEmail) }
            dd { (draft.email) }
        }
        (select("email_type", Msg::LabelEmailType.en(), EMAIL_TYPES, email_type, errors))
        p.hint { (Msg::SignupEmailOptInHint) }
        (checkbox("email_opt_in", Msg::LabelEmailOptIn.en(), draft.email_opt_in, errors))
        @for row in 1..=PHONE_ROWS {
            @let phone = draft.phones.get(row - 1);
            @let name = format!("phone{row}");
            @let kind = phone.map_or("mobile", |p| if p.kind.is_empty() { "mobile" } else { p.kind.as_str() });
            fieldset {
                legend { (phone_legend[row - 1]) }
                @let input = Input::new(&name, Msg::LabelPhone.en(), "tel").value(phone.map_or("", |p| p.number.as_str())).autocomplete(if row == 1 { "tel" } else { "off" });
                @if row == 1 {
                    (input.hint(Msg::SignupPhoneHint.en()).render(errors))
                } @else {
                    (input.optional().render(errors))
                }
                (select(&format!("{name}_type"), Msg::LabelPhoneType.en(), PHONE_TYPES, kind, errors))
                (checkbox(&format!("{name}_sms"), Msg::LabelSmsOptIn.en(), phone.is_some_and(|p| p.sms_opt_in), errors))
            }
        }
    }
}

fn password_fields(draft: &SignupDraft, errors: &FormErrors) -> Markup {
    let rules =
        Msg::PasswordRules.fill(&[("min", &portal_core::passwords::MIN_LENGTH.to_string())]);
    let chosen = !draft.password.is_empty();
    let password = Input::new("password", Msg::LabelPassword.en(), "password")
        .autocomplete("new-password")
        .hint(&rules);
    let confirmation = Input::new(
        "password_confirmation",
        Msg::LabelPasswordConfirmation.en(),
        "password",
    )
    .autocomplete("new-password");
    let (password, confirmation) = if chosen {
        (password.optional(), confirmation.optional())
    } else {
        (password, confirmation)
    };
    html! {
        @if chosen {
            p { (Msg::SignupPasswordKeep) }
        }
        (password.render(errors))
        (confirmation.render(errors))
        p.hint { (Msg::SignupExistingLoginHint) }
    }
}

fn address_fields(draft: &SignupDraft, errors: &FormErrors) -> Markup {
    let a = &draft.address;
    html! {
        (Input::new("line1", Msg::LabelLine1.en(), "text").value(&a.line1).autocomplete("address-line1").render(errors))
        (Input::new("line2", Msg::LabelLine2.en(), "text").value(&a.line2).autocomplete("address-line2").optional().render(errors))
        (Input::new("city", Msg::LabelCity.en(), "text").value(&a.city).autocomplete("address-level2").render(errors))
        (Input::new("region", Msg::LabelRegion.en(), "text").value(&a.region).autocomplete("address-level1").render(errors))
        (Input::new("postal_code", Msg::LabelPostalCode.en(), "text").value(&a.postal_code).autocomplete("postal-code").render(errors))
        (Input::new("country", Msg::LabelCountry.en(), "text").value(&a.country).autocomplete("country-name").render(errors))
        (Input::new("referral_source", Msg::LabelReferralSource.en(), "text").value(&draft.referral_source).optional().render(errors))
    }
}

fn custom_fields(ctx: &Ctx<'_>, draft: &SignupDraft, errors: &FormErrors) -> Markup {
    html! {
        @for field in &ctx.tenant.custom_fields {
            @let name = format!("custom_fields.{}", field.key);
            @let label = if field.required {
                field.label.clone()
            } else {
                format!("{} {}", field.label, Msg::Optional.en())
            };
            @let value = draft.custom.get(&field.key).map_or("", String::as_str);
            @let input = Input::new(&name, &label, "text").value(value);
            @if field.required {
                (input.render(errors))
            } @else {
                (input.optional().render(errors))
            }
        }
    }
}

fn review_fields(ctx: &Ctx<'_>, draft: &SignupDraft, errors: &FormErrors) -> Markup {
    let yes_no = |b: bool| if b { Msg::SignupYes } else { Msg::SignupNo };
    let a = &draft.address;
    let address: Vec<&str> = [
        &a.line1,
        &a.line2,
        &a.city,
        &a.region,
        &a.postal_code,
        &a.country,
    ]
    .into_iter()
    .map(String::as_str)
    .filter(|v| !v.is_empty())
    .collect();
    html! {
        p { (Msg::SignupReviewIntro) }
        dl.review {
            dt { (Msg::LabelEmail) } dd { (draft.email) }
            dt { (Msg::LabelFirstName) } dd { (draft.first_name) }
            dt { (Msg::LabelLastName) } dd { (draft.last_name) }
            dt { (Msg::LabelRelationship) } dd { (draft.relationship) }
            dt { (Msg::LabelEmailType) } dd { (label_of(&draft.email_type, EMAIL_TYPES)) }
            dt { (Msg::LabelEmailOptIn) } dd { (yes_no(draft.email_opt_in)) }
            @for (i, phone) in draft.phones.iter().enumerate() {
                dt { (Msg::SignupReviewPhone.fill(&[("n", &(i + 1).to_string())])) }
                dd { (Msg::SignupReviewPhoneValue.fill(&[
                    ("number", &phone.number),
                    ("type", label_of(&phone.kind, PHONE_TYPES)),
                    ("sms", yes_no(phone.sms_opt_in).en()),
                ])) }
            }
            dt { (Msg::SignupReviewAddress) } dd { (address.join(", ")) }
            @if !draft.referral_source.is_empty() {
                dt { (Msg::LabelReferralSource) } dd { (draft.referral_source) }
            }
            @for field in &ctx.tenant.custom_fields {
                @if let Some(value) = draft.custom.get(&field.key) {
                    dt { (field.label) } dd { (value) }
                }
            }
        }
        (checkbox("age_confirmed", Msg::LabelAgeConfirmed.en(), draft.age_confirmed, errors))
    }
}

/// `policies`: the active family's policies, accepted by its primary guardian.
pub(crate) async fn policies(ctx: &mut Ctx<'_>) -> PageResult {
    let Some(auth) = ctx.session().await? else {
        return ctx.sign_in_first(SubjectKind::Guardian);
    };
    if auth.kind != SubjectKind::Guardian {
        return ctx.redirect("staff-home");
    }
    let actor = ctx.p.guardian_actor(auth).await?;
    // The same gate as the API's family routes: writing needs full access.
    let usage = if ctx.is_post() {
        FamilyUse::Write
    } else {
        FamilyUse::Read
    };
    let family = match ctx.p.family_context(actor.clone(), usage).await {
        Ok(family) => family,
        Err(e @ DomainError::ViewOnly) => {
            let family = match ctx.p.family_context(actor, FamilyUse::Read).await {
                Ok(family) => family,
                Err(e) => return family_refused(ctx, e),
            };
            let errors = FormErrors::general(error_message(&e));
            return show_policies(ctx, &family, &errors, StatusCode::FORBIDDEN).await;
        }
        Err(e) => return family_refused(ctx, e),
    };
    if !ctx.is_post() {
        return show_policies(ctx, &family, &FormErrors::none(), StatusCode::OK).await;
    }
    // The ticked policies, each with the version the page showed (hidden inputs).
    let mut chosen = Vec::new();
    let mut fields = Vec::new();
    for id in ctx.form.all("policy") {
        let field = format!("accept.{id}");
        if !ctx.form.checked(&field) || fields.contains(&field) {
            continue;
        }
        chosen.push(AcceptInput {
            id: Some(id.to_owned()),
            version: ctx.form.get(&format!("version.{id}")).trim().parse().ok(),
        });
        fields.push(field);
    }
    if chosen.is_empty() {
        if family.setup_complete() {
            return ctx.redirect("family");
        }
        let errors = FormErrors::general(Msg::PoliciesNoneTicked.en());
        return show_policies(ctx, &family, &errors, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    match ctx.p.accept_policies(&family, chosen, "web").await {
        Ok(outcome) => ctx.redirect(if outcome.setup_complete {
            "family"
        } else {
            "policies"
        }),
        Err(e) => match status_of(&e) {
            Some(status) => {
                // `policies[i].id` / `policies[i].version` → the i-th ticked box.
                let rename: Vec<(String, &str)> = fields
                    .iter()
                    .enumerate()
                    .flat_map(|(i, f)| {
                        [
                            (format!("policies[{i}].id"), f.as_str()),
                            (format!("policies[{i}].version"), f.as_str()),
                        ]
                    })
                    .collect();
                let rename: Vec<(&str, &str)> =
                    rename.iter().map(|(api, f)| (api.as_str(), *f)).collect();
                let errors = FormErrors::from_domain(&e, &rename);
                show_policies(ctx, &family, &errors, status).await
            }
            None => Err(e),
        },
    }
}

/// A guardian the family gate refuses: an 18+ confirmation owed goes to the family page (which
/// asks for it); the others are said in words.
fn family_refused(ctx: &mut Ctx<'_>, err: DomainError) -> PageResult {
    if matches!(err, DomainError::AgeConfirmationRequired) {
        return ctx.redirect("family");
    }
    let Some(status) = status_of(&err) else {
        return Err(err);
    };
    let errors = FormErrors::from_domain(&err, &[]);
    let family = ctx.path("family");
    let csrf = ctx.session_csrf();
    let content = html! {
        (errors.summary())
        p { a href=(family) { (Msg::Back) } }
        (super::staff::sign_out_form(ctx, &csrf))
    };
    ctx.page_with_status(status, Msg::PoliciesTitle.en(), content)
}

async fn show_policies(
    ctx: &mut Ctx<'_>,
    family: &FamilyContext,
    errors: &FormErrors,
    status: StatusCode,
) -> PageResult {
    let bodies: BTreeMap<String, String> = ctx
        .p
        .policies(&ctx.account)
        .await?
        .into_iter()
        .map(|p| (p.id, p.body))
        .collect();
    let statuses = ctx.p.policy_statuses(family).await?;
    let primary = family.membership.role == Role::Primary;
    let open = primary && statuses.iter().any(|s| !s.accepted);
    let complete = family.setup_complete();
    let view_only = Msg::ErrorViewOnly.en();
    let csrf = ctx.session_csrf();
    let action = ctx.path("policies");
    let family_page = ctx.path("family");
    let ticked = |id: &str| ctx.is_post() && ctx.form.checked(&format!("accept.{id}"));
    let list = html! {
        @for (i, s) in statuses.iter().enumerate() {
            @let title_id = format!("policy-{i}-title");
            div.policy {
                h2 #(title_id) { (s.title) }
                p.hint { (if s.required { Msg::PoliciesRequired } else { Msg::PoliciesOptional }) }
                @if s.accepted {
                    p { strong { (Msg::PoliciesAccepted) } }
                }
                // Scrollable, so reachable by keyboard and named by its title.
                div.policy-body tabindex="0" role="region" aria-labelledby=(title_id) {
                    (bodies.get(&s.id).map_or("", String::as_str))
                }
                @if open && !s.accepted {
                    input type="hidden" name="policy" value=(s.id);
                    input type="hidden" name=(format!("version.{}", s.id)) value=(s.version);
                    (checkbox(
                        &format!("accept.{}", s.id),
                        &Msg::PoliciesAcceptOne.fill(&[("title", &s.title)]),
                        ticked(&s.id),
                        errors,
                    ))
                }
            }
        }
    };
    let content = html! {
        (errors.summary())
        @if !primary && !errors.general.iter().any(|g| g == view_only) {
            div.notice role="status" { p { (view_only) } }
        }
        @if statuses.is_empty() {
            p { (Msg::PoliciesNone) }
        } @else if complete {
            div.notice role="status" { p { (Msg::PoliciesComplete) } }
        } @else if primary {
            p { (Msg::PoliciesIntro) }
        }
        @if open {
            (form(&action, &csrf, html! {
                (list)
                div.actions { button type="submit" { (Msg::PoliciesSubmit) } }
            }))
        } @else {
            (list)
        }
        @if complete {
            p { a.button href=(family_page) { (Msg::PoliciesFinish) } }
        }
        (super::staff::sign_out_form(ctx, &csrf))
    };
    ctx.page_with_status(status, Msg::PoliciesTitle.en(), content)
}

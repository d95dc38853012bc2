//! Customer self sign-up: email validation by a 6-digit code (30 minutes, 5 tries), then the
//! family, its primary guardian and their login in one transaction. A family's primary email is
//! unique per account (a guard item in the same transaction), so concurrent sign-ups with one
//! email create exactly one family.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;

use crate::account::AccountName;
use crate::audit::Actor;
use crate::contact::{Email, PhoneNumber, parse_text};
use crate::error::{Conflict, DomainError, DomainResult, FieldError, FieldErrors};
use crate::families::{FamilyEntry, FamilyRecord, Membership, Role};
use crate::guardians::{Address, EmailType, GuardianRecord, GuardianView, Phone, PhoneType};
use crate::keys;
use crate::limits::{MessageKind, send_log_key};
use crate::messaging::compose_email;
use crate::passwords::{Password, PasswordAttempt, Verified, confirm};
use crate::policies::PendingPolicy;
use crate::portal::Portal;
use crate::security::in_words;
use crate::sessions::SessionView;
use crate::store::{Batch, Condition, Item, Key, StoreError, Write};
use crate::tenants::TenantRecord;
use crate::tokens::{new_id, new_token, random_below, token_hash};

#[derive(Debug, Serialize, Deserialize)]
struct CodeRecord {
    code_hash: String,
    tries: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct VerificationRecord {
    email: String,
}

/// The outcome of `POST portal/signup/email`.
#[derive(Debug, PartialEq, Eq)]
pub enum EmailStep {
    /// A code was emailed (`202`).
    CodeSent,
    /// No validation is required (`204`).
    NotRequired,
}

#[derive(Debug, Default, Deserialize)]
pub struct SignupInput {
    pub email_verification_token: Option<String>,
    pub client: Option<String>,
    pub age_confirmed: Option<bool>,
    pub guardian: Option<GuardianInput>,
    pub email: Option<EmailInput>,
    pub phones: Option<Vec<PhoneInput>>,
    pub password: Option<SecretString>,
    pub password_confirmation: Option<SecretString>,
    pub address: Option<AddressInput>,
    pub referral_source: Option<String>,
    pub custom_fields: Option<Map<String, Value>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct GuardianInput {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub relationship: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct EmailInput {
    pub address: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub opt_in: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PhoneInput {
    pub number: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub sms_opt_in: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub struct AddressInput {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

/// `POST portal/signup` response (the family's first login).
#[derive(Debug, Clone, Serialize)]
pub struct SignupOutcome {
    pub family_id: String,
    pub guardian_id: String,
    pub token: String,
    pub session: SessionView,
    pub guardian: GuardianView,
    pub families: Vec<FamilyEntry>,
    pub active_family_id: String,
    pub requires_age_confirmation: bool,
    pub setup_complete: bool,
    pub pending_policies: Vec<PendingPolicy>,
}

fn parse_address(input: &AddressInput, errors: &mut FieldErrors) -> Option<Address> {
    let mut field = |value: &Option<String>, name: &str, max: usize| {
        errors.take(parse_text(
            value.as_deref().unwrap_or(""),
            &format!("address.{name}"),
            max,
        ))
    };
    let line1 = field(&input.line1, "line1", 200);
    let city = field(&input.city, "city", 100);
    let region = field(&input.region, "region", 100);
    let postal_code = field(&input.postal_code, "postal_code", 20);
    let country = field(&input.country, "country", 100);
    let line2 = input
        .line2
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned);
    Some(Address {
        line1: line1?,
        line2,
        city: city?,
        region: region?,
        postal_code: postal_code?,
        country: country?,
    })
}

/// A sign-up form, parsed at the edge: every field valid, or one `422` listing every field that
/// is not (web and mobile rules, the tenant's custom fields).
pub struct SignupForm {
    pub email_verification_token: Option<String>,
    pub client: &'static str,
    pub first_name: String,
    pub last_name: String,
    pub relationship: String,
    pub email: Email,
    pub email_type: EmailType,
    pub email_opt_in: bool,
    pub phones: Vec<Phone>,
    /// As typed, for checking an existing login's password.
    pub raw_password: SecretString,
    pub password: Password,
    pub address: Option<Address>,
    pub referral_source: Option<String>,
    pub custom_fields: Map<String, Value>,
}

impl SignupForm {
    pub fn parse(input: SignupInput, tenant: &TenantRecord) -> DomainResult<Self> {
        let mut errors = FieldErrors::new();
        let client = match input.client.as_deref() {
            Some("web") => Some("web"),
            Some("mobile") => Some("mobile"),
            None => {
                errors.push(FieldError::required("client"));
                None
            }
            Some(_) => {
                errors.push(FieldError::new("client", "invalid", "use web or mobile"));
                None
            }
        };
        let web = client != Some("mobile");
        if input.age_confirmed != Some(true) {
            errors.push(FieldError::new(
                "age_confirmed",
                "required",
                "confirm that you are 18 or older and permitted to act as a guardian",
            ));
        }
        let g = input.guardian.unwrap_or_default();
        let first_name = errors.take(parse_text(
            g.first_name.as_deref().unwrap_or(""),
            "guardian.first_name",
            100,
        ));
        let last_name = errors.take(parse_text(
            g.last_name.as_deref().unwrap_or(""),
            "guardian.last_name",
            100,
        ));
        let relationship = errors.take(parse_text(
            g.relationship.as_deref().unwrap_or(""),
            "guardian.relationship",
            50,
        ));
        let e = input.email.unwrap_or_default();
        let email = errors.take(Email::parse(
            e.address.as_deref().unwrap_or(""),
            "email.address",
        ));
        let email_type = match e.kind.as_deref() {
            Some("home") => Some(EmailType::Home),
            Some("work") => Some(EmailType::Work),
            Some("other") => Some(EmailType::Other),
            None => {
                errors.push(FieldError::required("email.type"));
                None
            }
            Some(_) => {
                errors.push(FieldError::new(
                    "email.type",
                    "invalid",
                    "use home, work or other",
                ));
                None
            }
        };
        let phones_in = input.phones.unwrap_or_default();
        if phones_in.is_empty() && web {
            errors.push(FieldError::new(
                "phones",
                "required",
                "at least one phone number is required",
            ));
        }
        let mut phones = Vec::new();
        for (i, p) in phones_in.iter().enumerate() {
            let number = errors.take(PhoneNumber::parse(
                p.number.as_deref().unwrap_or(""),
                &format!("phones[{i}].number"),
            ));
            let kind = match p.kind.as_deref() {
                Some("mobile") => Some(PhoneType::Mobile),
                Some("home") => Some(PhoneType::Home),
                Some("work") => Some(PhoneType::Work),
                None => {
                    errors.push(FieldError::required(format!("phones[{i}].type")));
                    None
                }
                Some(_) => {
                    errors.push(FieldError::new(
                        format!("phones[{i}].type"),
                        "invalid",
                        "use mobile, home or work",
                    ));
                    None
                }
            };
            if let (Some(number), Some(kind)) = (number, kind) {
                phones.push(Phone {
                    number,
                    kind,
                    sms_opt_in: p.sms_opt_in.unwrap_or(false),
                });
            }
        }
        let raw_password = input.password.unwrap_or_default();
        let password = errors.take(Password::parse(
            SecretString::from(raw_password.expose_secret().to_owned()),
            "password",
        ));
        match &input.password_confirmation {
            None => errors.push(FieldError::required("password_confirmation")),
            Some(c) => {
                if !raw_password.expose_secret().is_empty() {
                    errors.take(confirm(&raw_password, c));
                }
            }
        }
        let address = match &input.address {
            Some(a) => parse_address(a, &mut errors),
            None => {
                if web {
                    errors.push(FieldError::new(
                        "address",
                        "required",
                        "a mailing address is required",
                    ));
                }
                None
            }
        };
        let referral_source = match input.referral_source.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(r) => errors.take(parse_text(r, "referral_source", 100)),
        };
        let given = input.custom_fields.unwrap_or_default();
        let mut custom_fields = Map::new();
        for field in &tenant.custom_fields {
            let value = given.get(&field.key).and_then(|v| match v {
                Value::String(s) => Some(s.trim().to_owned()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            });
            match value.filter(|v| !v.is_empty()) {
                Some(v) if v.chars().count() > 1000 => errors.push(FieldError::new(
                    format!("custom_fields.{}", field.key),
                    "too_long",
                    "at most 1000 characters",
                )),
                Some(v) => {
                    custom_fields.insert(field.key.clone(), Value::String(v));
                }
                None if field.required => {
                    errors.push(FieldError::new(
                        format!("custom_fields.{}", field.key),
                        "required",
                        format!("{} is required", field.label),
                    ));
                }
                None => {}
            }
        }
        errors.finish()?;
        let (
            Some(client),
            Some(first_name),
            Some(last_name),
            Some(relationship),
            Some(email),
            Some(email_type),
            Some(password),
        ) = (
            client,
            first_name,
            last_name,
            relationship,
            email,
            email_type,
            password,
        )
        else {
            return Err(DomainError::Internal("validation lost an error".into()));
        };
        Ok(SignupForm {
            email_verification_token: input.email_verification_token,
            client,
            first_name,
            last_name,
            relationship,
            email,
            email_type,
            email_opt_in: e.opt_in.unwrap_or(false),
            phones,
            raw_password,
            password,
            address,
            referral_source,
            custom_fields,
        })
    }
}

/// The tenant record a batch read (`account_not_found` when there is none).
fn take_tenant(batch: &mut Batch, key: &Key) -> DomainResult<crate::tenants::TenantRecord> {
    Ok(batch
        .take(key)
        .flatten()
        .ok_or(DomainError::AccountNotFound)?
        .record()?)
}

/// A tenant that takes online sign-ups: `account_suspended` while suspended, else
/// `signup_disabled` when sign-up is off.
fn open_for_signup(
    tenant: crate::tenants::TenantRecord,
) -> DomainResult<crate::tenants::TenantRecord> {
    tenant.ensure_open()?;
    if tenant.customer_signup_enabled {
        Ok(tenant)
    } else {
        Err(DomainError::SignupDisabled)
    }
}

/// Every key a sign-up may read that the request names: the tenant, its policy catalog, the
/// email-verification
/// proof, and, by the email, the primary-email guard, the login guard and the login's lock.
/// Read in one batch before anything else.
fn signup_keys(account: &AccountName, input: &SignupInput) -> Vec<Key> {
    let mut keys = vec![keys::tenant_record(account), keys::policy_catalog(account)];
    if let Some(token) = input
        .email_verification_token
        .as_deref()
        .filter(|t| crate::tokens::is_opaque(t, crate::tokens::MAX_TOKEN_LENGTH))
    {
        keys.push(keys::email_verification(account, &token_hash(token)));
    }
    let email = input.email.as_ref().and_then(|e| e.address.as_deref());
    if let Some(email) = email.and_then(|e| Email::parse(e, "email").ok()) {
        let normalized = email.normalized();
        keys.push(keys::primary_email(account, &normalized));
        keys.push(keys::login_email(account, &normalized));
        keys.push(crate::lockout::lock_key(
            account,
            crate::lockout::LoginKind::Guardian,
            &normalized,
        ));
    }
    keys
}

impl Portal {
    /// `POST portal/signup/email`: one batch (tenant, primary-email guard, send log), then one
    /// transaction (the sending allowance, the code and the tenant's daily mail count), then
    /// the mail.
    pub async fn start_signup(
        &self,
        account: &AccountName,
        email: &str,
    ) -> DomainResult<EmailStep> {
        let parsed = Email::parse(email, "email");
        let tenant_key = keys::tenant_record(account);
        let mut wanted = vec![tenant_key.clone()];
        if let Ok(email) = &parsed {
            wanted.push(keys::primary_email(account, &email.normalized()));
            wanted.push(send_log_key(
                account,
                MessageKind::ValidationCode,
                &email.normalized(),
            ));
        }
        let mut batch = Batch::fetch(self.store.as_ref(), wanted).await?;
        let tenant = open_for_signup(take_tenant(&mut batch, &tenant_key)?)?;
        let email = parsed.map_err(|e| DomainError::Validation(vec![e]))?;
        let normalized = email.normalized();
        if batch
            .get(
                self.store.as_ref(),
                &keys::primary_email(account, &normalized),
            )
            .await?
            .is_some()
        {
            return Err(DomainError::Conflict(Conflict::EmailInUse));
        }
        if !tenant.email_validation_required {
            return Ok(EmailStep::NotRequired);
        }
        let code = format!("{:06}", random_below(1_000_000)?);
        let key = keys::signup_code(account, &normalized);
        let record = CodeRecord {
            code_hash: token_hash(&code),
            tries: 0,
        };
        let log_key = send_log_key(account, MessageKind::ValidationCode, &normalized);
        let (code_key, record_ref) = (&key, &record);
        let limit = self.daily_mail_limit(&tenant);
        let (counted, allowance) = self
            .with_allowance(&log_key, batch.take(&log_key), |allowance| async move {
                let now = self.clock.epoch();
                // A new code replaces the old one (and its tries).
                let item = Item::from_record(code_key.clone(), record_ref)?
                    .with_version(now as u64)
                    .expiring_at(now + self.security.code_seconds);
                let (daily, counted) = self.daily_mail(account, limit);
                match self
                    .store
                    .transact(vec![allowance, Write::Put(item, Condition::Always), daily])
                    .await
                {
                    Ok(()) => Ok(Some(counted)),
                    // Another send to this address got in first (index 0: the allowance).
                    Err(StoreError::TransactionConflict(Some(0))) => Ok(None),
                    Err(StoreError::TransactionConflict(Some(2))) => {
                        Err(self.daily_ceiling_reached())
                    }
                    Err(e) => Err(e.into()),
                }
            })
            .await?;
        let mail = compose_email(
            email.as_str(),
            &tenant.business_name,
            "Your email validation code",
            &[
                format!(
                    "Your validation code for {} is {code}.",
                    tenant.business_name
                ),
                format!(
                    "It is valid for {}. If you did not ask for it, ignore this email.",
                    in_words(self.security.code_seconds)
                ),
            ],
            None,
        );
        if let Err(e) = self.send_email(mail).await {
            tracing::warn!(error = %e, "validation code not delivered");
            self.return_allowance(allowance).await;
            self.return_daily_mail(counted).await;
            let _ = self.store.delete(&key, Condition::Always).await;
            return Err(DomainError::Store(StoreError::Unavailable(
                "mail delivery failed".into(),
            )));
        }
        Ok(EmailStep::CodeSent)
    }

    /// `POST portal/signup/email/verify`: a right code gives a verification token. One batch
    /// (tenant, code), then one transaction (the code used up, the proof stored) or one write
    /// (a wrong try counted).
    pub async fn verify_signup_code(
        &self,
        account: &AccountName,
        email: &str,
        code: &str,
    ) -> DomainResult<String> {
        let parsed = Email::parse(email, "email");
        let tenant_key = keys::tenant_record(account);
        let mut wanted = vec![tenant_key.clone()];
        if let Ok(email) = &parsed {
            wanted.push(keys::signup_code(account, &email.normalized()));
        }
        let mut batch = Batch::fetch(self.store.as_ref(), wanted).await?;
        open_for_signup(take_tenant(&mut batch, &tenant_key)?)?;
        let email = parsed.map_err(|e| DomainError::Validation(vec![e]))?;
        let normalized = email.normalized();
        let key = keys::signup_code(account, &normalized);
        let first_read = std::sync::Mutex::new(batch.take(&key));
        crate::retry::optimistic(|| async {
            let read = match first_read.lock().ok().and_then(|mut r| r.take()) {
                Some(read) => read,
                None => self.store.get(&key).await?,
            };
            let item = read.ok_or(DomainError::InvalidCode)?;
            let now = self.clock.epoch();
            if item.is_expired(now) {
                return Err(DomainError::CodeExpired);
            }
            let mut record: CodeRecord = item.record()?;
            if record.tries >= self.security.code_tries {
                return Err(DomainError::TooManyAttempts {
                    retry_after: item.expires_at.map(|at| at - now).unwrap_or(1).max(1),
                });
            }
            let code = code.trim();
            let right = code.len() == 6
                && bool::from(
                    token_hash(code)
                        .as_bytes()
                        .ct_eq(record.code_hash.as_bytes()),
                );
            if right {
                // Used once: deleting it (conditionally, with the proof's creation) makes a
                // concurrent second use fail.
                let (token, hash) = new_token()?;
                let proof = Item::from_record(
                    keys::email_verification(account, &hash),
                    &VerificationRecord {
                        email: normalized.clone(),
                    },
                )?
                .expiring_at(now + self.security.verification_seconds);
                let used = self
                    .store
                    .transact(vec![
                        Write::Delete(key.clone(), Condition::VersionIs(item.version)),
                        Write::Put(proof, Condition::Absent),
                    ])
                    .await;
                return Ok(crate::retry::won(used)?.then_some(token));
            }
            record.tries += 1;
            let updated = Item::from_record(key.clone(), &record)?
                .with_version(item.version + 1)
                .expiring_at(item.expires_at.unwrap_or(now + self.security.code_seconds));
            let counted = self
                .store
                .put(updated, Condition::VersionIs(item.version))
                .await;
            if crate::retry::won(counted)? {
                Err(DomainError::InvalidCode)
            } else {
                Ok(None)
            }
        })
        .await
    }

    /// `POST portal/signup`.
    pub async fn signup(
        &self,
        account: &AccountName,
        input: SignupInput,
    ) -> DomainResult<SignupOutcome> {
        let mut batch = Batch::fetch(self.store.as_ref(), signup_keys(account, &input)).await?;
        let tenant = open_for_signup(take_tenant(&mut batch, &keys::tenant_record(account))?)?;
        let SignupForm {
            email_verification_token,
            client,
            first_name,
            last_name,
            relationship,
            email,
            email_type,
            email_opt_in,
            phones,
            raw_password,
            password,
            address,
            referral_source,
            custom_fields,
        } = SignupForm::parse(input, &tenant)?;
        let normalized = email.normalized();

        // Email validation: the token must prove this very address.
        let mut writes = Vec::new();
        if tenant.email_validation_required {
            let token = email_verification_token
                .as_deref()
                .filter(|t| crate::tokens::is_opaque(t, crate::tokens::MAX_TOKEN_LENGTH))
                .ok_or(DomainError::EmailNotVerified)?;
            let key = keys::email_verification(account, &token_hash(token));
            let proof = batch
                .get(self.store.as_ref(), &key)
                .await?
                .ok_or(DomainError::EmailNotVerified)?;
            let record: VerificationRecord = proof.record()?;
            if proof.is_expired(self.clock.epoch()) || record.email != normalized {
                return Err(DomainError::EmailNotVerified);
            }
            writes.push(Write::Delete(key, Condition::VersionIs(proof.version)));
        }
        let primary_guard = keys::primary_email(account, &normalized);
        if batch
            .get(self.store.as_ref(), &primary_guard)
            .await?
            .is_some()
        {
            return Err(DomainError::Conflict(Conflict::EmailInUse));
        }

        // An existing login (e.g. a secondary guardian elsewhere in this account) becomes the
        // primary of the new family only with its current password.
        let now = self.clock.epoch();
        let existing = batch
            .get(
                self.store.as_ref(),
                &keys::login_email(account, &normalized),
            )
            .await?
            .and_then(|i| crate::guardian::guardian_of_login(&i));
        let mut success = None;
        let catalog = batch.take(&keys::policy_catalog(account));
        // The required policies the new family has to accept (all of them: it accepted
        // nothing yet); with none, its setup is complete from now on.
        let (guardian, pending) = match &existing {
            Some(id) => {
                let (g, _) = self.guardian_record(account, id).await?;
                // The login's own lockout counter: a wrong password here counts as a failed
                // login, and a locked login cannot sign up (`429`).
                let lock_key =
                    self.lock_key(account, crate::lockout::LoginKind::Guardian, &normalized);
                let lock = crate::lockout::LockRead {
                    item: batch.get(self.store.as_ref(), &lock_key).await?,
                    key: lock_key,
                };
                let (verified, settle) = self
                    .check_credentials_deferred(
                        lock,
                        &PasswordAttempt(raw_password),
                        g.password_hash.as_ref(),
                    )
                    .await?;
                if verified == Verified::No {
                    return Err(DomainError::Conflict(Conflict::EmailInUse));
                }
                success = settle;
                (g, self.required_policies(account, catalog).await?)
            }
            None => {
                // The policies are read while the password is hashed.
                let (hash, pending) = tokio::join!(
                    self.hasher.hash(&password),
                    self.required_policies(account, catalog)
                );
                let guardian = GuardianRecord {
                    id: new_id()?,
                    first_name: first_name.clone(),
                    last_name: last_name.clone(),
                    relationship: Some(relationship),
                    email: email.clone(),
                    email_type: Some(email_type),
                    email_opt_in,
                    phones,
                    address: address.clone(),
                    password_hash: Some(hash?),
                    age_confirmed: true,
                    created_at: now,
                    credential_epoch: 0,
                };
                (guardian, pending?)
            }
        };
        let family_id = new_id()?;
        let family = FamilyRecord {
            id: family_id,
            name: format!("{} Family", last_name),
            primary_guardian_id: guardian.id.clone(),
            primary_email: normalized.clone(),
            referral_source,
            custom_fields,
            address,
            client: client.to_owned(),
            setup_finalized: pending.is_empty(),
            created_at: now,
            access_generation: 0,
        };
        let membership = Membership {
            family_id: family.id.clone(),
            guardian_id: guardian.id.clone(),
            family_name: family.name.clone(),
            role: Role::Primary,
            added_at: now,
            generation: family.access_generation,
            // A new family has accepted nothing yet.
            accepted: Some(Default::default()),
        };
        // Index 0: the primary-email guard, so a lost race is recognised as email_in_use.
        writes.insert(
            0,
            Write::Put(
                Item::from_record(
                    keys::primary_email(account, &normalized),
                    &json!({"family_id": family.id}),
                )?,
                Condition::Absent,
            ),
        );
        if existing.is_none() {
            writes.extend(guardian.new_login_writes(account)?);
        }
        writes.push(Write::Put(
            Item::from_record(keys::family(account, &family.id), &family)?,
            Condition::Absent,
        ));
        writes.extend(membership.writes(account, Condition::Absent)?);
        let (session, session_writes) = self.session_writes(
            account,
            tenant.sessions_epoch,
            guardian.session_subject(),
            false,
            Some(&family.id),
        )?;
        writes.extend(session_writes);
        writes.push(self.audit_write(
            account,
            Actor::guardian(&guardian.id),
            "family.created",
            Some(&family.id),
            json!({"client": client, "existing_login": existing.is_some()}),
        )?);
        match self.transact_settling(writes, success, None).await {
            Ok(()) => {}
            Err(DomainError::Store(StoreError::TransactionConflict(Some(0)))) => {
                return Err(DomainError::Conflict(Conflict::EmailInUse));
            }
            Err(DomainError::Store(StoreError::TransactionConflict(Some(1))))
                if tenant.email_validation_required =>
            {
                return Err(DomainError::EmailNotVerified);
            }
            Err(DomainError::Store(StoreError::TransactionConflict(_))) => {
                // Another sign-up with this email won the race.
                return Err(DomainError::Conflict(Conflict::EmailInUse));
            }
            Err(e) => return Err(e),
        }
        // A new login has this one family; an existing one also its others.
        let families = match existing {
            None => vec![membership],
            Some(_) => self.memberships(account, &guardian.id).await?,
        };
        Ok(SignupOutcome {
            family_id: family.id.clone(),
            guardian_id: guardian.id.clone(),
            token: session.token.clone(),
            session: SessionView::from(&session),
            guardian: GuardianView::from(&guardian),
            families: families.iter().map(FamilyEntry::from).collect(),
            active_family_id: family.id,
            requires_age_confirmation: !guardian.age_confirmed,
            setup_complete: pending.is_empty(),
            pending_policies: pending,
        })
    }
}

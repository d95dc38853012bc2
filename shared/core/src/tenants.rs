//! Tenants (accounts): the business's settings, SMS credits, and the platform's Terms &
//! Conditions version that staff must accept.

use crate::branding::{Branding, BrandingChange, BrandingInput};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::account::AccountName;
use crate::audit::Actor;
use crate::contact::{Email, PhoneNumber, parse_text};
use crate::error::{DomainError, DomainResult, FieldError, FieldErrors};
use crate::keys;
use crate::portal::Portal;
use crate::sessions::Authenticated;
use crate::store::{Batch, Bound, Condition, Item, StoreError, Write, take_item};

/// The Terms & Conditions version in force when none was ever published.
pub const INITIAL_TERMS_VERSION: &str = "2026-01";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomField {
    pub key: String,
    pub label: String,
    pub required: bool,
}

/// A tenant as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantRecord {
    pub account: String,
    pub business_name: String,
    pub business_email: Option<Email>,
    pub location_email: Option<Email>,
    pub location_phone: Option<PhoneNumber>,
    pub customer_signup_enabled: bool,
    pub email_validation_required: bool,
    pub sms_enabled: bool,
    #[serde(default)]
    pub custom_fields: Vec<CustomField>,
    pub owner_staff_id: String,
    pub created_at: i64,
    /// Logo and colours of the hosted pages.
    #[serde(default)]
    pub branding: Branding,
    /// The tenant's own ceiling on validation-code and invitation mails per UTC day (`None`:
    /// the platform default). An operator setting: the office cannot change it.
    #[serde(default)]
    pub daily_mail_limit: Option<DailyMailLimit>,
    /// Set by an operator (`portal-admin suspend-tenant`): while set, logins, sign-ups,
    /// invitation acceptance and reset requests answer `account_suspended`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended: Option<Suspension>,
    /// Sessions started under an older value are dead: an operator moves it on to end every
    /// session of the tenant at once (suspension does too), however many there are. Read with
    /// every session (see `sessions`, which names the field `TENANT_SESSIONS_EPOCH_FIELD`).
    #[serde(default)]
    pub sessions_epoch: u64,
}

/// A tenant's ceiling on validation-code and invitation mails per UTC day: 1 to
/// [`DailyMailLimit::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DailyMailLimit(u32);

impl DailyMailLimit {
    pub const MAX: u32 = 1_000_000;

    pub fn parse(raw: i64, field: &str) -> Result<Self, FieldError> {
        match u32::try_from(raw) {
            Ok(n @ 1..=Self::MAX) => Ok(Self(n)),
            _ => Err(FieldError::new(
                field,
                "invalid",
                format!("a daily mail limit is 1 to {}", Self::MAX),
            )),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// Why and since when a tenant is suspended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspension {
    /// Epoch seconds.
    pub at: i64,
    pub reason: Option<String>,
}

impl TenantRecord {
    /// `account_suspended` while an operator has the tenant suspended: the gate of every flow
    /// that lets someone in (logins, sign-ups, invitation acceptance, reset requests).
    pub fn ensure_open(&self) -> DomainResult<()> {
        match self.suspended {
            Some(_) => Err(DomainError::AccountSuspended),
            None => Ok(()),
        }
    }

    /// The business settings whose absence the login warns about, in the contract's order.
    pub fn missing_settings(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.business_email.is_none() {
            missing.push("business_email");
        }
        if self.location_email.is_none() {
            missing.push("location_email");
        }
        if self.location_phone.is_none() {
            missing.push("location_phone");
        }
        missing
    }
}

/// The settings as the office sees them.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub business_name: String,
    pub business_email: Option<Email>,
    pub location_email: Option<Email>,
    pub location_phone: Option<PhoneNumber>,
    pub customer_signup_enabled: bool,
    pub email_validation_required: bool,
    pub sms_enabled: bool,
    pub sms_credits: i64,
    pub custom_fields: Vec<CustomField>,
    pub branding: Branding,
    /// Validation-code and invitation mails the tenant may send per UTC day (read-only here).
    pub daily_mail_limit: u32,
}

/// Public facts about a tenant (`GET /a/{account}`).
#[derive(Debug, Clone, Serialize)]
pub struct TenantInfo {
    pub account: String,
    pub business_name: String,
    pub customer_signup_enabled: bool,
    pub email_validation_required: bool,
    pub sms_enabled: bool,
}

/// A settings change as received: `None` leaves a field unchanged; `Some(None)` clears a
/// nullable one.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SettingsInput {
    pub business_name: Option<String>,
    #[serde(default, deserialize_with = "crate::nullable")]
    pub business_email: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::nullable")]
    pub location_email: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::nullable")]
    pub location_phone: Option<Option<String>>,
    pub customer_signup_enabled: Option<bool>,
    pub email_validation_required: Option<bool>,
    pub sms_enabled: Option<bool>,
    pub custom_fields: Option<Vec<CustomFieldInput>>,
    pub branding: Option<BrandingInput>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CustomFieldInput {
    pub key: Option<String>,
    pub label: Option<String>,
    pub required: Option<bool>,
}

/// A validated settings change.
#[derive(Debug, Clone, Default)]
pub struct SettingsChange {
    business_name: Option<String>,
    business_email: Option<Option<Email>>,
    location_email: Option<Option<Email>>,
    location_phone: Option<Option<PhoneNumber>>,
    customer_signup_enabled: Option<bool>,
    email_validation_required: Option<bool>,
    sms_enabled: Option<bool>,
    custom_fields: Option<Vec<CustomField>>,
    branding: Option<BrandingChange>,
    daily_mail_limit: Option<DailyMailLimit>,
}

impl SettingsChange {
    pub fn parse(input: &SettingsInput) -> DomainResult<Self> {
        let mut errors = FieldErrors::new();
        let business_name = input
            .business_name
            .as_deref()
            .and_then(|n| errors.take(parse_text(n, "business_name", 200)));
        let business_email =
            errors.take_optional(&input.business_email, |s| Email::parse(s, "business_email"));
        let location_email =
            errors.take_optional(&input.location_email, |s| Email::parse(s, "location_email"));
        let location_phone = errors.take_optional(&input.location_phone, |s| {
            PhoneNumber::parse(s, "location_phone")
        });
        let custom_fields = input.custom_fields.as_ref().map(|fields| {
            let mut parsed = Vec::new();
            for (i, f) in fields.iter().enumerate() {
                let key = errors.take(parse_field_key(f.key.as_deref(), i));
                let label = errors.take(parse_text(
                    f.label.as_deref().unwrap_or(""),
                    &format!("custom_fields[{i}].label"),
                    200,
                ));
                if let (Some(key), Some(label)) = (key, label) {
                    if parsed.iter().any(|p: &CustomField| p.key == key) {
                        errors.push(FieldError::new(
                            format!("custom_fields[{i}].key"),
                            "duplicate",
                            "custom field keys must be unique",
                        ));
                    }
                    parsed.push(CustomField {
                        key,
                        label,
                        required: f.required.unwrap_or(false),
                    });
                }
            }
            parsed
        });
        let branding = input
            .branding
            .as_ref()
            .map(|b| BrandingChange::parse(b, &mut errors));
        errors.finish()?;
        Ok(Self {
            business_name,
            business_email,
            location_email,
            location_phone,
            customer_signup_enabled: input.customer_signup_enabled,
            email_validation_required: input.email_validation_required,
            sms_enabled: input.sms_enabled,
            custom_fields,
            branding,
            daily_mail_limit: None,
        })
    }

    /// The change with a new daily mail ceiling: for operators only (`/_dev`, `portal-admin`),
    /// never parsed from the office's settings.
    pub fn with_daily_mail_limit(mut self, limit: DailyMailLimit) -> Self {
        self.daily_mail_limit = Some(limit);
        self
    }

    /// Applies the change; refused (nothing applied) when the resulting branding colours fall
    /// below the contrast rule.
    pub(crate) fn apply(&self, t: &mut TenantRecord) -> DomainResult<()> {
        if let Some(change) = &self.branding {
            t.branding = change
                .applied_to(&t.branding)
                .map_err(|e| DomainError::Validation(vec![e]))?;
        }
        if let Some(v) = &self.business_name {
            t.business_name = v.clone();
        }
        if let Some(v) = &self.business_email {
            t.business_email = v.clone();
        }
        if let Some(v) = &self.location_email {
            t.location_email = v.clone();
        }
        if let Some(v) = &self.location_phone {
            t.location_phone = v.clone();
        }
        if let Some(v) = self.customer_signup_enabled {
            t.customer_signup_enabled = v;
        }
        if let Some(v) = self.email_validation_required {
            t.email_validation_required = v;
        }
        if let Some(v) = self.sms_enabled {
            t.sms_enabled = v;
        }
        if let Some(v) = &self.custom_fields {
            t.custom_fields = v.clone();
        }
        if let Some(v) = self.daily_mail_limit {
            t.daily_mail_limit = Some(v);
        }
        Ok(())
    }
}

fn parse_field_key(raw: Option<&str>, i: usize) -> Result<String, FieldError> {
    let field = format!("custom_fields[{i}].key");
    let key = raw.unwrap_or("").trim();
    if key.is_empty() {
        return Err(FieldError::required(field));
    }
    let ok = key.len() <= 64
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(key.to_owned())
    } else {
        Err(FieldError::new(
            field,
            "invalid",
            "use 1 to 64 letters, digits, '_' or '-'",
        ))
    }
}

/// The SMS credits an account's credits item holds (none stored: zero).
pub fn credits_in(item: Option<&Item>) -> i64 {
    item.and_then(|i| i.data.get("credits"))
        .and_then(|v| v.as_i64())
        .unwrap_or(0)
}

impl Portal {
    /// The tenant's ceiling on validation-code and invitation mails per UTC day.
    pub fn daily_mail_limit(&self, tenant: &TenantRecord) -> u32 {
        tenant
            .daily_mail_limit
            .map_or(self.security.daily_mails_default, DailyMailLimit::get)
    }

    /// The tenant, or `account_not_found`.
    pub async fn tenant(&self, account: &AccountName) -> DomainResult<TenantRecord> {
        match self.store.get(&keys::tenant_record(account)).await? {
            Some(item) => Ok(item.record()?),
            None => Err(DomainError::AccountNotFound),
        }
    }

    pub async fn tenant_info(&self, account: &AccountName) -> DomainResult<TenantInfo> {
        let t = self.tenant(account).await?;
        Ok(TenantInfo {
            account: t.account,
            business_name: t.business_name,
            customer_signup_enabled: t.customer_signup_enabled,
            email_validation_required: t.email_validation_required,
            sms_enabled: t.sms_enabled,
        })
    }

    pub async fn sms_credits(&self, account: &AccountName) -> DomainResult<i64> {
        Ok(credits_in(
            self.store.get(&keys::sms_credits(account)).await?.as_ref(),
        ))
    }

    /// Adds (or with a negative amount removes) SMS credits, never below zero, with its audit
    /// entry in the same transaction. Returns the credits as read after the change.
    pub async fn add_sms_credits(
        &self,
        account: &AccountName,
        amount: i64,
        actor: Actor,
    ) -> DomainResult<i64> {
        self.tenant(account).await?;
        let writes = vec![
            Write::Add {
                key: keys::sms_credits(account),
                field: "credits".into(),
                delta: amount,
                bound: Bound::AtLeast(0),
            },
            self.audit_write(
                account,
                actor,
                "sms_credits.added",
                None,
                json!({"amount": amount}),
            )?,
        ];
        match self.store.transact(writes).await {
            Ok(()) => self.sms_credits(account).await,
            Err(StoreError::ConditionFailed | StoreError::TransactionConflict(Some(0))) => {
                Err(DomainError::Validation(vec![FieldError::new(
                    "sms_credits",
                    "invalid",
                    "credits cannot go below zero",
                )]))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn settings(&self, account: &AccountName) -> DomainResult<Settings> {
        self.settings_in(&Batch::default(), account).await
    }

    /// [`Portal::settings`] from the items read along with the session, where they are.
    pub async fn settings_in(
        &self,
        along: &Batch,
        account: &AccountName,
    ) -> DomainResult<Settings> {
        let (tenant_key, credits_key) = (keys::tenant_record(account), keys::sms_credits(account));
        let (tenant, credits) = match (along.find(&tenant_key), along.find(&credits_key)) {
            (Some(tenant), Some(credits)) => (tenant, credits),
            _ => {
                let mut found = self
                    .store
                    .get_many(&[tenant_key.clone(), credits_key.clone()])
                    .await?;
                (
                    take_item(&mut found, &tenant_key),
                    take_item(&mut found, &credits_key),
                )
            }
        };
        let tenant: TenantRecord = tenant.ok_or(DomainError::AccountNotFound)?.record()?;
        let credits = credits_in(credits.as_ref());
        Ok(self.settings_view(tenant, credits))
    }

    /// Applies a settings change (optimistic concurrency on the tenant item).
    pub async fn update_settings(
        &self,
        account: &AccountName,
        actor: Actor,
        change: &SettingsChange,
        auth: Option<&Authenticated>,
    ) -> DomainResult<Settings> {
        // The first attempt starts from the tenant read with the session (where it was).
        let first = std::sync::atomic::AtomicBool::new(true);
        let tenant = crate::retry::optimistic(|| async {
            let key = keys::tenant_record(account);
            let item = match auth {
                Some(auth) if first.swap(false, std::sync::atomic::Ordering::Relaxed) => {
                    auth.read_along.read(self.store.as_ref(), &key).await?
                }
                _ => self.store.get(&key).await?,
            }
            .ok_or(DomainError::AccountNotFound)?;
            let mut tenant: TenantRecord = item.record()?;
            change.apply(&mut tenant)?;
            let updated =
                Item::from_record(item.key.clone(), &tenant)?.with_version(item.version + 1);
            let audit =
                self.audit_write(account, actor.clone(), "settings.updated", None, json!({}))?;
            let written = self
                .transact_maybe_as(
                    auth,
                    vec![
                        Write::Put(updated, Condition::VersionIs(item.version)),
                        audit,
                    ],
                )
                .await;
            Ok(crate::retry::won(written)?.then_some(tenant))
        })
        .await?;
        // The credits are not part of this change: as read with the session, where they were.
        let credits_key = keys::sms_credits(account);
        let credits = match auth.and_then(|a| a.read_along.find(&credits_key)) {
            Some(read) => credits_in(read.as_ref()),
            None => self.sms_credits(account).await?,
        };
        Ok(self.settings_view(tenant, credits))
    }

    /// Applies a settings change without an actor (local development and ops).
    pub async fn patch_tenant(
        &self,
        account: &AccountName,
        change: &SettingsChange,
        sms_credits: Option<i64>,
    ) -> DomainResult<Settings> {
        let settings = self
            .update_settings(account, Actor::system(), change, None)
            .await?;
        if let Some(target) = sms_credits {
            if target < 0 {
                return Err(DomainError::Validation(vec![FieldError::new(
                    "sms_credits",
                    "invalid",
                    "credits cannot be negative",
                )]));
            }
            self.store
                .put(
                    Item::from_record(keys::sms_credits(account), &json!({"credits": target}))?,
                    Condition::Always,
                )
                .await?;
            return self.settings(account).await;
        }
        Ok(settings)
    }

    /// The platform's current Terms & Conditions version.
    pub async fn current_terms(&self) -> DomainResult<String> {
        Ok(terms_version(
            self.store.get(&keys::platform_terms()).await?.as_ref(),
        ))
    }

    /// Publishes a new Terms & Conditions version: every staff member must accept it.
    pub async fn publish_terms(&self, version: &str) -> DomainResult<()> {
        let version =
            parse_text(version, "version", 64).map_err(|e| DomainError::Validation(vec![e]))?;
        self.store
            .put(
                Item::from_record(keys::platform_terms(), &json!({"version": version}))?,
                Condition::Always,
            )
            .await?;
        Ok(())
    }
}

/// The version named by the platform's terms item (the initial one when none was published).
pub fn terms_version(item: Option<&Item>) -> String {
    item.and_then(|i| i.data.get("version").and_then(|v| v.as_str()))
        .unwrap_or(INITIAL_TERMS_VERSION)
        .to_owned()
}

impl Portal {
    fn settings_view(&self, t: TenantRecord, sms_credits: i64) -> Settings {
        Settings {
            daily_mail_limit: self.daily_mail_limit(&t),
            business_name: t.business_name,
            business_email: t.business_email,
            location_email: t.location_email,
            location_phone: t.location_phone,
            customer_signup_enabled: t.customer_signup_enabled,
            email_validation_required: t.email_validation_required,
            sms_enabled: t.sms_enabled,
            sms_credits,
            custom_fields: t.custom_fields,
            branding: t.branding,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantRecord {
        TenantRecord {
            account: "swim".into(),
            business_name: "Swim".into(),
            business_email: None,
            location_email: None,
            location_phone: None,
            customer_signup_enabled: true,
            email_validation_required: true,
            sms_enabled: false,
            custom_fields: Vec::new(),
            owner_staff_id: "o".into(),
            created_at: 0,
            branding: Branding::default(),
            daily_mail_limit: None,
            suspended: None,
            sessions_epoch: 7,
        }
    }

    /// Sessions read the epoch from the stored item by name: the record must store it there.
    #[test]
    fn the_sessions_epoch_is_stored_where_sessions_read_it() {
        let item = Item::from_record(
            keys::tenant_record(&AccountName::parse("swim").unwrap()),
            &tenant(),
        )
        .unwrap();
        assert_eq!(crate::sessions::tenant_sessions_epoch(&item), 7);
        assert!(
            item.data
                .contains_key(crate::sessions::TENANT_SESSIONS_EPOCH_FIELD)
        );
    }

    #[test]
    fn a_suspended_tenant_is_closed_and_old_records_are_open() {
        assert!(tenant().ensure_open().is_ok());
        let suspended = TenantRecord {
            suspended: Some(Suspension {
                at: 1,
                reason: None,
            }),
            ..tenant()
        };
        assert!(matches!(
            suspended.ensure_open(),
            Err(DomainError::AccountSuspended)
        ));
        // Records written before suspension existed read as open, epoch 0.
        let mut old = serde_json::to_value(tenant()).unwrap();
        let fields = old.as_object_mut().unwrap();
        fields.remove("sessions_epoch");
        let old: TenantRecord = serde_json::from_value(old).unwrap();
        assert!(old.ensure_open().is_ok());
        assert_eq!(old.sessions_epoch, 0);
    }
}

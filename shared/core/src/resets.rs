//! Passwords after sign-up: forgotten-password links (staff by username, guardians by login
//! email), office-sent reset links by email or SMS, completing a reset, staff setting another
//! staff member's password, a staff member changing their own, and the notice emailed after
//! every change.
//!
//! Reset links: a 32-byte random token (base64url), stored only as its SHA-256 with the user it
//! resets, valid `reset_link_seconds` of the security policy by the clock at every read (the TTL attribute only lets
//! the store forget it), single use. Each link records its user's credential epoch (see
//! [`crate::sessions`]): completing a reset bumps the epoch in the same write as the new
//! password, which kills every other outstanding link of that user at once, however many there
//! are, and ends every session. Links of an older epoch answer like a used one.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::account::AccountName;
use crate::audit::Actor;
use crate::clock::{rfc3339, rfc3339_epoch};
use crate::contact::{Email, PhoneNumber};
use crate::error::{DomainError, DomainResult, FieldError};
use crate::guardians::GuardianRecord;
use crate::keys;
use crate::limits::{Allowance, MessageKind, send_log_key};
use crate::messaging::{Sms, compose_email};
use crate::metrics::Metric;
use crate::passwords::{Password, PasswordAttempt, Verified};
use crate::portal::Portal;
use crate::security::in_words;
use crate::sessions::{Authenticated, SubjectKind, credential_epoch, subject_key};
use crate::staff::{StaffActor, StaffRecord};
use crate::store::{Bound, Condition, Item, Key, StoreError, Write, take_item};
use crate::tenants::TenantRecord;
use crate::tokens::{new_token, token_hash};

/// Longest token accepted at all (ours are 43 characters).
const MAX_TOKEN_LENGTH: usize = 512;

/// Attempts of a reset completion that lost a race on the user's record to another change.
const COMPLETE_ATTEMPTS: usize = 3;

/// A reset link as stored (under the hash of its token).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ResetRecord {
    kind: SubjectKind,
    subject_id: String,
    created_at: i64,
    /// When the link stops working (the item's TTL is the same time; this is the one read).
    valid_until: i64,
    /// The user's credential epoch when the link was sent.
    #[serde(default)]
    epoch: u64,
}

/// How an office reset link is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    /// Parses the `channel` field: `email` or `sms`.
    pub fn parse(raw: Option<&str>) -> DomainResult<Self> {
        match raw.map(str::trim) {
            Some("email") => Ok(Channel::Email),
            Some("sms") => Ok(Channel::Sms),
            None | Some("") => Err(DomainError::Validation(vec![FieldError::required(
                "channel",
            )])),
            Some(_) => Err(DomainError::Validation(vec![FieldError::new(
                "channel",
                "invalid",
                "use \"email\" or \"sms\"",
            )])),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }
}

/// A reset link handed to an operator (see [`Portal::owner_reset_link`]).
#[derive(Debug, Clone, Serialize)]
pub struct HandedOverLink {
    pub url: String,
    pub owner_staff_id: String,
    pub expires_at: String,
}

/// `GET password/reset/{token}`.
#[derive(Debug, Clone, Serialize)]
pub struct ResetLinkInfo {
    pub kind: SubjectKind,
    pub expires_at: String,
}

/// Whom a link resets, with where it can be sent.
struct Recipient {
    kind: SubjectKind,
    id: String,
    epoch: u64,
    email: Option<Email>,
    phone: Option<PhoneNumber>,
}

impl Recipient {
    fn staff(s: &StaffRecord) -> Self {
        Self {
            kind: SubjectKind::Staff,
            id: s.id.clone(),
            epoch: s.credential_epoch,
            email: s.email.clone(),
            phone: s.phone.clone(),
        }
    }

    fn guardian(g: &GuardianRecord) -> Self {
        Self {
            kind: SubjectKind::Guardian,
            id: g.id.clone(),
            epoch: g.credential_epoch,
            email: Some(g.email.clone()),
            phone: g.sms_phone().cloned(),
        }
    }
}

/// A link that works now, with its user's record as read.
struct LiveLink {
    record: ResetRecord,
    link: Item,
    subject: Item,
}

/// The writes of an issued link, kept to undo it when the message cannot be delivered.
struct Issued {
    keys: Vec<Key>,
}

/// The address a message goes to, in the form the sending limit is kept by.
fn limit_address(channel: Channel, email: Option<&Email>, phone: Option<&PhoneNumber>) -> String {
    match channel {
        Channel::Email => email.map(Email::normalized).unwrap_or_default(),
        Channel::Sms => phone.map(|p| p.as_str().to_owned()).unwrap_or_default(),
    }
}

impl Portal {
    /// The link a message carries.
    fn reset_url(&self, account: &AccountName, token: &str) -> String {
        format!(
            "{}/a/{account}/reset-password?token={token}",
            self.portal_url.trim_end_matches('/')
        )
    }

    fn reset_email(&self, to: &str, business: &str, url: &str) -> crate::messaging::Email {
        compose_email(
            to,
            business,
            "Reset your password",
            &[
                format!("A password reset was requested for your {business} login."),
                format!(
                    "Open this link within {} to choose a new password. If you did not ask for \
                     this, ignore this message: your password stays as it is.",
                    in_words(self.security.reset_link_seconds)
                ),
            ],
            Some(url),
        )
    }

    /// The SMS text: business name and link, within 160 characters where the name allows.
    fn reset_sms(&self, to: &str, business: &str, url: &str) -> Sms {
        let minutes = self.security.reset_link_seconds / 60;
        let suffix = format!(": reset your password ({minutes} min): {url}");
        let room = 160usize.saturating_sub(suffix.chars().count()).max(20);
        let name: String = if business.chars().count() > room {
            let mut n: String = business.chars().take(room.saturating_sub(1)).collect();
            n.push('…');
            n
        } else {
            business.to_owned()
        };
        Sms {
            to: to.to_owned(),
            body: format!("{name}{suffix}"),
        }
    }

    /// The writes storing a link and its audit entry.
    fn link_writes(
        &self,
        account: &AccountName,
        recipient: &Recipient,
        hash: &str,
        actor: Actor,
        via: &str,
    ) -> DomainResult<Vec<Write>> {
        let now = self.clock.epoch();
        let expires_at = now + self.security.reset_link_seconds;
        let record = ResetRecord {
            kind: recipient.kind,
            subject_id: recipient.id.clone(),
            created_at: now,
            valid_until: expires_at,
            epoch: recipient.epoch,
        };
        let link =
            Item::from_record(keys::reset_token(account, hash), &record)?.expiring_at(expires_at);
        Ok(vec![
            Write::Put(link, Condition::Absent),
            self.audit_write(
                account,
                actor,
                "password.reset_sent",
                Some(&recipient.id),
                json!({"kind": recipient.kind.as_str(), "channel": via}),
            )?,
        ])
    }

    /// Undoes an issued link whose message was not delivered (the link and its audit entry:
    /// nothing was sent). Best effort.
    async fn withdraw_link(&self, issued: Issued) {
        let writes = issued
            .keys
            .into_iter()
            .map(|k| Write::Delete(k, Condition::Always))
            .collect();
        if let Err(e) = self.store.transact(writes).await {
            tracing::warn!(error = %e, "could not withdraw an undelivered reset link");
        }
    }

    /// One credit more or less, inside a transaction: never below zero, and a retry of a
    /// request whose answer was lost cannot apply it twice.
    fn credit_change(account: &AccountName, delta: i64) -> Write {
        Write::Add {
            key: keys::sms_credits(account),
            field: "credits".into(),
            delta,
            bound: Bound::AtLeast(0),
        }
    }

    async fn refund_credit(&self, account: &AccountName) {
        if let Err(e) = self
            .store
            .transact(vec![Self::credit_change(account, 1)])
            .await
        {
            tracing::error!(account = %account, error = %e, "could not refund an SMS credit");
        }
    }

    // ------------------------------------------------------------------ operator handover

    /// `portal-admin owner-reset-link`: a reset link for the tenant's owner (who may have no
    /// email), handed to the operator to pass on through a verified channel instead of being
    /// sent. The same token, record, lifetime and completion as every link; single use;
    /// audited as `password.reset_sent` with the operator as actor and channel `operator`.
    pub async fn owner_reset_link(
        &self,
        account: &AccountName,
        actor: Actor,
    ) -> DomainResult<HandedOverLink> {
        let tenant = self.tenant(account).await?;
        let (owner, _) = self.staff_record(account, &tenant.owner_staff_id).await?;
        let (token, hash) = new_token()?;
        let expires_at = self.clock.epoch() + self.security.reset_link_seconds;
        let writes =
            self.link_writes(account, &Recipient::staff(&owner), &hash, actor, "operator")?;
        self.store.transact(writes).await?;
        Ok(HandedOverLink {
            url: self.reset_url(account, &token),
            owner_staff_id: owner.id,
            expires_at: rfc3339_epoch(expires_at),
        })
    }

    // ------------------------------------------------------------------ forgot password

    /// `POST staff/password/forgot`: always `Ok` (the same `202`), whether or not the username
    /// exists, has an email or is the owner (who never gets a link), and past the sending limit.
    pub async fn forgot_staff_password(
        &self,
        account: &AccountName,
        username: &str,
    ) -> DomainResult<()> {
        let started = tokio::time::Instant::now();
        let outcome = self.forgot_staff_password_now(account, username).await;
        answer_no_sooner_than(started).await;
        outcome
    }

    async fn forgot_staff_password_now(
        &self,
        account: &AccountName,
        username: &str,
    ) -> DomainResult<()> {
        let normalized = username.trim().to_lowercase();
        let lookup = if normalized.is_empty() || normalized.len() > 256 {
            "-".to_owned()
        } else {
            normalized
        };
        // One batch whether or not the user exists: the username guard is the login copy.
        let tenant_key = keys::tenant_record(account);
        let guard_key = keys::username(account, &lookup);
        let mut found = self
            .store
            .get_many(&[tenant_key.clone(), guard_key.clone()])
            .await?;
        let tenant: TenantRecord = take_item(&mut found, &tenant_key)
            .ok_or(DomainError::AccountNotFound)?
            .record()?;
        tenant.ensure_open()?;
        let staff: Option<StaffRecord> = match take_item(&mut found, &guard_key) {
            Some(item) => Some(item.record()?),
            None => None,
        };
        let recipient = staff
            .filter(|s| !s.is_owner && s.email.is_some())
            .map(|s| Recipient::staff(&s));
        self.send_forgot_link(account, &tenant, recipient, None)
            .await
    }

    /// `POST portal/password/forgot`: always `Ok`, as for staff. Only guardians with a login
    /// (a password) get a link.
    pub async fn forgot_guardian_password(
        &self,
        account: &AccountName,
        email: &str,
    ) -> DomainResult<()> {
        let started = tokio::time::Instant::now();
        let outcome = self.forgot_guardian_password_now(account, email).await;
        answer_no_sooner_than(started).await;
        outcome
    }

    async fn forgot_guardian_password_now(
        &self,
        account: &AccountName,
        email: &str,
    ) -> DomainResult<()> {
        let normalized = email.trim().to_lowercase();
        let lookup = if normalized.is_empty() || normalized.len() > 320 {
            "-".to_owned()
        } else {
            normalized
        };
        // The send log is kept by the login email, so it joins the first batch.
        let tenant_key = keys::tenant_record(account);
        let guard_key = keys::login_email(account, &lookup);
        let log_key = send_log_key(account, MessageKind::ResetLink, &lookup);
        let mut found = self
            .store
            .get_many(&[tenant_key.clone(), guard_key.clone(), log_key.clone()])
            .await?;
        let tenant: TenantRecord = take_item(&mut found, &tenant_key)
            .ok_or(DomainError::AccountNotFound)?
            .record()?;
        tenant.ensure_open()?;
        let guardian_id =
            take_item(&mut found, &guard_key).and_then(|i| crate::guardian::guardian_of_login(&i));
        let guardian: Option<GuardianRecord> = match self
            .store
            .get(&keys::guardian(
                account,
                guardian_id.as_deref().unwrap_or("-"),
            ))
            .await?
        {
            Some(item) if guardian_id.is_some() => Some(item.record()?),
            _ => None,
        };
        let recipient = guardian
            .filter(GuardianRecord::can_log_in)
            .map(|g| Recipient::guardian(&g));
        let log = take_item(&mut found, &log_key);
        self.send_forgot_link(account, &tenant, recipient, Some((log_key, log)))
            .await
    }

    /// The common part of both forgot routes: the token and the message are made either way;
    /// only the writes and the send happen for a real recipient. Never fails for reasons the
    /// caller could learn anything from (only a store outage is an error).
    async fn send_forgot_link(
        &self,
        account: &AccountName,
        tenant: &TenantRecord,
        recipient: Option<Recipient>,
        log_read: Option<(Key, Option<Item>)>,
    ) -> DomainResult<()> {
        let (token, hash) = new_token()?;
        let url = self.reset_url(account, &token);
        let to = recipient
            .as_ref()
            .and_then(|r| r.email.as_ref())
            .map(|e| e.as_str().to_owned())
            .unwrap_or_else(|| "nobody@invalid.invalid".to_owned());
        let email = self.reset_email(&to, &tenant.business_name, &url);
        let Some(recipient) = recipient else {
            if log_read.is_none() {
                // As many round trips as the sending-limit read of a real request.
                self.store.get(&keys::reset_token(account, &hash)).await?;
            }
            return Ok(());
        };
        let address = limit_address(Channel::Email, recipient.email.as_ref(), None);
        let key = send_log_key(account, MessageKind::ResetLink, &address);
        let log = match log_read {
            Some((read, log)) if read == key => log,
            _ => self.store.get(&key).await?,
        };
        let issue = self.issue_link(
            account,
            &recipient,
            Channel::Email,
            Actor::system(),
            None,
            (&key, log),
            &hash,
        );
        let (issued, allowance) = match issue.await {
            Ok(done) => done,
            Err(DomainError::TooManyRequests { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        if let Err(e) = self.send_email(email).await {
            tracing::warn!(account = %account, error = %e, "forgot-password link not delivered");
            self.return_allowance(allowance).await;
            self.withdraw_link(issued).await;
        } else {
            self.metrics.record(Metric::ResetLinkSent);
        }
        Ok(())
    }

    /// Issues a link in one transaction: the sending allowance (from the send log as read),
    /// one SMS credit when the channel is SMS (never below zero), the link, its audit entry and
    /// the caller's idle deadline. A concurrent send to the same address makes the allowance
    /// write fail: the log is read again and the transaction retried.
    #[allow(clippy::too_many_arguments)]
    async fn issue_link(
        &self,
        account: &AccountName,
        recipient: &Recipient,
        channel: Channel,
        actor: Actor,
        auth: Option<&Authenticated>,
        (log_key, log): (&Key, Option<Item>),
        hash: &str,
    ) -> DomainResult<(Issued, Allowance)> {
        let charged = channel == Channel::Sms;
        let actor = &actor;
        self.with_allowance(log_key, Some(log), |allowance| async move {
            let mut writes = vec![allowance];
            if charged {
                writes.push(Self::credit_change(account, -1));
            }
            let link =
                self.link_writes(account, recipient, hash, actor.clone(), channel.as_str())?;
            let issued = Issued {
                keys: link.iter().map(|w| w.key().clone()).collect(),
            };
            writes.extend(link);
            match self.transact_maybe_as(auth, writes).await {
                Ok(()) => Ok(Some(issued)),
                // Another send to this address got in first (index 0: the allowance).
                Err(StoreError::TransactionConflict(Some(0))) => Ok(None),
                Err(StoreError::TransactionConflict(Some(1))) if charged => {
                    Err(DomainError::InsufficientSmsCredits)
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    // ------------------------------------------------------------------ office resets

    /// `POST office/staff/{id}/password-reset`.
    pub async fn office_reset_staff(
        &self,
        actor: &StaffActor,
        staff_id: &str,
        channel: Option<&str>,
    ) -> DomainResult<()> {
        let channel = Channel::parse(channel)?;
        let account = &actor.auth.account;
        let (target, tenant, credits) = self
            .office_reset_reads(actor, keys::staff(account, staff_id))
            .await?;
        let target: StaffRecord = target.ok_or(DomainError::NotFound)?.record()?;
        if target.is_owner && !actor.record.is_owner {
            return Err(DomainError::OwnerOnly);
        }
        self.send_office_link(actor, Recipient::staff(&target), channel, &tenant, credits)
            .await
    }

    /// `POST office/guardians/{id}/password-reset`. A guardian without a login is not found.
    pub async fn office_reset_guardian(
        &self,
        actor: &StaffActor,
        guardian_id: &str,
        channel: Option<&str>,
    ) -> DomainResult<()> {
        let channel = Channel::parse(channel)?;
        let account = &actor.auth.account;
        let (target, tenant, credits) = self
            .office_reset_reads(actor, keys::guardian(account, guardian_id))
            .await?;
        let guardian: GuardianRecord = target.ok_or(DomainError::NotFound)?.record()?;
        if !guardian.can_log_in() {
            return Err(DomainError::NotFound);
        }
        self.send_office_link(
            actor,
            Recipient::guardian(&guardian),
            channel,
            &tenant,
            credits,
        )
        .await
    }

    /// What an office reset reads: the target's record, the tenant (SMS setting, business
    /// name) and the SMS credits; read with the session (`read_along`), else in one batch.
    async fn office_reset_reads(
        &self,
        actor: &StaffActor,
        target_key: Key,
    ) -> DomainResult<(Option<Item>, TenantRecord, i64)> {
        let account = &actor.auth.account;
        let tenant_key = keys::tenant_record(account);
        let credits_key = keys::sms_credits(account);
        let mut found = self
            .read_all(
                &actor.auth.read_along,
                &[target_key.clone(), tenant_key.clone(), credits_key.clone()],
            )
            .await?;
        let tenant: TenantRecord = take_item(&mut found, &tenant_key)
            .ok_or(DomainError::AccountNotFound)?
            .record()?;
        let credits = crate::tenants::credits_in(take_item(&mut found, &credits_key).as_ref());
        Ok((take_item(&mut found, &target_key), tenant, credits))
    }

    /// Sends an office reset link. Refusals (nothing on file, SMS disabled, no credits, the
    /// sending limit) cost nothing; a failed send gives back the credit and the allowance and
    /// withdraws the link (`503`).
    async fn send_office_link(
        &self,
        actor: &StaffActor,
        recipient: Recipient,
        channel: Channel,
        tenant: &TenantRecord,
        credits: i64,
    ) -> DomainResult<()> {
        let account = &actor.auth.account;
        match channel {
            Channel::Email if recipient.email.is_none() => {
                return Err(DomainError::NoEmailOnFile);
            }
            Channel::Sms if !tenant.sms_enabled => return Err(DomainError::SmsDisabled),
            Channel::Sms if recipient.phone.is_none() => return Err(DomainError::NoPhoneOnFile),
            Channel::Sms if credits <= 0 => return Err(DomainError::InsufficientSmsCredits),
            _ => {}
        }
        let address = limit_address(channel, recipient.email.as_ref(), recipient.phone.as_ref());
        let log_key = send_log_key(account, MessageKind::ResetLink, &address);
        let log = self.store.get(&log_key).await?;
        let (token, hash) = new_token()?;
        let (issued, allowance) = self
            .issue_link(
                account,
                &recipient,
                channel,
                actor.actor(),
                Some(&actor.auth),
                (&log_key, log),
                &hash,
            )
            .await?;
        let url = self.reset_url(account, &token);
        let sent = match channel {
            Channel::Email => {
                let to = recipient.email.as_ref().map(Email::as_str).unwrap_or("");
                self.send_email(self.reset_email(to, &tenant.business_name, &url))
                    .await
            }
            Channel::Sms => {
                let to = recipient
                    .phone
                    .as_ref()
                    .map(PhoneNumber::as_str)
                    .unwrap_or("");
                self.send_sms(self.reset_sms(to, &tenant.business_name, &url))
                    .await
            }
        };
        if let Err(e) = sent {
            tracing::warn!(account = %account, channel = channel.as_str(), error = %e, "reset link not delivered");
            if channel == Channel::Sms {
                self.refund_credit(account).await;
            }
            self.return_allowance(allowance).await;
            self.withdraw_link(issued).await;
            return Err(DomainError::DeliveryFailed);
        }
        self.metrics.record(Metric::ResetLinkSent);
        Ok(())
    }

    // ------------------------------------------------------------------ using a link

    /// Reads a link and its user's record: unknown, used or killed (its user's credential
    /// epoch has moved on) `invalid_token`; older than 30 minutes by the clock `token_expired`,
    /// whether or not the store has forgotten it yet.
    async fn reset_link(
        &self,
        account: &AccountName,
        token: &str,
    ) -> DomainResult<(TenantRecord, LiveLink)> {
        let token = token.trim();
        if token.is_empty() || token.len() > MAX_TOKEN_LENGTH {
            self.tenant(account).await?;
            return Err(DomainError::InvalidToken);
        }
        // The tenant and the link in one batch, then the user's record the link names.
        let tenant_key = keys::tenant_record(account);
        let link_key = keys::reset_token(account, &token_hash(token));
        let mut found = self
            .store
            .get_many(&[tenant_key.clone(), link_key.clone()])
            .await?;
        let tenant: TenantRecord = take_item(&mut found, &tenant_key)
            .ok_or(DomainError::AccountNotFound)?
            .record()?;
        let link = take_item(&mut found, &link_key).ok_or(DomainError::InvalidToken)?;
        let record: ResetRecord = link.record()?;
        let subject = self
            .store
            .get(&subject_key(account, record.kind, &record.subject_id))
            .await?
            .filter(|s| credential_epoch(s) == record.epoch)
            .ok_or(DomainError::InvalidToken)?;
        if record.valid_until <= self.clock.epoch() {
            return Err(DomainError::TokenExpired);
        }
        Ok((
            tenant,
            LiveLink {
                record,
                link,
                subject,
            },
        ))
    }

    /// `GET password/reset/{token}`: checks a link without using it up.
    pub async fn check_reset_link(
        &self,
        account: &AccountName,
        token: &str,
    ) -> DomainResult<ResetLinkInfo> {
        let (_, live) = self.reset_link(account, token).await?;
        Ok(ResetLinkInfo {
            kind: live.record.kind,
            expires_at: rfc3339_epoch(live.record.valid_until),
        })
    }

    /// `POST password/reset`: in one transaction, sets the password (bumping the user's
    /// credential epoch, which ends every session and kills every other link of the user) and
    /// uses the link up; then sends the notice. A refused reset (weak password) leaves the link
    /// usable. Two links of one user used at once: one wins, the other is `invalid_token`.
    pub async fn complete_reset(
        &self,
        account: &AccountName,
        token: &str,
        new_password: SecretString,
    ) -> DomainResult<()> {
        let (tenant, live) = self.reset_link(account, token).await?;
        let mut first_read = Some(live);
        let password = Password::parse(new_password, "new_password")
            .map_err(|e| DomainError::Validation(vec![e]))?;
        let hash = self.hasher.hash(&password).await?;
        for _ in 0..COMPLETE_ATTEMPTS {
            let live = match first_read.take() {
                Some(live) => live,
                None => self.reset_link(account, token).await?.1,
            };
            let kind = live.record.kind;
            let id = live.record.subject_id.clone();
            let version = live.subject.version;
            let (subject_writes, email) = match kind {
                SubjectKind::Staff => {
                    let mut staff: StaffRecord = live.subject.record()?;
                    staff.replace_password(hash.clone());
                    let email = staff.email.clone();
                    (self.staff_update(account, &staff, version)?, email)
                }
                SubjectKind::Guardian => {
                    let mut guardian: GuardianRecord = live.subject.record()?;
                    guardian.replace_password(hash.clone());
                    let email = Some(guardian.email.clone());
                    let item = Item::from_record(keys::guardian(account, &id), &guardian)?
                        .with_version(version + 1);
                    (vec![Write::Put(item, Condition::VersionIs(version))], email)
                }
            };
            let mut writes = vec![
                // Exactly once: a concurrent use of the same link fails this condition.
                Write::Delete(
                    live.link.key.clone(),
                    Condition::VersionIs(live.link.version),
                ),
                self.audit_write(
                    account,
                    match kind {
                        SubjectKind::Staff => Actor::staff(&id),
                        SubjectKind::Guardian => Actor::guardian(&id),
                    },
                    "password.reset_completed",
                    Some(&id),
                    json!({"kind": kind.as_str()}),
                )?,
            ];
            writes.extend(subject_writes);
            match self.store.transact(writes).await {
                Ok(()) => {
                    self.send_password_notice(account, &tenant, email.as_ref())
                        .await;
                    return Ok(());
                }
                // The link was used in the meantime.
                Err(StoreError::TransactionConflict(Some(0))) => {
                    return Err(DomainError::InvalidToken);
                }
                // The user changed meanwhile (maybe another link of theirs was used, which the
                // next read tells): read again.
                Err(StoreError::TransactionConflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DomainError::Store(StoreError::Contention))
    }

    // ------------------------------------------------------------------ set and change

    /// `PUT office/staff/{id}/password`: ends every session of the target. Only the owner may
    /// set the owner's password.
    pub async fn office_set_staff_password(
        &self,
        actor: &StaffActor,
        staff_id: &str,
        new_password: SecretString,
    ) -> DomainResult<()> {
        let account = &actor.auth.account;
        let tenant_key = keys::tenant_record(account);
        let target_key = keys::staff(account, staff_id);
        let mut found = self
            .read_all(
                &actor.auth.read_along,
                &[tenant_key.clone(), target_key.clone()],
            )
            .await?;
        let target_item = take_item(&mut found, &target_key).ok_or(DomainError::NotFound)?;
        let target: StaffRecord = target_item.record()?;
        if target.is_owner && !actor.record.is_owner {
            return Err(DomainError::OwnerOnly);
        }
        // Taking over a login must not grant more than granting could: the caller's levels
        // must cover the target's for every task.
        let target_levels = self.effective_permissions(account, &target).await?;
        if !target_levels.within(&actor.permissions) {
            return Err(DomainError::Forbidden);
        }
        let password = Password::parse(new_password, "new_password")
            .map_err(|e| DomainError::Validation(vec![e]))?;
        let tenant: TenantRecord = take_item(&mut found, &tenant_key)
            .ok_or(DomainError::AccountNotFound)?
            .record()?;
        self.replace_staff_password(
            actor,
            (target, target_item.version),
            &tenant,
            &password,
            ("staff", None),
        )
        .await
    }

    /// `PUT staff/me/password`: the current password must be right (`403 invalid_credentials`
    /// otherwise); every session of the caller ends, this one included.
    pub async fn change_own_password(
        &self,
        actor: &StaffActor,
        current_password: SecretString,
        new_password: SecretString,
    ) -> DomainResult<()> {
        let account = &actor.auth.account;
        let (tenant, password, success) = self
            .own_password_change(
                account,
                (
                    crate::lockout::LoginKind::Staff,
                    &actor.record.username.normalized(),
                ),
                Some(&actor.record.password_hash),
                current_password,
                new_password,
            )
            .await?;
        self.replace_staff_password(
            actor,
            (actor.record.clone(), actor.auth.subject.version),
            &tenant,
            &password,
            ("self", success),
        )
        .await
    }

    /// A guardian changes their own password (the hosted `change-password` page; the JSON API
    /// has no such route). The same rules as staff: the current password is checked under the
    /// login's own lockout counter (`WrongCurrentPassword` when wrong), the policy applies to
    /// the new one, every session of the guardian ends (the credential epoch moves), the change
    /// is audited as `password.changed` and the guardian is told by email.
    pub async fn change_guardian_password(
        &self,
        actor: &crate::families::GuardianActor,
        current_password: SecretString,
        new_password: SecretString,
    ) -> DomainResult<()> {
        let account = &actor.auth.account;
        let guardian = &actor.guardian;
        let (tenant, password, success) = self
            .own_password_change(
                account,
                (
                    crate::lockout::LoginKind::Guardian,
                    &guardian.email.normalized(),
                ),
                guardian.password_hash.as_ref(),
                current_password,
                new_password,
            )
            .await?;
        let hash = self.hasher.hash(&password).await?;
        let mut changed = guardian.clone();
        changed.replace_password(hash);
        let version = actor.guardian_version;
        let writes = vec![
            // A concurrent change of the record (another password change, a reset) wins; this
            // one answers `conflict` rather than overwrite it.
            Write::Put(
                Item::from_record(keys::guardian(account, &changed.id), &changed)?
                    .with_version(version + 1),
                Condition::VersionIs(version),
            ),
            self.audit_write(
                account,
                Actor::guardian(&changed.id),
                "password.changed",
                Some(&changed.id),
                json!({"by": "self"}),
            )?,
        ];
        self.transact_settling(writes, success, Some(&actor.auth))
            .await?;
        self.send_password_notice(account, &tenant, Some(&changed.email))
            .await;
        Ok(())
    }

    /// The first half of changing one's own password: the current password checked under the
    /// login's own lockout counter (guesses here count like failed logins; read with the tenant,
    /// for the notice, in one batch), then the new one parsed. A refused new password settles
    /// the check at once; otherwise the settlement rides in the change's transaction.
    async fn own_password_change(
        &self,
        account: &AccountName,
        (kind, login): (crate::lockout::LoginKind, &str),
        stored: Option<&crate::passwords::PasswordHashString>,
        current_password: SecretString,
        new_password: SecretString,
    ) -> DomainResult<(
        TenantRecord,
        Password,
        Option<crate::lockout::SuccessToSettle>,
    )> {
        let lock_key = self.lock_key(account, kind, login);
        let tenant_key = keys::tenant_record(account);
        let mut found = self
            .store
            .get_many(&[lock_key.clone(), tenant_key.clone()])
            .await?;
        let lock = crate::lockout::LockRead {
            item: take_item(&mut found, &lock_key),
            key: lock_key,
        };
        let (verified, success) = self
            .check_credentials_deferred(lock, &PasswordAttempt(current_password), stored)
            .await?;
        if verified == Verified::No {
            return Err(DomainError::WrongCurrentPassword);
        }
        let password = match Password::parse(new_password, "new_password") {
            Ok(p) => p,
            Err(e) => {
                self.transact_settling(Vec::new(), success, None).await?;
                return Err(DomainError::Validation(vec![e]));
            }
        };
        let tenant: TenantRecord = take_item(&mut found, &tenant_key)
            .ok_or(DomainError::AccountNotFound)?
            .record()?;
        Ok((tenant, password, success))
    }

    /// Sets a staff member's password in one transaction (record and login copy with the
    /// bumped credential epoch, audit, the caller's idle deadline, and the settlement of a
    /// checked current password), from the record as read; a concurrent change of the record
    /// makes it read again.
    async fn replace_staff_password(
        &self,
        actor: &StaffActor,
        read: (StaffRecord, u64),
        tenant: &TenantRecord,
        password: &Password,
        (by, success): (&str, Option<crate::lockout::SuccessToSettle>),
    ) -> DomainResult<()> {
        let account = &actor.auth.account;
        let staff_id = read.0.id.clone();
        let hash = self.hasher.hash(password).await?;
        let first = std::sync::Mutex::new(Some((read, success)));
        let email = crate::retry::optimistic(|| async {
            let (read, success) = match first.lock().ok().and_then(|mut f| f.take()) {
                Some((read, success)) => (read, success),
                None => (self.staff_record(account, &staff_id).await?, None),
            };
            let (mut staff, version) = read;
            staff.replace_password(hash.clone());
            let mut writes = self.staff_update(account, &staff, version)?;
            writes.push(self.audit_write(
                account,
                actor.actor(),
                "password.changed",
                Some(&staff_id),
                json!({"by": by}),
            )?);
            match self
                .transact_settling(writes, success, Some(&actor.auth))
                .await
            {
                Ok(()) => Ok(Some(staff.email)),
                // The record changed since it was read: read it again.
                Err(DomainError::Store(StoreError::TransactionConflict(_))) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await?;
        self.send_password_notice(account, tenant, email.as_ref())
            .await;
        Ok(())
    }

    /// The notice after any password change: the business and the time, no link, no password.
    /// Best effort: the change is done whether or not the notice goes out.
    async fn send_password_notice(
        &self,
        account: &AccountName,
        tenant: &TenantRecord,
        email: Option<&Email>,
    ) {
        let Some(to) = email else {
            return;
        };
        let business = &tenant.business_name;
        let at = rfc3339(self.clock.now());
        let message = compose_email(
            to.as_str(),
            business,
            "Your password was changed",
            &[
                format!("The password of your {business} login was changed at {at} (UTC)."),
                format!(
                    "If you did not change it, contact {business} at once: someone else may \
                     have access to your account."
                ),
            ],
            None,
        );
        if let Err(e) = self.send_email(message).await {
            tracing::warn!(account = %account, error = %e, "password change notice not delivered");
        }
    }
}

/// Forgot-password answers no sooner than this after the request arrived, whether or not a link
/// was stored and mailed (tens of milliseconds against DynamoDB and SES), so its timing does
/// not tell whether an account exists (docs/performance.md measured 0.3 without it).
pub const FORGOT_MIN_DURATION: std::time::Duration = std::time::Duration::from_millis(250);

async fn answer_no_sooner_than(started: tokio::time::Instant) {
    tokio::time::sleep_until(started + FORGOT_MIN_DURATION).await;
}

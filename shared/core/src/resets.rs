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
use crate::limits::{Allowance, MessageKind};
use crate::messaging::{Sms, compose_email};
use crate::passwords::{Password, PasswordAttempt, Verified};
use crate::portal::Portal;
use crate::security::in_words;
use crate::sessions::{SubjectKind, credential_epoch, subject_key};
use crate::staff::{StaffActor, StaffRecord};
use crate::store::{Bound, Condition, Item, Key, StoreError, Write};
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
        channel: Channel,
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
                json!({"kind": recipient.kind.as_str(), "channel": channel.as_str()}),
            )?,
        ])
    }

    async fn store_link(&self, writes: Vec<Write>) -> DomainResult<Issued> {
        let keys = writes.iter().map(|w| w.key().clone()).collect();
        self.store.transact(writes).await?;
        Ok(Issued { keys })
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

    /// Takes one SMS credit, never going below zero.
    async fn take_credit(&self, account: &AccountName) -> DomainResult<()> {
        match self
            .store
            .transact(vec![Self::credit_change(account, -1)])
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::TransactionConflict(Some(0))) => {
                Err(DomainError::InsufficientSmsCredits)
            }
            Err(e) => Err(e.into()),
        }
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
        let tenant = self.tenant(account).await?;
        let normalized = username.trim().to_lowercase();
        let lookup = if normalized.is_empty() || normalized.len() > 256 {
            "-".to_owned()
        } else {
            normalized
        };
        // One read whether or not the user exists: the username guard is the login copy.
        let staff: Option<StaffRecord> =
            match self.store.get(&keys::username(account, &lookup)).await? {
                Some(item) => Some(item.record()?),
                None => None,
            };
        let recipient = staff
            .filter(|s| !s.is_owner && s.email.is_some())
            .map(|s| Recipient::staff(&s));
        self.send_forgot_link(account, &tenant, recipient).await
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
        let tenant = self.tenant(account).await?;
        let normalized = email.trim().to_lowercase();
        let lookup = if normalized.is_empty() || normalized.len() > 320 {
            "-".to_owned()
        } else {
            normalized
        };
        let guardian_id = self.guardian_id_by_email(account, &lookup).await?;
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
        self.send_forgot_link(account, &tenant, recipient).await
    }

    /// The common part of both forgot routes: the token and the message are made either way;
    /// only the writes and the send happen for a real recipient. Never fails for reasons the
    /// caller could learn anything from (only a store outage is an error).
    async fn send_forgot_link(
        &self,
        account: &AccountName,
        tenant: &TenantRecord,
        recipient: Option<Recipient>,
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
            // As many round trips as the sending-limit read of a real request.
            self.store.get(&keys::reset_token(account, &hash)).await?;
            return Ok(());
        };
        let address = limit_address(Channel::Email, recipient.email.as_ref(), None);
        let allowance = match self
            .take_allowance(account, MessageKind::ResetLink, &address)
            .await
        {
            Ok(a) => a,
            Err(DomainError::TooManyRequests { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let writes =
            match self.link_writes(account, &recipient, &hash, Actor::system(), Channel::Email) {
                Ok(w) => w,
                Err(e) => {
                    self.return_allowance(allowance).await;
                    return Err(e);
                }
            };
        let issued = match self.store_link(writes).await {
            Ok(i) => i,
            Err(e) => {
                self.return_allowance(allowance).await;
                return Err(e);
            }
        };
        if let Err(e) = self.mailer.send_email(email).await {
            tracing::warn!(account = %account, error = %e, "forgot-password link not delivered");
            self.return_allowance(allowance).await;
            self.withdraw_link(issued).await;
        }
        Ok(())
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
        let (target, _) = self.staff_record(account, staff_id).await?;
        if target.is_owner && !actor.record.is_owner {
            return Err(DomainError::OwnerOnly);
        }
        self.send_office_link(actor, Recipient::staff(&target), channel)
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
        let (guardian, _) = self.guardian_record(account, guardian_id).await?;
        if !guardian.can_log_in() {
            return Err(DomainError::NotFound);
        }
        self.send_office_link(actor, Recipient::guardian(&guardian), channel)
            .await
    }

    /// Sends an office reset link. Refusals (nothing on file, SMS disabled, no credits, the
    /// sending limit) cost nothing; a failed send gives back the credit and the allowance and
    /// withdraws the link (`503`).
    async fn send_office_link(
        &self,
        actor: &StaffActor,
        recipient: Recipient,
        channel: Channel,
    ) -> DomainResult<()> {
        let account = &actor.auth.account;
        let tenant = self.tenant(account).await?;
        match channel {
            Channel::Email if recipient.email.is_none() => {
                return Err(DomainError::NoEmailOnFile);
            }
            Channel::Sms if !tenant.sms_enabled => return Err(DomainError::SmsDisabled),
            Channel::Sms if recipient.phone.is_none() => return Err(DomainError::NoPhoneOnFile),
            Channel::Sms if self.sms_credits(account).await? <= 0 => {
                return Err(DomainError::InsufficientSmsCredits);
            }
            _ => {}
        }
        let address = limit_address(channel, recipient.email.as_ref(), recipient.phone.as_ref());
        let allowance = self
            .take_allowance(account, MessageKind::ResetLink, &address)
            .await?;
        let charged = channel == Channel::Sms;
        if charged && let Err(e) = self.take_credit(account).await {
            self.return_allowance(allowance).await;
            return Err(e);
        }
        let undo = |allowance: Allowance| async move {
            if charged {
                self.refund_credit(account).await;
            }
            self.return_allowance(allowance).await;
        };
        let (token, hash) = match new_token() {
            Ok(t) => t,
            Err(e) => {
                undo(allowance).await;
                return Err(e.into());
            }
        };
        let issued = match self.link_writes(account, &recipient, &hash, actor.actor(), channel) {
            Ok(writes) => self.store_link(writes).await,
            Err(e) => Err(e),
        };
        let issued = match issued {
            Ok(i) => i,
            Err(e) => {
                undo(allowance).await;
                return Err(e);
            }
        };
        let url = self.reset_url(account, &token);
        let sent = match channel {
            Channel::Email => {
                let to = recipient.email.as_ref().map(Email::as_str).unwrap_or("");
                self.mailer
                    .send_email(self.reset_email(to, &tenant.business_name, &url))
                    .await
            }
            Channel::Sms => {
                let to = recipient
                    .phone
                    .as_ref()
                    .map(PhoneNumber::as_str)
                    .unwrap_or("");
                self.sms
                    .send_sms(self.reset_sms(to, &tenant.business_name, &url))
                    .await
            }
        };
        if let Err(e) = sent {
            tracing::warn!(account = %account, channel = channel.as_str(), error = %e, "reset link not delivered");
            undo(allowance).await;
            self.withdraw_link(issued).await;
            return Err(DomainError::DeliveryFailed);
        }
        Ok(())
    }

    // ------------------------------------------------------------------ using a link

    /// Reads a link and its user's record: unknown, used or killed (its user's credential
    /// epoch has moved on) `invalid_token`; older than 30 minutes by the clock `token_expired`,
    /// whether or not the store has forgotten it yet.
    async fn reset_link(&self, account: &AccountName, token: &str) -> DomainResult<LiveLink> {
        let token = token.trim();
        if token.is_empty() || token.len() > MAX_TOKEN_LENGTH {
            return Err(DomainError::InvalidToken);
        }
        let link = self
            .store
            .get(&keys::reset_token(account, &token_hash(token)))
            .await?
            .ok_or(DomainError::InvalidToken)?;
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
        Ok(LiveLink {
            record,
            link,
            subject,
        })
    }

    /// `GET password/reset/{token}`: checks a link without using it up.
    pub async fn check_reset_link(
        &self,
        account: &AccountName,
        token: &str,
    ) -> DomainResult<ResetLinkInfo> {
        self.tenant(account).await?;
        let live = self.reset_link(account, token).await?;
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
        let tenant = self.tenant(account).await?;
        let mut first_read = Some(self.reset_link(account, token).await?);
        let password = Password::parse(new_password, "new_password")
            .map_err(|e| DomainError::Validation(vec![e]))?;
        let hash = self.hasher.hash(&password).await?;
        for _ in 0..COMPLETE_ATTEMPTS {
            let live = match first_read.take() {
                Some(live) => live,
                None => self.reset_link(account, token).await?,
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
        let (target, _) = self.staff_record(account, staff_id).await?;
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
        self.replace_staff_password(account, staff_id, &password, actor.actor(), "staff")
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
        // The login's own lockout counter: guesses here count like failed logins.
        let lock = self
            .lock_read(
                &actor.auth.account,
                crate::lockout::LoginKind::Staff,
                &actor.record.username.normalized(),
            )
            .await?;
        let verified = self
            .check_credentials(
                lock,
                &PasswordAttempt(current_password),
                Some(&actor.record.password_hash),
            )
            .await?;
        if verified == Verified::No {
            return Err(DomainError::WrongCurrentPassword);
        }
        let password = Password::parse(new_password, "new_password")
            .map_err(|e| DomainError::Validation(vec![e]))?;
        self.replace_staff_password(
            &actor.auth.account,
            &actor.record.id,
            &password,
            actor.actor(),
            "self",
        )
        .await
    }

    async fn replace_staff_password(
        &self,
        account: &AccountName,
        staff_id: &str,
        password: &Password,
        actor: Actor,
        by: &str,
    ) -> DomainResult<()> {
        let tenant = self.tenant(account).await?;
        let hash = self.hasher.hash(password).await?;
        let email = crate::retry::optimistic(|| async {
            let (mut staff, version) = self.staff_record(account, staff_id).await?;
            staff.replace_password(hash.clone());
            let mut writes = self.staff_update(account, &staff, version)?;
            writes.push(self.audit_write(
                account,
                actor.clone(),
                "password.changed",
                Some(staff_id),
                json!({"by": by}),
            )?);
            let written = self.store.transact(writes).await;
            Ok(crate::retry::won(written)?.then_some(staff.email))
        })
        .await?;
        self.send_password_notice(account, &tenant, email.as_ref())
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
        if let Err(e) = self.mailer.send_email(message).await {
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

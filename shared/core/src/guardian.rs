//! A guardian as stored: contact details, the login (password hash and credential epoch) and
//! the 18+ acknowledgement. The flows are in `guardians`.

use serde::{Deserialize, Serialize};

use crate::account::AccountName;
use crate::contact::{Email, PhoneNumber};
use crate::error::DomainResult;
use crate::keys;
use crate::passwords::PasswordHashString;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailType {
    Home,
    Work,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneType {
    Mobile,
    Home,
    Work,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phone {
    pub number: PhoneNumber,
    #[serde(rename = "type")]
    pub kind: PhoneType,
    pub sms_opt_in: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country: String,
}

/// A guardian as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuardianRecord {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub relationship: Option<String>,
    pub email: Email,
    pub email_type: Option<EmailType>,
    pub email_opt_in: bool,
    #[serde(default)]
    pub phones: Vec<Phone>,
    pub address: Option<Address>,
    /// `None`: the guardian has no portal login (e.g. added by staff).
    pub password_hash: Option<PasswordHashString>,
    /// The 18+ acknowledgement.
    pub age_confirmed: bool,
    pub created_at: i64,
    /// Password changes so far; see [`crate::sessions`] (named by `CREDENTIAL_EPOCH_FIELD`).
    #[serde(default)]
    pub credential_epoch: u64,
}

impl GuardianRecord {
    /// A new password: every session and reset link issued before it stops working.
    pub fn replace_password(&mut self, hash: PasswordHashString) {
        self.password_hash = Some(hash);
        self.credential_epoch += 1;
    }

    pub fn session_subject(&self) -> crate::signer::SessionSubject<'_> {
        crate::signer::SessionSubject {
            kind: crate::signer::SubjectKind::Guardian,
            id: &self.id,
            epoch: self.credential_epoch,
        }
    }

    /// The first phone that may receive text messages (for SMS reset links).
    pub fn sms_phone(&self) -> Option<&PhoneNumber> {
        self.phones
            .iter()
            .find(|p| p.kind == PhoneType::Mobile)
            .or_else(|| self.phones.first())
            .map(|p| &p.number)
    }

    pub fn can_log_in(&self) -> bool {
        self.password_hash.is_some()
    }

    /// The writes creating a new login: the guardian and the guard that keeps its email unique
    /// in the account (one transaction with the rest of the flow).
    pub fn new_login_writes(
        &self,
        account: &AccountName,
    ) -> DomainResult<Vec<crate::store::Write>> {
        use crate::store::{Condition, Item, Write};
        Ok(vec![
            Write::Put(
                Item::from_record(
                    keys::login_email(account, &self.email.normalized()),
                    &serde_json::json!({"guardian_id": self.id}),
                )?,
                Condition::Absent,
            ),
            Write::Put(
                Item::from_record(keys::guardian(account, &self.id), self)?,
                Condition::Absent,
            ),
        ])
    }
}

/// The `guardian` object of login responses.
/// The guardian a login-email guard names (see [`GuardianRecord::new_login_writes`]).
pub fn guardian_of_login(guard: &crate::store::Item) -> Option<String> {
    guard
        .data
        .get("guardian_id")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

#[derive(Debug, Clone, Serialize)]
pub struct GuardianView {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Email,
}

impl From<&GuardianRecord> for GuardianView {
    fn from(g: &GuardianRecord) -> Self {
        Self {
            id: g.id.clone(),
            first_name: g.first_name.clone(),
            last_name: g.last_name.clone(),
            email: g.email.clone(),
        }
    }
}

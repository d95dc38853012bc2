//! Sending limits: at most 5 messages of one kind to one address or phone number per hour (a
//! sliding window). Kept per address, so a failed attempt never uses up anyone else's allowance.
//! A message that could not be delivered gives its allowance back.
//!
//! Beyond that, each tenant has a ceiling on its validation-code and invitation mails per UTC
//! day (its `daily_mail_limit`, by default `SecurityPolicy::daily_mails_default`), counted in
//! the transaction that commits each send (see [`Portal::daily_mail`]).

use serde::{Deserialize, Serialize};

use crate::account::AccountName;
use crate::error::{DomainError, DomainResult};
use crate::keys;
use crate::portal::Portal;
use crate::store::{Bound, Condition, Item, Key, StoreError, Write};

/// The kinds of message that are limited separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    ValidationCode,
    ResetLink,
    Invitation,
}

impl MessageKind {
    fn as_str(self) -> &'static str {
        match self {
            MessageKind::ValidationCode => "validation_code",
            MessageKind::ResetLink => "reset_link",
            MessageKind::Invitation => "invitation",
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct SendLog {
    sent: Vec<i64>,
}

/// A granted allowance, to give back if the message is not delivered.
#[derive(Debug, Clone)]
pub struct Allowance {
    key: Key,
    at: i64,
}

/// One mail counted against its tenant's daily ceiling, to give back if it is not delivered.
#[derive(Debug, Clone)]
pub struct DailyMail {
    key: Key,
}

/// The counter field of a tenant's day.
const DAILY_FIELD: &str = "sent";
const DAY: i64 = 24 * 60 * 60;

/// The UTC day of an epoch second, as its key spells it (`2026-11-30`).
fn utc_day(epoch: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch)
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| epoch.div_euclid(DAY).to_string())
}

/// The send log of one kind of message to one address (lower-cased email or E.164 number).
pub fn send_log_key(account: &AccountName, kind: MessageKind, address: &str) -> Key {
    keys::send_log(account, kind.as_str(), address)
}

impl Portal {
    /// Counts one mail against the tenant's ceiling of `limit` a UTC day: the write to put in
    /// the transaction that commits the send (a bounded atomic add, so that of any number of
    /// parallel sends exactly `limit` a day commit, with no read before) and the count to give
    /// back should the mail not go out. When the write fails its bound, answer
    /// [`Portal::daily_ceiling_reached`].
    pub fn daily_mail(&self, account: &AccountName, limit: u32) -> (Write, DailyMail) {
        let key = keys::daily_mails(account, &utc_day(self.clock.epoch()));
        let write = Write::Add {
            key: key.clone(),
            field: DAILY_FIELD.to_owned(),
            delta: 1,
            bound: Bound::AtMost(i64::from(limit)),
        };
        (write, DailyMail { key })
    }

    /// `429 too_many_requests` until the next UTC midnight, when the day's count starts again.
    pub fn daily_ceiling_reached(&self) -> DomainError {
        DomainError::TooManyRequests {
            retry_after: DAY - self.clock.epoch().rem_euclid(DAY),
        }
    }

    /// Gives a counted mail back (it was not delivered), on the day it was counted. Best
    /// effort: a failure here only makes the ceiling stricter.
    pub async fn return_daily_mail(&self, counted: DailyMail) {
        if let Err(e) = self
            .store
            .add(&counted.key, DAILY_FIELD, -1, Bound::AtLeast(0))
            .await
        {
            tracing::warn!(error = %e, "daily mail count not given back");
        }
    }

    /// Commits the caller's writes together with one sending allowance: `commit` gets the
    /// allowance's write (to put where its conflict indexes expect it) and answers `Some` once
    /// committed, `None` when that write lost to a concurrent send to the same address; the
    /// log is then read again. `read`: the log as the caller's batch read it (`None`: read now).
    pub async fn with_allowance<T, F, Fut>(
        &self,
        key: &Key,
        read: Option<Option<Item>>,
        commit: F,
    ) -> DomainResult<(T, Allowance)>
    where
        F: Fn(crate::store::Write) -> Fut,
        Fut: std::future::Future<Output = DomainResult<Option<T>>>,
    {
        let first = std::sync::Mutex::new(read);
        let commit = &commit;
        crate::retry::optimistic(|| async {
            let read = first.lock().ok().and_then(|mut f| f.take());
            let log = match read {
                Some(log) => log,
                None => self.store.get(key).await?,
            };
            let (item, condition, allowance) = self.allowance_item(key, log.as_ref())?;
            let done = commit(crate::store::Write::Put(item, condition)).await?;
            Ok(done.map(|done| (done, allowance)))
        })
        .await
    }

    /// One allowance as the send log's next state, to be put under the returned condition,
    /// possibly inside the caller's own transaction: from the log `current` as read, so a
    /// concurrent send fails the write and the caller reads again. `Err(TooManyRequests)` when
    /// the window is full.
    pub fn allowance_item(
        &self,
        key: &Key,
        current: Option<&Item>,
    ) -> DomainResult<(Item, Condition, Allowance)> {
        let now = self.clock.epoch();
        let mut log: SendLog = match current {
            Some(item) => item.record()?,
            None => SendLog::default(),
        };
        log.sent
            .retain(|&t| t > now - self.security.send_window_seconds);
        if log.sent.len() >= self.security.sends_per_window {
            let oldest = log.sent.iter().copied().min().unwrap_or(now);
            return Err(DomainError::TooManyRequests {
                retry_after: (oldest + self.security.send_window_seconds - now).max(1),
            });
        }
        log.sent.push(now);
        let (version, condition) = match current {
            Some(i) => (i.version + 1, Condition::VersionIs(i.version)),
            None => (1, Condition::Absent),
        };
        let item = Item::from_record(key.clone(), &log)?
            .with_version(version)
            .expiring_at(now + self.security.send_window_seconds);
        Ok((
            item,
            condition,
            Allowance {
                key: key.clone(),
                at: now,
            },
        ))
    }

    /// Gives an allowance back (the message was not delivered). Best effort: a failure here
    /// only makes the limit stricter.
    pub async fn return_allowance(&self, allowance: Allowance) {
        for _ in 0..10 {
            let Ok(Some(item)) = self.store.get(&allowance.key).await else {
                return;
            };
            let Ok(mut log) = item.record::<SendLog>() else {
                return;
            };
            let Some(pos) = log.sent.iter().position(|&t| t == allowance.at) else {
                return;
            };
            log.sent.remove(pos);
            let Ok(updated) = Item::from_record(allowance.key.clone(), &log) else {
                return;
            };
            let updated = updated.with_version(item.version + 1).expiring_at(
                item.expires_at
                    .unwrap_or(allowance.at + self.security.send_window_seconds),
            );
            match self
                .store
                .put(updated, Condition::VersionIs(item.version))
                .await
            {
                Err(StoreError::ConditionFailed) => continue,
                _ => return,
            }
        }
    }
}

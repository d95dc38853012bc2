//! Sending limits: at most 5 messages of one kind to one address or phone number per hour (a
//! sliding window). Kept per address, so a failed attempt never uses up anyone else's allowance.
//! A message that could not be delivered gives its allowance back.

use serde::{Deserialize, Serialize};

use crate::account::AccountName;
use crate::error::{DomainError, DomainResult};
use crate::keys;
use crate::portal::Portal;
use crate::store::{Condition, Item, Key, StoreError};

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

/// The send log of one kind of message to one address (lower-cased email or E.164 number).
pub fn send_log_key(account: &AccountName, kind: MessageKind, address: &str) -> Key {
    keys::send_log(account, kind.as_str(), address)
}

impl Portal {
    /// Takes one allowance for a message to `address` (lower-cased email or E.164 number).
    /// `Err(TooManyRequests)` when the window is full; nothing is recorded then.
    pub async fn take_allowance(
        &self,
        account: &AccountName,
        kind: MessageKind,
        address: &str,
    ) -> DomainResult<Allowance> {
        let key = send_log_key(account, kind, address);
        crate::retry::optimistic(|| async {
            let current = self.store.get(&key).await?;
            let (item, condition, allowance) = self.allowance_item(&key, current.as_ref())?;
            let written = self.store.put(item, condition).await;
            Ok(crate::retry::won(written)?.then_some(allowance))
        })
        .await
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

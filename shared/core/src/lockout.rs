//! Failed-login lockout: 5 consecutive failures for one login name within 15 minutes lock it
//! for 15 minutes. The five failures answer `invalid_credentials`; the lock applies from the next
//! attempt on, even with the right password. A success clears the count. Unknown names lock
//! exactly like known ones, so the lock reveals nothing about which accounts exist.

use serde::{Deserialize, Serialize};

use crate::account::AccountName;
use crate::error::{DomainError, DomainResult};
use crate::keys;
use crate::portal::Portal;
use crate::store::{Condition, Item, Key, StoreError};

pub const MAX_FAILURES: usize = 5;
pub const WINDOW_SECONDS: i64 = 15 * 60;
pub const LOCK_SECONDS: i64 = 15 * 60;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LockState {
    /// Times of the consecutive failures still inside the window.
    pub failures: Vec<i64>,
    pub locked_until: Option<i64>,
}

impl LockState {
    /// Seconds until the lock ends, if locked at `now`.
    pub fn retry_after(&self, now: i64) -> Option<i64> {
        self.locked_until.filter(|&t| t > now).map(|t| t - now)
    }

    fn with_failure(&self, now: i64) -> LockState {
        let mut failures: Vec<i64> = self
            .failures
            .iter()
            .copied()
            .filter(|&t| t > now - WINDOW_SECONDS)
            .collect();
        failures.push(now);
        if failures.len() >= MAX_FAILURES {
            LockState {
                failures: Vec::new(),
                locked_until: Some(now + LOCK_SECONDS),
            }
        } else {
            LockState {
                failures,
                locked_until: None,
            }
        }
    }

    fn expires_at(&self) -> i64 {
        let last = self.failures.iter().copied().max().unwrap_or(0) + WINDOW_SECONDS;
        last.max(self.locked_until.unwrap_or(0))
    }
}

/// The lock item of a login name as read before verifying the password.
pub struct LockRead {
    pub key: Key,
    pub item: Option<Item>,
}

impl LockRead {
    pub fn state(&self) -> DomainResult<LockState> {
        Ok(match &self.item {
            Some(i) => i.record()?,
            None => LockState::default(),
        })
    }

    /// Refuses the attempt while locked.
    pub fn refuse_if_locked(&self, now: i64) -> DomainResult<()> {
        match self.state()?.retry_after(now) {
            Some(retry_after) => Err(DomainError::TooManyAttempts { retry_after }),
            None => Ok(()),
        }
    }
}

impl Portal {
    pub fn lock_key(&self, account: &AccountName, kind: &str, login_normalized: &str) -> Key {
        keys::login_lock(account, kind, login_normalized)
    }

    /// Counts a failure (optimistic concurrency: parallel failures are all counted).
    pub async fn record_login_failure(&self, read: LockRead) -> DomainResult<()> {
        let mut current = read.item;
        for _ in 0..10 {
            let now = self.clock.epoch();
            let state: LockState = match &current {
                Some(i) => i.record()?,
                None => LockState::default(),
            };
            let next = state.with_failure(now);
            let (version, condition) = match &current {
                Some(i) => (i.version + 1, Condition::VersionIs(i.version)),
                None => (1, Condition::Absent),
            };
            let item = Item::from_record(read.key.clone(), &next)?
                .with_version(version)
                .expiring_at(next.expires_at());
            match self.store.put(item, condition).await {
                Ok(()) => return Ok(()),
                Err(StoreError::ConditionFailed) => {
                    current = self.store.get(&read.key).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(DomainError::Store(StoreError::Unavailable(
            "failed-login counter under contention".into(),
        )))
    }

    /// Clears the failures after a successful login.
    pub async fn clear_login_failures(&self, read: &LockRead) -> DomainResult<()> {
        if read.item.is_some() {
            self.store.delete(&read.key, Condition::Always).await?;
        }
        Ok(())
    }
}

impl Portal {
    /// Checks a password for a login name under the lockout rules: refuses while locked, verifies
    /// (against a dummy hash when `stored` is `None`, so unknown names take as long), counts a
    /// failure or clears the count on success.
    pub async fn check_credentials(
        &self,
        lock: LockRead,
        attempt: &crate::passwords::PasswordAttempt,
        stored: Option<&crate::passwords::PasswordHashString>,
    ) -> DomainResult<crate::passwords::Verified> {
        lock.refuse_if_locked(self.clock.epoch())?;
        let verified = self.hasher.verify(attempt, stored).await?;
        if verified == crate::passwords::Verified::No {
            self.record_login_failure(lock).await?;
        } else {
            self.clear_login_failures(&lock).await?;
        }
        Ok(verified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_in_the_window_lock_for_fifteen_minutes() {
        let mut s = LockState::default();
        for i in 0..4 {
            s = s.with_failure(1000 + i);
            assert_eq!(s.retry_after(1000 + i), None);
        }
        s = s.with_failure(1010);
        assert_eq!(s.retry_after(1011), Some(LOCK_SECONDS - 1));
        assert_eq!(s.retry_after(1010 + LOCK_SECONDS), None);
    }

    #[test]
    fn old_failures_fall_out_of_the_window() {
        let mut s = LockState::default();
        for i in 0..4 {
            s = s.with_failure(i);
        }
        s = s.with_failure(WINDOW_SECONDS + 10);
        assert_eq!(s.failures.len(), 1);
        assert_eq!(s.retry_after(WINDOW_SECONDS + 11), None);
    }
}

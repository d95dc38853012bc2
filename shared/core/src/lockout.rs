//! Failed-login lockout: 5 consecutive failures for one login name within 15 minutes lock it
//! for 15 minutes. The five failures answer `invalid_credentials`; the lock applies from the next
//! attempt on, even with the right password. A success clears the count. Unknown names lock
//! exactly like known ones, so the lock reveals nothing about which accounts exist.
//!
//! The limit holds under parallel requests and across routes: every password check (staff and
//! guardian login, sign-up or invitation acceptance with an existing login, a `current_password`)
//! first *reserves* a slot on the login's one lock item with a conditional write, and only then
//! computes the hash. Failures plus checks in flight never exceed five, so of any number of
//! simultaneous attempts at most five are checked before the lock; the rest wait for a slot
//! while checks are in flight (a right password frees its slot) and answer `429` once the
//! login is locked. A reservation whose request died counts as a failure after the security
//! policy's `stale_check_seconds`. The numbers are the security policy's (`crate::security`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::account::AccountName;
use crate::error::{DomainError, DomainResult};
use crate::keys;
use crate::passwords::{PasswordAttempt, PasswordHashString, Verified};
use crate::portal::Portal;
use crate::security::SecurityPolicy;
use crate::store::{Condition, Item, Key, StoreError};
use crate::tokens::new_id;

/// How long an attempt waits for a slot while the other checks in flight finish (within API
/// Gateway's 30-second limit and the password-checking functions' 25-second timeout).
const SLOT_WAIT: Duration = Duration::from_secs(15);
/// The longest pause between two looks at a busy lock. Within one process a settled check
/// wakes one waiter at once ([`SETTLED`]); the pause is for checks settled elsewhere.
const MAX_SLOT_PAUSE: Duration = Duration::from_secs(2);

/// Wakes one waiting attempt of this process whenever a check settles, so parallel attempts
/// of one login take freed slots at once instead of at their next look.
static SETTLED: std::sync::LazyLock<tokio::sync::Notify> =
    std::sync::LazyLock::new(tokio::sync::Notify::new);

/// Which kind of login a lock belongs to (staff usernames and guardian emails are separate
/// name spaces).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginKind {
    Staff,
    Guardian,
}

impl LoginKind {
    fn as_str(self) -> &'static str {
        match self {
            LoginKind::Staff => "staff",
            LoginKind::Guardian => "guardian",
        }
    }
}

/// A password check in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub id: String,
    pub at: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LockState {
    /// Times of the consecutive failures still inside the window.
    pub failures: Vec<i64>,
    pub locked_until: Option<i64>,
    /// Checks reserved and not yet settled.
    #[serde(default)]
    pub pending: Vec<Reservation>,
}

/// What a reservation attempt found.
#[derive(Debug, Clone, PartialEq)]
pub enum Reserve {
    /// A slot is taken: write this state.
    Granted(LockState),
    /// Locked: answer `429` with this `Retry-After`.
    Locked { retry_after: i64 },
    /// Every slot is held by a check in flight: wait for one to settle.
    Busy,
}

impl LockState {
    /// Seconds until the lock ends, if locked at `now`.
    pub fn retry_after(&self, now: i64) -> Option<i64> {
        self.locked_until.filter(|&t| t > now).map(|t| t - now)
    }

    /// Forgets what no longer counts at `now`: failures out of the window, an ended lock; a
    /// stale reservation becomes a failure.
    fn at(&self, policy: &SecurityPolicy, now: i64) -> LockState {
        let mut next = LockState {
            failures: self.failures.clone(),
            locked_until: self.locked_until.filter(|&t| t > now),
            pending: Vec::new(),
        };
        for r in &self.pending {
            if r.at <= now - policy.stale_check_seconds {
                next.failures.push(r.at);
            } else {
                next.pending.push(r.clone());
            }
        }
        next.failures
            .retain(|&t| t > now - policy.lockout_window_seconds);
        next.lock_if_full(policy, now);
        next
    }

    fn lock_if_full(&mut self, policy: &SecurityPolicy, now: i64) {
        if self.failures.len() >= policy.lockout_failures {
            self.failures.clear();
            self.locked_until = Some(now + policy.lockout_seconds);
        }
    }

    /// Tries to reserve a check for `id` at `now`.
    pub fn reserve(&self, policy: &SecurityPolicy, now: i64, id: &str) -> Reserve {
        let mut next = self.at(policy, now);
        if let Some(retry_after) = next.retry_after(now) {
            return Reserve::Locked { retry_after };
        }
        if next.failures.len() + next.pending.len() >= policy.lockout_failures {
            return Reserve::Busy;
        }
        next.pending.push(Reservation {
            id: id.to_owned(),
            at: now,
        });
        Reserve::Granted(next)
    }

    /// Settles the check `id`: a right password clears the failures and any lock; a wrong one
    /// is a failure (the fifth locks); `None` (the check itself broke) just frees the slot.
    pub fn settle(
        &self,
        policy: &SecurityPolicy,
        now: i64,
        id: &str,
        right: Option<bool>,
    ) -> LockState {
        let mut next = self.at(policy, now);
        next.pending.retain(|r| r.id != id);
        match right {
            Some(true) => {
                next.failures.clear();
                next.locked_until = None;
            }
            Some(false) => {
                next.failures.push(now);
                next.lock_if_full(policy, now);
            }
            None => {}
        }
        next
    }

    pub fn is_empty(&self) -> bool {
        self.failures.is_empty() && self.locked_until.is_none() && self.pending.is_empty()
    }

    /// When the item may be forgotten (its TTL).
    fn expires_at(&self, policy: &SecurityPolicy) -> i64 {
        let window = policy.lockout_window_seconds;
        let failures = self.failures.iter().map(|t| t + window);
        let pending = self
            .pending
            .iter()
            .map(|r| r.at + policy.stale_check_seconds + window);
        failures
            .chain(pending)
            .chain(self.locked_until)
            .max()
            .unwrap_or(0)
    }
}

/// The lock item of a login name as read before the check (often in a batch with other reads).
pub struct LockRead {
    pub key: Key,
    pub item: Option<Item>,
}

/// A reserved check: settle it with [`Portal::settle_check`].
struct Held {
    key: Key,
    id: String,
    /// The state and version this request wrote.
    state: LockState,
    version: u64,
}

impl Portal {
    pub fn lock_key(&self, account: &AccountName, kind: LoginKind, login_normalized: &str) -> Key {
        keys::login_lock(account, kind.as_str(), login_normalized)
    }

    /// Reads a login's lock item on its own (when no batch read carries it).
    pub async fn lock_read(
        &self,
        account: &AccountName,
        kind: LoginKind,
        login_normalized: &str,
    ) -> DomainResult<LockRead> {
        let key = self.lock_key(account, kind, login_normalized);
        Ok(LockRead {
            item: self.store.get(&key).await?,
            key,
        })
    }

    /// Reserves a slot before a password is checked (see the module documentation).
    async fn reserve_check(&self, lock: LockRead) -> DomainResult<Held> {
        let id = new_id()?;
        let deadline = tokio::time::Instant::now() + SLOT_WAIT;
        let mut current = lock.item;
        let mut pause = Duration::from_millis(10);
        loop {
            let now = self.clock.epoch();
            let state: LockState = match &current {
                Some(i) => i.record()?,
                None => LockState::default(),
            };
            match state.reserve(&self.security, now, &id) {
                Reserve::Locked { retry_after } => {
                    return Err(DomainError::TooManyAttempts { retry_after });
                }
                Reserve::Busy => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(DomainError::TooManyAttempts { retry_after: 1 });
                    }
                    // Jittered, so that waiters of other processes do not look all at once.
                    let jitter =
                        Duration::from_millis(crate::tokens::random_below(50).map_or(0, u64::from));
                    tokio::select! {
                        () = SETTLED.notified() => {}
                        () = tokio::time::sleep(pause + jitter) => {}
                    }
                    pause = (pause * 2).min(MAX_SLOT_PAUSE);
                }
                Reserve::Granted(next) => {
                    let (version, condition) = match &current {
                        Some(i) => (i.version + 1, Condition::VersionIs(i.version)),
                        None => (1, Condition::Absent),
                    };
                    let item = Item::from_record(lock.key.clone(), &next)?
                        .with_version(version)
                        .expiring_at(next.expires_at(&self.security));
                    match self.store.put(item, condition).await {
                        Ok(()) => {
                            return Ok(Held {
                                key: lock.key,
                                id,
                                state: next,
                                version,
                            });
                        }
                        // Another attempt got in first: read again (no pause: it progressed).
                        Err(StoreError::ConditionFailed) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            current = self.store.get(&lock.key).await?;
        }
    }

    /// Settles a reserved check. Starts from the state this request wrote (no read when nobody
    /// wrote since); on a conflict reads again.
    async fn settle_check(&self, held: Held, right: Option<bool>) -> DomainResult<()> {
        let mut current = Some((held.state, held.version));
        loop {
            let (state, version) = match current.take() {
                Some(known) => known,
                None => match self.store.get(&held.key).await? {
                    Some(item) => (item.record()?, item.version),
                    // Gone (the store forgot it): nothing of ours is left to settle.
                    None => return Ok(()),
                },
            };
            let next = state.settle(&self.security, self.clock.epoch(), &held.id, right);
            let written = if next.is_empty() {
                self.store
                    .delete(&held.key, Condition::VersionIs(version))
                    .await
            } else {
                let item = Item::from_record(held.key.clone(), &next)?
                    .with_version(version + 1)
                    .expiring_at(next.expires_at(&self.security));
                self.store.put(item, Condition::VersionIs(version)).await
            };
            match written {
                Ok(()) => {
                    SETTLED.notify_one();
                    return Ok(());
                }
                Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Checks a password for a login name under the lockout rules: reserves a slot (refused
    /// while locked), verifies (against a dummy hash when `stored` is `None`, so unknown names
    /// take as long), then counts a failure or clears the count.
    pub async fn check_credentials(
        &self,
        lock: LockRead,
        attempt: &PasswordAttempt,
        stored: Option<&PasswordHashString>,
    ) -> DomainResult<Verified> {
        let held = self.reserve_check(lock).await?;
        match self.hasher.verify(attempt, stored).await {
            Ok(verified) => {
                self.settle_check(held, Some(verified != Verified::No))
                    .await?;
                Ok(verified)
            }
            Err(e) => {
                self.settle_check(held, None).await?;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(state: &LockState, now: i64, id: &str) -> LockState {
        match state.reserve(&policy(), now, id) {
            Reserve::Granted(next) => next,
            other => panic!("expected a slot, got {other:?}"),
        }
    }

    fn fail(state: &LockState, now: i64, id: &str) -> LockState {
        granted(state, now, id).settle(&policy(), now, id, Some(false))
    }

    fn policy() -> SecurityPolicy {
        SecurityPolicy::default()
    }

    #[test]
    fn five_failures_in_the_window_lock_for_fifteen_minutes() {
        let mut s = LockState::default();
        for i in 0..4 {
            s = fail(&s, 1000 + i, "a");
            assert_eq!(s.retry_after(1000 + i), None);
        }
        s = fail(&s, 1010, "a");
        assert_eq!(s.retry_after(1011), Some(policy().lockout_seconds - 1));
        assert_eq!(
            s.reserve(&policy(), 1011, "b"),
            Reserve::Locked {
                retry_after: policy().lockout_seconds - 1
            }
        );
        assert_eq!(s.retry_after(1010 + policy().lockout_seconds), None);
        granted(&s, 1010 + policy().lockout_seconds, "c");
    }

    #[test]
    fn old_failures_fall_out_of_the_window() {
        let mut s = LockState::default();
        for i in 0..4 {
            s = fail(&s, i, "a");
        }
        s = fail(&s, policy().lockout_window_seconds + 10, "a");
        assert_eq!(s.failures.len(), 1);
        assert_eq!(s.retry_after(policy().lockout_window_seconds + 11), None);
    }

    #[test]
    fn at_most_five_checks_are_in_flight_and_a_success_frees_its_slot() {
        let mut s = LockState::default();
        for id in ["1", "2", "3", "4", "5"] {
            s = granted(&s, 100, id);
        }
        assert_eq!(s.reserve(&policy(), 100, "6"), Reserve::Busy);
        s = s.settle(&policy(), 101, "3", Some(true));
        assert_eq!(s.pending.len(), 4);
        s = granted(&s, 101, "6");
        assert_eq!(s.reserve(&policy(), 101, "7"), Reserve::Busy);
    }

    #[test]
    fn in_flight_failures_lock_once_five_have_failed() {
        let mut s = LockState::default();
        for id in ["1", "2", "3", "4", "5"] {
            s = granted(&s, 100, id);
        }
        for id in ["1", "2", "3", "4", "5"] {
            s = s.settle(&policy(), 100, id, Some(false));
        }
        assert_eq!(s.retry_after(100), Some(policy().lockout_seconds));
        assert!(s.pending.is_empty());
    }

    #[test]
    fn a_reservation_whose_request_died_counts_as_a_failure() {
        let mut s = LockState::default();
        for id in ["1", "2", "3", "4", "5"] {
            s = granted(&s, 100, id);
        }
        assert_eq!(
            s.reserve(&policy(), 100 + policy().stale_check_seconds - 1, "6"),
            Reserve::Busy
        );
        assert!(matches!(
            s.reserve(&policy(), 100 + policy().stale_check_seconds, "6"),
            Reserve::Locked { .. }
        ));
    }

    #[test]
    fn a_right_password_clears_failures_and_settled_state_is_empty() {
        let mut s = LockState::default();
        for i in 0..3 {
            s = fail(&s, 10 + i, "a");
        }
        s = granted(&s, 20, "ok").settle(&policy(), 20, "ok", Some(true));
        assert!(s.is_empty());
    }
}

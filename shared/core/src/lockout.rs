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
use crate::metrics::Metric;
use crate::passwords::{PasswordAttempt, PasswordHashString, Verified};
use crate::portal::Portal;
use crate::security::SecurityPolicy;
use crate::sessions::Authenticated;
use crate::store::{Condition, Item, Key, StoreError, Write};
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

/// Password checks of this process between asking for a slot and settling it. A successful
/// check settles inside its login's transaction only when it is the one check in flight: with
/// others waiting or holding slots the lock item moves under it, the folded write would fail
/// and cost a round trip, and waiting attempts would get the slot later.
static IN_FLIGHT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Counts one check in [`IN_FLIGHT`] for as long as it lives.
#[derive(Debug)]
struct InFlight;

impl InFlight {
    fn enter() -> Self {
        IN_FLIGHT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        InFlight
    }

    fn alone() -> bool {
        IN_FLIGHT.load(std::sync::atomic::Ordering::SeqCst) <= 1
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Which kind of login a lock belongs to (staff usernames and guardian emails are separate
/// name spaces).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginKind {
    Staff,
    Guardian,
}

impl LoginKind {
    pub fn as_str(self) -> &'static str {
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

/// The key of a login name's lock item.
pub fn lock_key(account: &AccountName, kind: LoginKind, login_normalized: &str) -> Key {
    keys::login_lock(account, kind.as_str(), login_normalized)
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
    _in_flight: InFlight,
}

impl Portal {
    pub fn lock_key(&self, account: &AccountName, kind: LoginKind, login_normalized: &str) -> Key {
        lock_key(account, kind, login_normalized)
    }

    /// Counts a sign-in's outcome (`LoginSucceeded`, `LoginFailed`, `LoginLocked`); other
    /// refusals (no such account, a dependency down) are not sign-in outcomes.
    pub(crate) fn count_login<T>(&self, outcome: DomainResult<T>) -> DomainResult<T> {
        let metric = match &outcome {
            Ok(_) => Some(Metric::LoginSucceeded),
            Err(DomainError::InvalidCredentials) => Some(Metric::LoginFailed),
            Err(DomainError::TooManyAttempts { .. }) => Some(Metric::LoginLocked),
            Err(_) => None,
        };
        if let Some(metric) = metric {
            self.metrics.record(metric);
        }
        outcome
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
        let in_flight = InFlight::enter();
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
                                _in_flight: in_flight,
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
        let (verified, success) = self
            .check_credentials_deferred(lock, attempt, stored)
            .await?;
        if let Some(held) = success {
            self.settle_check(held.0, Some(true)).await?;
        }
        Ok(verified)
    }

    /// As [`Portal::check_credentials`], but a successful check is settled by the caller's
    /// own transaction ([`Portal::transact_settling`]), which saves the login a round trip. A
    /// failure is counted at once, before this returns.
    pub async fn check_credentials_deferred(
        &self,
        lock: LockRead,
        attempt: &PasswordAttempt,
        stored: Option<&PasswordHashString>,
    ) -> DomainResult<(Verified, Option<SuccessToSettle>)> {
        let held = self.reserve_check(lock).await?;
        self.verify_reserved(Reserved(held), attempt, stored).await
    }

    /// Reserves a check's slot on its own, for a caller that reads the stored hash at the same
    /// time (see the guardian login); follow with [`Portal::verify_reserved`] or, when the
    /// hash could not be read, [`Portal::release_reserved`].
    pub async fn reserve_slot(&self, lock: LockRead) -> DomainResult<Reserved> {
        Ok(Reserved(self.reserve_check(lock).await?))
    }

    /// Gives a reserved slot back unused (nothing was checked).
    pub async fn release_reserved(&self, reserved: Reserved) -> DomainResult<()> {
        self.settle_check(reserved.0, None).await
    }

    /// The check of [`Portal::check_credentials_deferred`] on a slot already reserved.
    pub async fn verify_reserved(
        &self,
        reserved: Reserved,
        attempt: &PasswordAttempt,
        stored: Option<&PasswordHashString>,
    ) -> DomainResult<(Verified, Option<SuccessToSettle>)> {
        let held = reserved.0;
        match self.hasher.verify(attempt, stored).await {
            Ok(Verified::No) => {
                self.settle_check(held, Some(false)).await?;
                Ok((Verified::No, None))
            }
            Ok(verified) => Ok((verified, Some(SuccessToSettle(held)))),
            Err(e) => {
                self.settle_check(held, None).await?;
                Err(e)
            }
        }
    }

    /// Commits `writes` together with the settlement of a successful check: one transaction
    /// when nobody touched the lock item since this request reserved its slot; otherwise (or
    /// when the transaction fails) the slot is settled on its own, so it never lingers, and
    /// the writes are committed (or the failure returned) as usual.
    /// `auth`: the caller's session, whose pending idle-deadline move joins the transaction
    /// ([`Portal::transact_as`]). With no writes, only the check is settled.
    pub async fn transact_settling(
        &self,
        mut writes: Vec<Write>,
        success: Option<SuccessToSettle>,
        auth: Option<&Authenticated>,
    ) -> DomainResult<()> {
        let Some(SuccessToSettle(held)) = success else {
            if !writes.is_empty() {
                self.transact_maybe_as(auth, writes).await?;
            }
            return Ok(());
        };
        if writes.is_empty() || held.state.pending.len() > 1 || !InFlight::alone() {
            // Nothing to fold into, or other checks were in flight when this one reserved
            // (the lock item has most likely moved on, so the folded write would only fail):
            // settle first, so that waiting attempts get the slot at once.
            self.settle_check(held, Some(true)).await?;
            if !writes.is_empty() {
                self.transact_maybe_as(auth, writes).await?;
            }
            return Ok(());
        }
        let next = held
            .state
            .settle(&self.security, self.clock.epoch(), &held.id, Some(true));
        let settle = if next.is_empty() {
            Write::Delete(held.key.clone(), Condition::VersionIs(held.version))
        } else {
            Write::Put(
                Item::from_record(held.key.clone(), &next)?
                    .with_version(held.version + 1)
                    .expiring_at(next.expires_at(&self.security)),
                Condition::VersionIs(held.version),
            )
        };
        let at = writes.len();
        writes.push(settle);
        match self.transact_maybe_as(auth, writes.clone()).await {
            Ok(()) => {
                SETTLED.notify_one();
                Ok(())
            }
            Err(StoreError::TransactionConflict(Some(i))) if i == at => {
                // Another check moved the lock on: settle against what is stored now.
                writes.pop();
                self.settle_check(held, Some(true)).await?;
                self.transact_maybe_as(auth, writes).await?;
                Ok(())
            }
            Err(e) => {
                self.settle_check(held, Some(true)).await?;
                Err(e.into())
            }
        }
    }
}

/// A slot reserved for one password check.
pub struct Reserved(Held);

/// A successful password check whose slot is still held, to be settled by the caller's
/// transaction ([`Portal::transact_settling`]).
pub struct SuccessToSettle(Held);

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

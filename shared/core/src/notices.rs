//! Notices that must reach people even if the mail service fails at the moment of the change
//! (revocations): each is stored in the same transaction as the change, sent right after, and
//! deleted once delivered. Undelivered ones are retried by the scheduled job
//! ([`Portal::deliver_pending_notices`]) a bounded number of times with exponential backoff,
//! then given up with an audit entry (`notice.abandoned`, actor system) and a warning in the log,
//! so a failure is never silently lost and a dead address is not retried forever.
//!
//! Every send is claimed first: the notice's `attempts` and `next_attempt_at` are written before
//! the mail goes out (the first attempt in the transaction of the change itself), so the count
//! is bounded even if a run dies mid-send, and two overlapping runs never send one notice
//! twice (the second one's claim fails on the version).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::account::AccountName;
use crate::audit::Actor;
use crate::clock::rfc3339_epoch;
use crate::error::DomainResult;
use crate::keys;
use crate::messaging::Email;
use crate::portal::Portal;
use crate::store::{Condition, Item, Key, Query, StoreError, Write};
use crate::tokens::new_id;

/// Sends of one notice, the first (right after the change) included; a notice whose last one
/// fails is given up.
pub const MAX_ATTEMPTS: u32 = 8;
/// Wait after the first failed send; it doubles after each further one.
pub const FIRST_BACKOFF_SECONDS: i64 = 15 * 60;
/// The longest wait between two sends.
pub const MAX_BACKOFF_SECONDS: i64 = 24 * 3600;
/// Notices read per page by the scheduled job.
const PAGE: usize = 100;

/// How long to wait after the `attempt`-th send (1-based) before the next one: 15 minutes,
/// doubling, at most a day. With [`MAX_ATTEMPTS`] = 8 a notice is given up some 32 hours after
/// the change (later if the job runs less often than the waits).
pub fn backoff_seconds(attempt: u32) -> i64 {
    let doublings = attempt.saturating_sub(1).min(16);
    (FIRST_BACKOFF_SECONDS << doublings).min(MAX_BACKOFF_SECONDS)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct NoticeRecord {
    to: String,
    subject: String,
    text: String,
    html: String,
    /// Sends started so far (claimed before each one goes out).
    attempts: u32,
    created_at: i64,
    /// Epoch second from which the job may try again (records queued before backoff existed
    /// read as 0: due at once).
    #[serde(default)]
    next_attempt_at: i64,
}

impl NoticeRecord {
    fn email(&self) -> Email {
        Email {
            to: self.to.clone(),
            subject: self.subject.clone(),
            text: self.text.clone(),
            html: self.html.clone(),
        }
    }
}

/// A notice queued in a transaction, to send once the transaction has committed.
#[derive(Debug, Clone)]
pub struct QueuedNotice {
    key: Key,
    email: Email,
}

/// What a delivery round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NoticeReport {
    pub delivered: usize,
    /// Sends that failed (the notice stays queued, or is given up).
    pub failed: usize,
    /// Notices given up after their last attempt (each with an audit entry).
    pub abandoned: usize,
    /// Queued notices not yet due (backing off).
    pub waiting: usize,
}

impl Portal {
    /// The write that queues `email`; add it to the transaction of the change it announces. It
    /// records the first send (made by [`Portal::send_notices`] right after the commit) as
    /// started, so the job leaves the notice alone until that send could have failed.
    pub fn queue_notice(
        &self,
        account: &AccountName,
        email: Email,
    ) -> DomainResult<(QueuedNotice, Write)> {
        let key = keys::notice(account, &new_id()?);
        let now = self.clock.epoch();
        let record = NoticeRecord {
            to: email.to.clone(),
            subject: email.subject.clone(),
            text: email.text.clone(),
            html: email.html.clone(),
            attempts: 1,
            created_at: now,
            next_attempt_at: now + backoff_seconds(1),
        };
        let write = Write::Put(Item::from_record(key.clone(), &record)?, Condition::Absent);
        Ok((QueuedNotice { key, email }, write))
    }

    /// Sends notices queued by a committed change (their first attempt). Failures stay queued
    /// for the job, which tries again after the backoff.
    pub async fn send_notices(&self, queued: Vec<QueuedNotice>) -> NoticeReport {
        let mut report = NoticeReport::default();
        let mut delivered = Vec::new();
        for notice in queued {
            match self.send_email(notice.email).await {
                Ok(()) => {
                    report.delivered += 1;
                    delivered.push(Write::Delete(notice.key, Condition::Always));
                }
                Err(e) => {
                    report.failed += 1;
                    tracing::error!(error = %e, notice = %notice.key.sk, "notice not delivered; queued for retry");
                }
            }
        }
        // The delivered ones leave the queue together (one request per 99).
        for chunk in delivered.chunks(crate::store::MAX_TRANSACTION_WRITES) {
            if let Err(e) = self.store.transact(chunk.to_vec()).await {
                tracing::warn!(error = %e, "delivered notices stay queued and may be sent twice");
            }
        }
        report
    }

    /// Retries every queued notice that is due at `now` (the scheduled job; `POST /_dev/purge`
    /// locally), every tenant's, page by page.
    pub async fn deliver_pending_notices(&self, now: i64) -> DomainResult<NoticeReport> {
        let mut report = NoticeReport::default();
        let mut after = None;
        loop {
            let page = self
                .store
                .query(
                    keys::notice_partition(),
                    Query {
                        after,
                        limit: Some(PAGE),
                        ..Default::default()
                    },
                )
                .await?;
            for item in page.items {
                self.retry_notice(item, now, &mut report).await?;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(report),
            }
        }
    }

    async fn retry_notice(
        &self,
        item: Item,
        now: i64,
        report: &mut NoticeReport,
    ) -> DomainResult<()> {
        let mut record: NoticeRecord = item.record()?;
        if record.attempts >= MAX_ATTEMPTS {
            // Its last send was claimed but never reported (the run died): given up.
            return self
                .abandon_notice(&item.key, item.version, &record, report)
                .await;
        }
        if record.next_attempt_at > now {
            report.waiting += 1;
            return Ok(());
        }
        // Claim the attempt before sending it.
        record.attempts += 1;
        record.next_attempt_at = now + backoff_seconds(record.attempts);
        let version = item.version + 1;
        let claimed = Item::from_record(item.key.clone(), &record)?.with_version(version);
        match self
            .store
            .put(claimed, Condition::VersionIs(item.version))
            .await
        {
            Ok(()) => {}
            // Another run claimed or delivered it meanwhile.
            Err(StoreError::ConditionFailed) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        match self.send_email(record.email()).await {
            Ok(()) => {
                report.delivered += 1;
                if let Err(e) = self
                    .store
                    .delete(&item.key, Condition::VersionIs(version))
                    .await
                {
                    tracing::warn!(error = %e, notice = %item.key.sk, "a delivered notice stays queued and may be sent twice");
                }
                Ok(())
            }
            Err(e) => {
                report.failed += 1;
                if record.attempts >= MAX_ATTEMPTS {
                    return self
                        .abandon_notice(&item.key, version, &record, report)
                        .await;
                }
                tracing::error!(error = %e, notice = %item.key.sk, attempts = record.attempts, "notice still not delivered");
                Ok(())
            }
        }
    }

    /// Gives a notice up: deleted, with an audit entry in its tenant's log (recipient and
    /// counts, never the message) and a warning in the log (no recipient, no message).
    async fn abandon_notice(
        &self,
        key: &Key,
        version: u64,
        record: &NoticeRecord,
        report: &mut NoticeReport,
    ) -> DomainResult<()> {
        let (account, notice_id) = key.sk.split_once('#').unwrap_or(("", &key.sk));
        let mut writes = vec![Write::Delete(key.clone(), Condition::VersionIs(version))];
        let account = AccountName::parse(account);
        if let Some(account) = &account {
            writes.push(self.audit_write(
                account,
                Actor::system(),
                "notice.abandoned",
                None,
                json!({
                    "notice_id": notice_id,
                    "to": record.to,
                    "attempts": record.attempts,
                    "queued_at": rfc3339_epoch(record.created_at),
                }),
            )?);
        }
        match self.store.transact(writes).await {
            Ok(()) => {}
            // Another run dealt with it meanwhile.
            Err(StoreError::TransactionConflict(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        report.abandoned += 1;
        tracing::warn!(
            account = %account.as_ref().map(ToString::to_string).unwrap_or_default(),
            notice = notice_id,
            attempts = record.attempts,
            "notice given up: not delivered after its last attempt"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_fifteen_minutes_up_to_a_day() {
        let waits: Vec<i64> = (1..=MAX_ATTEMPTS).map(backoff_seconds).collect();
        assert_eq!(
            waits,
            [900, 1_800, 3_600, 7_200, 14_400, 28_800, 57_600, 86_400]
        );
        assert_eq!(backoff_seconds(0), 900);
        assert_eq!(backoff_seconds(u32::MAX), MAX_BACKOFF_SECONDS);
        // The waits before the last attempt add up to about a day and a third.
        let total: i64 = waits[..MAX_ATTEMPTS as usize - 1].iter().sum();
        assert_eq!(total, 114_300);
    }
}

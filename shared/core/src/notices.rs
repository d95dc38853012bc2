//! Notices that must reach people even if the mail service fails at the moment of the change
//! (revocations): each is stored in the same transaction as the change, sent right after, and
//! deleted once delivered. Undelivered ones are logged and retried by the scheduled job
//! ([`Portal::deliver_pending_notices`]), so a failure is never silently lost.

use serde::{Deserialize, Serialize};

use crate::account::AccountName;
use crate::error::DomainResult;
use crate::keys;
use crate::messaging::Email;
use crate::portal::Portal;
use crate::store::{Condition, Item, Query, Write};
use crate::tokens::new_id;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct NoticeRecord {
    to: String,
    subject: String,
    text: String,
    html: String,
    attempts: u32,
    created_at: i64,
}

/// A notice queued in a transaction, to send once the transaction has committed.
#[derive(Debug, Clone)]
pub struct QueuedNotice {
    key: crate::store::Key,
    email: Email,
}

/// What a delivery round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NoticeReport {
    pub delivered: usize,
    pub failed: usize,
}

impl Portal {
    /// The write that queues `email`; add it to the transaction of the change it announces.
    pub fn queue_notice(
        &self,
        account: &AccountName,
        email: Email,
    ) -> DomainResult<(QueuedNotice, Write)> {
        let key = keys::notice(account, &new_id()?);
        let record = NoticeRecord {
            to: email.to.clone(),
            subject: email.subject.clone(),
            text: email.text.clone(),
            html: email.html.clone(),
            attempts: 0,
            created_at: self.clock.epoch(),
        };
        let write = Write::Put(Item::from_record(key.clone(), &record)?, Condition::Absent);
        Ok((QueuedNotice { key, email }, write))
    }

    /// Sends notices queued by a committed change. Failures stay queued for the retry job.
    pub async fn send_notices(&self, queued: Vec<QueuedNotice>) -> NoticeReport {
        let mut report = NoticeReport::default();
        for notice in queued {
            match self.mailer.send_email(notice.email).await {
                Ok(()) => {
                    report.delivered += 1;
                    if let Err(e) = self.store.delete(&notice.key, Condition::Always).await {
                        tracing::warn!(error = %e, "a delivered notice stays queued and may be sent twice");
                    }
                }
                Err(e) => {
                    report.failed += 1;
                    tracing::error!(error = %e, notice = %notice.key.sk, "notice not delivered; queued for retry");
                }
            }
        }
        report
    }

    /// Retries every queued notice (the scheduled job; `POST /_dev/purge` locally).
    pub async fn deliver_pending_notices(&self) -> DomainResult<NoticeReport> {
        let page = self
            .store
            .query(keys::notice_partition(), Query::default())
            .await?;
        let mut report = NoticeReport::default();
        for item in page.items {
            let mut record: NoticeRecord = item.record()?;
            let email = Email {
                to: record.to.clone(),
                subject: record.subject.clone(),
                text: record.text.clone(),
                html: record.html.clone(),
            };
            match self.mailer.send_email(email).await {
                Ok(()) => {
                    report.delivered += 1;
                    self.store
                        .delete(&item.key, Condition::VersionIs(item.version))
                        .await
                        .ok();
                }
                Err(e) => {
                    report.failed += 1;
                    record.attempts += 1;
                    tracing::error!(error = %e, notice = %item.key.sk, attempts = record.attempts, "notice still not delivered");
                    let updated = Item::from_record(item.key.clone(), &record)?
                        .with_version(item.version + 1);
                    self.store
                        .put(updated, Condition::VersionIs(item.version))
                        .await
                        .ok();
                }
            }
        }
        Ok(report)
    }
}

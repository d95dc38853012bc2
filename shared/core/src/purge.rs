//! The scheduled purge: removes expired items across every tenant, reading only expired items
//! (the store's expiry-bucket index, never a scan), bucket by bucket from a checkpoint, each
//! bucket in its [`EXPIRY_SHARDS`] shards.
//!
//! * Each expired item is deleted on the condition that its version is still the one read, so
//!   an item refreshed in the meantime (a session's idle deadline moved) is kept.
//! * Idempotent and resumable: the checkpoint only moves past buckets that lie wholly in the
//!   past and were purged completely; a run cut off part-way repeats at most one window of
//!   buckets, whose deletions are harmless to repeat.
//! * Every expired item goes, but the report counts only reset links, validation codes,
//!   invitations and sessions ([`keys::purged_kind`]). Pending invitations are stored with an
//!   expiry 30 days after their validity, so they need no special case here.

use serde::Serialize;
use serde_json::json;

use crate::error::{DomainError, DomainResult};
use crate::keys::{self, PurgedKind};
use crate::portal::Portal;
use crate::store::{
    Condition, EXPIRY_BUCKET_SECONDS, EXPIRY_SHARDS, Item, StoreError, expiry_bucket,
};

/// Where the very first run starts (longer-expired items are left to the TTL sweeper).
pub const FIRST_RUN_LOOKBACK_SECONDS: i64 = 60 * 86_400;
/// Expired items read per page.
pub const BATCH: usize = 100;
/// Buckets purged concurrently (most buckets are empty: one query each).
const PARALLEL_BUCKETS: usize = 16;

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    /// Expired reset links, validation codes, invitations and sessions removed.
    pub deleted: usize,
    /// Items the store read to find them (only expired ones).
    pub items_read: usize,
}

impl std::ops::AddAssign for PurgeReport {
    fn add_assign(&mut self, other: Self) {
        self.deleted += other.deleted;
        self.items_read += other.items_read;
    }
}

impl Portal {
    /// Runs the purge once for `now` (epoch seconds).
    pub async fn purge(&self, now: i64) -> DomainResult<PurgeReport> {
        let current = expiry_bucket(now);
        let start = match self.store.get(&keys::purge_checkpoint()).await? {
            Some(item) => item
                .data
                .get("next_bucket")
                .and_then(|v| v.as_i64())
                .map(expiry_bucket)
                .unwrap_or(current),
            None => expiry_bucket(now - FIRST_RUN_LOOKBACK_SECONDS),
        }
        .min(current);
        let buckets: Vec<i64> = (start..=current)
            .step_by(EXPIRY_BUCKET_SECONDS as usize)
            .collect();
        let mut report = PurgeReport::default();
        for window in buckets.chunks(PARALLEL_BUCKETS) {
            let mut tasks = tokio::task::JoinSet::new();
            for &bucket in window {
                let portal = self.clone();
                tasks.spawn(async move { portal.purge_bucket(bucket, now).await });
            }
            let mut failure = None;
            while let Some(done) = tasks.join_next().await {
                match done {
                    Ok(Ok(r)) => report += r,
                    Ok(Err(e)) => {
                        failure.get_or_insert(e);
                    }
                    Err(e) => {
                        failure.get_or_insert(DomainError::Internal(format!("purge task: {e}")));
                    }
                }
            }
            if let Some(e) = failure {
                tracing::warn!(deleted = report.deleted, items_read = report.items_read, error = %e, "purge cut short");
                return Err(e);
            }
            // Only a bucket wholly in the past is complete: later expiries may still join the
            // current one.
            let last = window.last().copied().unwrap_or(current);
            let next = if last + EXPIRY_BUCKET_SECONDS <= now {
                last + EXPIRY_BUCKET_SECONDS
            } else {
                last
            };
            if next > start {
                self.advance_checkpoint(next).await?;
            }
        }
        tracing::info!(
            deleted = report.deleted,
            items_read = report.items_read,
            "purge done"
        );
        Ok(report)
    }

    async fn purge_bucket(&self, bucket: i64, now: i64) -> DomainResult<PurgeReport> {
        let mut report = PurgeReport::default();
        for shard in 0..EXPIRY_SHARDS {
            report += self.purge_shard(bucket, shard, now).await?;
        }
        Ok(report)
    }

    async fn purge_shard(&self, bucket: i64, shard: u32, now: i64) -> DomainResult<PurgeReport> {
        let mut report = PurgeReport::default();
        let mut after = None;
        loop {
            let page = self.store.expired(bucket, shard, now, BATCH, after).await?;
            report.items_read += page.items_read;
            for (key, version) in page.keys {
                match self.store.delete(&key, Condition::VersionIs(version)).await {
                    Ok(()) => {
                        if keys::purged_kind(&key) != PurgedKind::Other {
                            report.deleted += 1;
                        }
                    }
                    // Refreshed (or already gone) since it was read: keep it.
                    Err(StoreError::ConditionFailed) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(report),
            }
        }
    }

    /// Moves the checkpoint forward (never back, also when two runs overlap).
    async fn advance_checkpoint(&self, next_bucket: i64) -> DomainResult<()> {
        let key = keys::purge_checkpoint();
        for _ in 0..5 {
            let current = self.store.get(&key).await?;
            let (version, condition) = match &current {
                Some(item) => {
                    let at = item.data.get("next_bucket").and_then(|v| v.as_i64());
                    if at.is_some_and(|at| at >= next_bucket) {
                        return Ok(());
                    }
                    (item.version + 1, Condition::VersionIs(item.version))
                }
                None => (1, Condition::Absent),
            };
            let item = Item::from_record(key.clone(), &json!({"next_bucket": next_bucket}))?
                .with_version(version);
            match self.store.put(item, condition).await {
                Ok(()) => return Ok(()),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// One run of the scheduled job: the purge, then another try at every queued notice that is due.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ScheduledReport {
    #[serde(flatten)]
    pub purge: PurgeReport,
    pub notices: crate::notices::NoticeReport,
}

impl Portal {
    /// What the schedule (and `POST /_dev/purge`) runs.
    pub async fn scheduled_run(&self, now: i64) -> DomainResult<ScheduledReport> {
        let purge = self.purge(now).await?;
        let notices = self.deliver_pending_notices(now).await?;
        Ok(ScheduledReport { purge, notices })
    }
}

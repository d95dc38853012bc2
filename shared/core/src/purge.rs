//! The scheduled purge: removes expired items across every tenant, reading only expired items
//! (the store's expiry index, never a scan), hour bucket by hour bucket from a checkpoint, each
//! bucket in its [`EXPIRY_SHARDS`] shards.
//!
//! * Each expired item is deleted on the condition that its version is still the one read, so
//!   an item refreshed in the meantime (a session's idle deadline moved) is kept.
//! * Where a run starts: the checkpoint item ([`keys::purge_checkpoint`], `next_bucket`: the
//!   first bucket not yet wholly purged). Without one (the first run on a table), at the bucket
//!   of the table's creation ([`Store::created_at`](crate::store::Store::created_at), one
//!   request), so a first run on a new table reads only the buckets since then instead of 60 days
//!   of empty history; never more than [`FIRST_RUN_LOOKBACK_SECONDS`] back (an older table
//!   without a checkpoint). The domain only writes expiries at or after the moment of writing,
//!   so no item can expire before the table existed; an item written with an expiry already in
//!   the past, or further back than the lookback, is left to DynamoDB's TTL sweeper (and every
//!   read treats it as gone already).
//! * Every shard of every bucket from there to the current one is read, [`PARALLEL_QUERIES`] at
//!   a time (most are empty: one query each).
//! * The checkpoint is written once per run, at its end: to the current bucket when every
//!   earlier one was purged (the current bucket never counts as done, later expiries may still
//!   join it), or, when the run is cut short by a store failure, to the first bucket that was
//!   not wholly purged. It is also written when it did not exist yet, so later runs need not ask
//!   for the table's creation time again. It never moves backwards (a conditional write, also
//!   when two runs overlap).
//! * Idempotent and resumable: a run cut off part-way repeats at most the buckets after the
//!   checkpoint it wrote (or, if even that write failed, after the previous one), whose
//!   deletions are harmless to repeat.
//! * Every expired item goes, but the report counts only reset links, validation codes,
//!   invitations and sessions ([`keys::purged_kind`]). Pending invitations are stored with an
//!   expiry 30 days after their validity, so they need no special case here.
//!
//! Requests of a run: 1 read of the checkpoint, (1 for the table's creation time on a first
//! run), [`EXPIRY_SHARDS`] queries per bucket (more only for pages of [`BATCH`] expired items),
//! 1 conditional delete per expired item, and at most 1 checkpoint write (more only when a
//! concurrent run moved it meanwhile). A first run on a new table: 19; an hourly run: 34 (two buckets).

use std::collections::VecDeque;

use serde::Serialize;
use serde_json::json;

use crate::error::{DomainError, DomainResult};
use crate::keys::{self, PurgedKind};
use crate::portal::Portal;
use crate::store::{
    Condition, EXPIRY_BUCKET_SECONDS, EXPIRY_SHARDS, Item, StoreError, expiry_bucket,
};

/// How far back the very first run may start (longer-expired items are left to the TTL sweeper).
pub const FIRST_RUN_LOOKBACK_SECONDS: i64 = 60 * 86_400;
/// Expired items read per page.
pub const BATCH: usize = 100;
/// Shard queries (each with its deletes) in flight at once.
pub const PARALLEL_QUERIES: usize = 16;
/// Attempts at the checkpoint write when concurrent runs keep moving it.
const CHECKPOINT_ATTEMPTS: usize = 5;

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

/// The checkpoint as read at the start of a run.
struct Checkpoint {
    /// Its `next_bucket`, when stored.
    next_bucket: Option<i64>,
    /// The stored item's version (None: no checkpoint yet).
    version: Option<u64>,
}

impl Portal {
    /// Runs the purge once for `now` (epoch seconds).
    pub async fn purge(&self, now: i64) -> DomainResult<PurgeReport> {
        let current = expiry_bucket(now);
        let stored = self.store.get(&keys::purge_checkpoint()).await?;
        let checkpoint = Checkpoint {
            next_bucket: stored
                .as_ref()
                .and_then(|item| item.data.get("next_bucket"))
                .and_then(|v| v.as_i64())
                .map(expiry_bucket),
            version: stored.as_ref().map(|item| item.version),
        };
        let start = match (checkpoint.version, checkpoint.next_bucket) {
            (_, Some(next)) => next,
            // A checkpoint without a bucket (never written so by this code): from now on.
            (Some(_), None) => current,
            (None, None) => {
                let created = self.store.created_at().await?;
                expiry_bucket(created).max(expiry_bucket(now - FIRST_RUN_LOOKBACK_SECONDS))
            }
        }
        .min(current);
        let buckets = usize::try_from((current - start) / EXPIRY_BUCKET_SECONDS + 1).unwrap_or(1);

        let (report, done, failure) = self.purge_buckets(start, buckets, now).await;
        // Buckets before the first one not wholly purged are done; the current one never is.
        let next = (start + done as i64 * EXPIRY_BUCKET_SECONDS).min(current);
        let written = self.write_checkpoint(&checkpoint, next).await;
        match failure {
            Some(e) => {
                tracing::warn!(deleted = report.deleted, items_read = report.items_read, next_bucket = next, error = %e, "purge cut short");
                if let Err(w) = written {
                    tracing::warn!(error = %w, "purge checkpoint not written");
                }
                Err(e)
            }
            None => {
                written?;
                tracing::info!(
                    deleted = report.deleted,
                    items_read = report.items_read,
                    next_bucket = next,
                    "purge done"
                );
                Ok(report)
            }
        }
    }

    /// Purges every shard of `buckets` buckets from `start`, [`PARALLEL_QUERIES`] at a time,
    /// stopping at the first failure (after the shards in flight have finished). Returns what
    /// was done, how many leading buckets were wholly purged and the failure, if any.
    async fn purge_buckets(
        &self,
        start: i64,
        buckets: usize,
        now: i64,
    ) -> (PurgeReport, usize, Option<DomainError>) {
        let shards = EXPIRY_SHARDS as usize;
        let mut pending: VecDeque<(usize, u32)> = (0..buckets)
            .flat_map(|b| (0..EXPIRY_SHARDS).map(move |s| (b, s)))
            .collect();
        let mut shards_done = vec![0usize; buckets];
        let mut report = PurgeReport::default();
        let mut failure = None;
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            while failure.is_none() && tasks.len() < PARALLEL_QUERIES {
                let Some((b, shard)) = pending.pop_front() else {
                    break;
                };
                let portal = self.clone();
                let bucket = start + b as i64 * EXPIRY_BUCKET_SECONDS;
                tasks.spawn(async move { (b, portal.purge_shard(bucket, shard, now).await) });
            }
            let Some(finished) = tasks.join_next().await else {
                break;
            };
            match finished {
                Ok((b, Ok(r))) => {
                    report += r;
                    shards_done[b] += 1;
                }
                Ok((_, Err(e))) => {
                    failure.get_or_insert(e);
                }
                Err(e) => {
                    failure.get_or_insert(DomainError::Internal(format!("purge task: {e}")));
                }
            }
        }
        let done = shards_done.iter().take_while(|&&n| n == shards).count();
        (report, done, failure)
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

    /// Writes the checkpoint at `next_bucket` unless it is already there or further (never
    /// back, also when two runs overlap). One conditional write on the version read at the start
    /// of the run; only when a concurrent run changed it meanwhile, read it again and retry.
    async fn write_checkpoint(&self, read: &Checkpoint, next_bucket: i64) -> DomainResult<()> {
        let key = keys::purge_checkpoint();
        let mut seen = (read.version, read.next_bucket);
        for _ in 0..CHECKPOINT_ATTEMPTS {
            let (version, condition) = match seen {
                (Some(_), Some(at)) if at >= next_bucket => return Ok(()),
                (Some(v), _) => (v + 1, Condition::VersionIs(v)),
                (None, _) => (1, Condition::Absent),
            };
            let item = Item::from_record(key.clone(), &json!({"next_bucket": next_bucket}))?
                .with_version(version);
            match self.store.put(item, condition).await {
                Ok(()) => return Ok(()),
                Err(StoreError::ConditionFailed) => {
                    let current = self.store.get(&key).await?;
                    seen = (
                        current.as_ref().map(|item| item.version),
                        current
                            .as_ref()
                            .and_then(|item| item.data.get("next_bucket"))
                            .and_then(|v| v.as_i64()),
                    );
                }
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

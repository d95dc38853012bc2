//! The purge on both stores, through the port: what a first run on a new table costs, that the
//! checkpoint is written once per run, that every shard of the expiry index is read (and only
//! expired items), and that a run cut short resumes where it stopped.

use std::sync::Arc;

use portal_core::Portal;
use portal_core::account::AccountName;
use portal_core::clock::AdjustableClock;
use portal_core::keys;
use portal_core::passwords::PasswordHasherConfig;
use portal_core::purge::PurgeReport;
use portal_core::store::{
    Condition, EXPIRY_BUCKET_SECONDS, EXPIRY_SHARDS, Item, Key, Store, Write, expiry_bucket,
    expiry_shard,
};
use portal_core::token_signer::TokenSigner;
use portal_local::Outbox;
use serde_json::json;

use crate::both_stores;
use crate::support::app::{Backend, store_for};
use crate::support::faults::{FaultStore, RecordingStore, StoreFault};

both_stores!(
    first_run_on_a_new_store_makes_a_bounded_number_of_requests,
    checkpoint_is_written_once_per_run,
    items_spread_over_every_shard_are_all_purged_reading_only_expired_ones,
    a_run_cut_short_resumes_and_purges_the_rest,
);

const SHARDS: usize = EXPIRY_SHARDS as usize;
const HOUR: i64 = EXPIRY_BUCKET_SECONDS;

fn portal_on(store: Arc<dyn Store>) -> Portal {
    let clock = Arc::new(AdjustableClock::new());
    let outbox = Arc::new(Outbox::new(clock.clone()));
    Portal {
        store,
        mailer: outbox.clone(),
        sms: outbox,
        clock,
        metrics: Arc::new(portal_core::metrics::NoMetrics),
        hasher: PasswordHasherConfig::default(),
        security: portal_core::security::SecurityPolicy::default(),
        signer: TokenSigner::new(&b"0123456789abcdef0123456789abcdef".to_vec().into()).unwrap(),
        portal_url: "https://portal.test".into(),
    }
}

/// Writes session items of tenant `swim` expiring at the given times (25 per transaction);
/// returns their keys.
async fn sessions_expiring(store: &dyn Store, name: &str, at: &[i64]) -> Vec<Key> {
    let account = AccountName::parse("swim").unwrap();
    let writes: Vec<Write> = at
        .iter()
        .enumerate()
        .map(|(i, &expires_at)| {
            let key = keys::session(&account, &format!("{name}{i}"));
            let item = Item::from_record(key, &json!({"i": i}))
                .unwrap()
                .expiring_at(expires_at);
            Write::Put(item, Condition::Absent)
        })
        .collect();
    for chunk in writes.chunks(25) {
        store.transact(chunk.to_vec()).await.unwrap();
    }
    writes.iter().map(|w| w.key().clone()).collect()
}

/// The checkpoint's version and `next_bucket`.
async fn checkpoint(store: &dyn Store) -> Option<(u64, i64)> {
    let item = store.get(&keys::purge_checkpoint()).await.unwrap()?;
    Some((item.version, item.data["next_bucket"].as_i64().unwrap()))
}

async fn remaining(store: &dyn Store, keys: &[Key]) -> usize {
    store.get_many(keys).await.unwrap().len()
}

/// The hour after the store's creation: items expiring from there on were written after it.
async fn first_full_hour(store: &dyn Store) -> i64 {
    expiry_bucket(store.created_at().await.unwrap()) + HOUR
}

async fn first_run_on_a_new_store_makes_a_bounded_number_of_requests(backend: Backend) {
    let inner = store_for(backend).await;
    let store = RecordingStore::new(inner.clone());
    let portal = portal_on(store.clone());
    // A moment in the hour the table was created (the first scheduled run comes within it).
    let now = first_full_hour(&*inner).await - HOUR / 2;
    let report = portal.purge(now).await.unwrap();
    assert_eq!(report, PurgeReport::default());
    let first = store.take();
    // The checkpoint (absent), the table's creation time, one query per shard of the current
    // bucket, and the checkpoint written at that bucket: not 1,441 buckets of empty history.
    assert_eq!(first, 3 + SHARDS, "first run's requests");
    assert_eq!(store.seen_containing("created_at").len(), 1);
    assert_eq!(checkpoint(&*inner).await, Some((1, expiry_bucket(now))));
    // The next run in the same hour reads the checkpoint instead of the creation time and has
    // nothing to write.
    portal.purge(now + 60).await.unwrap();
    assert_eq!(store.take(), 1 + SHARDS, "second run's requests");
    assert_eq!(store.seen_containing("created_at").len(), 1);
    assert_eq!(checkpoint(&*inner).await, Some((1, expiry_bucket(now))));
    println!("{backend:?}: first purge run on a new store: {first} store requests");
}

async fn checkpoint_is_written_once_per_run(backend: Backend) {
    let inner = store_for(backend).await;
    let store = RecordingStore::new(inner.clone());
    let portal = portal_on(store.clone());
    let base = first_full_hour(&*inner).await;
    // Three sessions an hour for 40 hours: the run below walks 42 buckets (more than the 16
    // queries in flight at once, so several rounds of them).
    let at: Vec<i64> = (0..120).map(|i| base + 600 + i * 1200).collect();
    let sessions = sessions_expiring(&*inner, "s", &at).await;
    portal.purge(base - 1).await.unwrap();
    assert_eq!(checkpoint(&*inner).await, Some((1, base - HOUR)));
    store.take();
    let touched_before = store.seen_containing("P#PURGE").len();

    let later = base + 40 * HOUR + 10;
    let report = portal.purge(later).await.unwrap();
    assert_eq!(
        report,
        PurgeReport {
            deleted: 120,
            items_read: 120
        }
    );
    assert_eq!(remaining(&*inner, &sessions).await, 0);
    // One read and one write of the checkpoint, which moved by one version to the current
    // bucket; the run started from it, without asking for the table's creation time.
    assert_eq!(store.seen_containing("P#PURGE").len() - touched_before, 2);
    assert_eq!(checkpoint(&*inner).await, Some((2, expiry_bucket(later))));
    assert_eq!(store.seen_containing("created_at").len(), 1);
    let buckets = ((expiry_bucket(later) - (base - HOUR)) / HOUR + 1) as usize;
    assert_eq!(buckets, 42);
    assert_eq!(
        store.take(),
        2 + buckets * SHARDS + 120,
        "requests of the run"
    );
}

async fn items_spread_over_every_shard_are_all_purged_reading_only_expired_ones(backend: Backend) {
    let inner = store_for(backend).await;
    let portal = portal_on(inner.clone());
    let base = first_full_hour(&*inner).await;
    let now = base + 2 * HOUR + 900;
    // 200 expired over two and a quarter hours, 300 live: some in the current bucket, the rest
    // over the next month.
    let expired_at: Vec<i64> = (0..200).map(|i| base + i * 40).collect();
    let live_at: Vec<i64> = (0..300)
        .map(|i| if i < 30 { now + 1 + i } else { now + i * 8_000 })
        .collect();
    let expired = sessions_expiring(&*inner, "old", &expired_at).await;
    let live = sessions_expiring(&*inner, "live", &live_at).await;
    let mut shards: Vec<u32> = expired.iter().map(expiry_shard).collect();
    shards.sort();
    shards.dedup();
    assert_eq!(shards.len(), SHARDS, "the expired items cover every shard");

    let report = portal.purge(now).await.unwrap();
    assert_eq!(
        report,
        PurgeReport {
            deleted: 200,
            items_read: 200
        },
        "every expired item, and only those, read and deleted"
    );
    assert_eq!(remaining(&*inner, &expired).await, 0);
    assert_eq!(remaining(&*inner, &live).await, 300);
    assert_eq!(portal.purge(now).await.unwrap(), PurgeReport::default());
}

async fn a_run_cut_short_resumes_and_purges_the_rest(backend: Backend) {
    let inner = store_for(backend).await;
    let faulty = FaultStore::new(inner.clone(), StoreFault::None);
    let store = RecordingStore::new(faulty.clone());
    let portal = portal_on(store.clone());
    let base = first_full_hour(&*inner).await;
    // Four sessions an hour for ten hours.
    let at: Vec<i64> = (0..40).map(|i| base + i * 900).collect();
    let sessions = sessions_expiring(&*inner, "s", &at).await;
    let later = base + 10 * HOUR + 5;

    // The index fails from the sixth hour on: the run fails, having purged the first five
    // hours, and its checkpoint stops at the first bucket it could not finish.
    let outage = base + 5 * HOUR;
    faulty.set(StoreFault::ExpiredDownFrom(outage));
    assert!(portal.purge(later).await.is_err());
    assert_eq!(checkpoint(&*inner).await, Some((1, outage)));
    assert_eq!(remaining(&*inner, &sessions[..20]).await, 0);
    assert_eq!(remaining(&*inner, &sessions[20..]).await, 20);

    // The next run starts there, and purges the rest.
    faulty.set(StoreFault::None);
    store.take();
    let report = portal.purge(later).await.unwrap();
    assert_eq!(report.deleted, 20);
    assert_eq!(remaining(&*inner, &sessions).await, 0);
    assert_eq!(checkpoint(&*inner).await, Some((2, expiry_bucket(later))));
    let buckets = ((expiry_bucket(later) - outage) / HOUR + 1) as usize;
    assert_eq!(
        store.take(),
        2 + buckets * SHARDS + 20,
        "the resumed run reads only the buckets it had not finished"
    );
}

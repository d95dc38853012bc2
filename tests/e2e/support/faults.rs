//! Messaging adapters that fail, and a server that uses them (delivery-failure tests).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use portal_core::messaging::{DeliveryError, Email, Mailer, Sms, SmsSender};
use portal_core::metrics::Metrics;
use portal_core::store::{
    Bound, Condition, ExpiredPage, Item, Key, Page, Query, Store, StoreError, Write,
};
use portal_local::Options;

use super::app::{Backend, TestApp, store_for};

/// An SMS sender whose every send fails, as SNS refusing a message would; counts attempts.
#[derive(Default)]
pub struct FailingSms {
    pub attempts: AtomicUsize,
}

#[async_trait]
impl SmsSender for FailingSms {
    async fn send_sms(&self, _sms: Sms) -> Result<(), DeliveryError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        Err(DeliveryError::Failed("simulated SNS failure".into()))
    }
}

/// A mailer whose every send fails; counts attempts.
#[derive(Default)]
pub struct FailingMailer {
    pub attempts: AtomicUsize,
}

#[async_trait]
impl Mailer for FailingMailer {
    async fn send_email(&self, _email: Email) -> Result<(), DeliveryError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        Err(DeliveryError::Failed("simulated SES failure".into()))
    }
}

impl TestApp {
    /// A server with tenant `swim` (as [`TestApp::spawn`]) whose mail and/or SMS go through
    /// the given senders instead of the outbox.
    pub async fn spawn_with_messaging(
        backend: Backend,
        mailer: Option<Arc<dyn Mailer>>,
        sms: Option<Arc<dyn SmsSender>>,
    ) -> TestApp {
        Self::spawn_on_with(store_for(backend).await, mailer, sms, None).await
    }

    /// A server with tenant `swim` on a store the test keeps a handle to.
    pub async fn spawn_on(store: Arc<dyn Store>) -> TestApp {
        Self::spawn_on_with(store, None, None, None).await
    }

    /// A server with tenant `swim` on `store` whose metrics go to `metrics`.
    pub async fn spawn_metered(store: Arc<dyn Store>, metrics: Arc<dyn Metrics>) -> TestApp {
        Self::spawn_on_with(store, None, None, Some(metrics)).await
    }

    async fn spawn_on_with(
        store: Arc<dyn Store>,
        mailer: Option<Arc<dyn Mailer>>,
        sms: Option<Arc<dyn SmsSender>>,
        metrics: Option<Arc<dyn Metrics>>,
    ) -> TestApp {
        let running = portal_local::spawn(Options {
            store,
            mailer,
            sms,
            metrics,
            port: 0,
            portal_url: Some("https://portal.test".into()),
            keys: None,
        })
        .await
        .expect("server starts");
        let app = TestApp {
            running,
            client: reqwest::Client::new(),
            account: "swim".into(),
        };
        app.create_tenant("swim", "owner").await;
        app
    }
}

/// How a [`FaultStore`] misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFault {
    /// Every call passes through.
    None,
    /// Every call answers `Unavailable` (a DynamoDB outage).
    Down,
    /// Every transaction answers `Unavailable` before anything is applied.
    TransactionsFail,
    /// The next `n` transactions are applied and then answered `Unavailable`, as a commit
    /// whose response was lost to a timeout.
    AppliedThenTimeout(usize),
    /// Reads of the expiry index for this bucket or a later one answer `Unavailable` (an outage
    /// part-way through a purge run); everything else passes.
    ExpiredDownFrom(i64),
    /// Every call waits forever, as a request to a DynamoDB that accepted the connection and
    /// never answers (what the invocation deadline is for).
    Hang,
}

/// A store at the port boundary that injects faults into another (embedded or DynamoDB).
pub struct FaultStore {
    pub inner: Arc<dyn Store>,
    fault: std::sync::Mutex<StoreFault>,
    /// Transactions that were applied and then reported as timed out.
    pub lost_answers: AtomicUsize,
}

impl FaultStore {
    pub fn new(inner: Arc<dyn Store>, fault: StoreFault) -> Arc<Self> {
        Arc::new(Self {
            inner,
            fault: std::sync::Mutex::new(fault),
            lost_answers: AtomicUsize::new(0),
        })
    }

    pub fn set(&self, fault: StoreFault) {
        *self.fault.lock().unwrap() = fault;
    }

    fn fault(&self) -> StoreFault {
        *self.fault.lock().unwrap()
    }

    async fn check(&self) -> Result<(), StoreError> {
        match self.fault() {
            StoreFault::Down => Err(StoreError::Unavailable("injected outage".into())),
            StoreFault::Hang => std::future::pending().await,
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl Store for FaultStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.check().await?;
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        self.check().await?;
        self.inner.get_many(keys).await
    }
    async fn put(&self, item: Item, c: Condition) -> Result<(), StoreError> {
        self.check().await?;
        self.inner.put(item, c).await
    }
    async fn delete(&self, key: &Key, c: Condition) -> Result<(), StoreError> {
        self.check().await?;
        self.inner.delete(key, c).await
    }
    async fn apply(&self, writes: &[Write], token: &str) -> Result<(), StoreError> {
        match self.fault() {
            StoreFault::Down | StoreFault::TransactionsFail => {
                Err(StoreError::Unavailable("injected outage".into()))
            }
            StoreFault::Hang => std::future::pending().await,
            StoreFault::AppliedThenTimeout(n) if n > 0 => {
                self.inner.apply(writes, token).await?;
                self.set(StoreFault::AppliedThenTimeout(n - 1));
                self.lost_answers.fetch_add(1, Ordering::SeqCst);
                Err(StoreError::Unavailable(
                    "injected timeout after commit".into(),
                ))
            }
            _ => self.inner.apply(writes, token).await,
        }
    }
    async fn was_applied(&self, token: &str) -> Result<bool, StoreError> {
        self.check().await?;
        self.inner.was_applied(token).await
    }
    async fn add(
        &self,
        key: &Key,
        field: &str,
        delta: i64,
        bound: Bound,
    ) -> Result<i64, StoreError> {
        self.check().await?;
        self.inner.add(key, field, delta, bound).await
    }
    async fn query(&self, pk: &str, q: Query) -> Result<Page, StoreError> {
        self.check().await?;
        self.inner.query(pk, q).await
    }
    async fn expired(
        &self,
        bucket: i64,
        shard: u32,
        now: i64,
        limit: usize,
        after: Option<String>,
    ) -> Result<ExpiredPage, StoreError> {
        self.check().await?;
        if let StoreFault::ExpiredDownFrom(from) = self.fault()
            && bucket >= from
        {
            return Err(StoreError::Unavailable("injected index outage".into()));
        }
        self.inner.expired(bucket, shard, now, limit, after).await
    }
    async fn created_at(&self) -> Result<i64, StoreError> {
        self.check().await?;
        self.inner.created_at().await
    }
}

/// A store that records every key, partition and cursor it is asked about, and counts the calls
/// made through the port (one store request each, but for reads of more than 100 keys and
/// multi-page queries), to show what a flow touches and costs whatever the data behind it.
pub struct RecordingStore {
    pub inner: Arc<dyn Store>,
    calls: AtomicUsize,
    seen: std::sync::Mutex<Vec<String>>,
}

impl RecordingStore {
    pub fn new(inner: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            calls: AtomicUsize::new(0),
            seen: std::sync::Mutex::new(Vec::new()),
        })
    }

    fn note<'a>(&self, parts: impl IntoIterator<Item = &'a str>) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut seen = self.seen.lock().unwrap();
        seen.extend(parts.into_iter().map(str::to_owned));
    }

    fn note_key(&self, key: &Key) {
        self.note([key.pk.as_str(), key.sk.as_str()]);
    }

    /// The calls so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// The calls since the last take.
    pub fn take(&self) -> usize {
        self.calls.swap(0, Ordering::SeqCst)
    }

    /// Every recorded key part, partition and cursor that contains `needle`.
    pub fn seen_containing(&self, needle: &str) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.contains(needle))
            .map(|s| s.chars().take(80).collect())
            .collect()
    }
}

#[async_trait]
impl Store for RecordingStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.note_key(key);
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        self.note(keys.iter().flat_map(|k| [k.pk.as_str(), k.sk.as_str()]));
        self.inner.get_many(keys).await
    }
    async fn put(&self, item: Item, c: Condition) -> Result<(), StoreError> {
        self.note_key(&item.key);
        self.inner.put(item, c).await
    }
    async fn delete(&self, key: &Key, c: Condition) -> Result<(), StoreError> {
        self.note_key(key);
        self.inner.delete(key, c).await
    }
    async fn apply(&self, writes: &[Write], token: &str) -> Result<(), StoreError> {
        self.note(
            writes
                .iter()
                .flat_map(|w| [w.key().pk.as_str(), w.key().sk.as_str()]),
        );
        self.inner.apply(writes, token).await
    }
    async fn was_applied(&self, token: &str) -> Result<bool, StoreError> {
        self.note([token]);
        self.inner.was_applied(token).await
    }
    async fn add(
        &self,
        key: &Key,
        field: &str,
        delta: i64,
        bound: Bound,
    ) -> Result<i64, StoreError> {
        self.note_key(key);
        self.inner.add(key, field, delta, bound).await
    }
    async fn query(&self, pk: &str, q: Query) -> Result<Page, StoreError> {
        self.note([pk, q.sk_prefix.as_str(), q.after.as_deref().unwrap_or("")]);
        self.inner.query(pk, q).await
    }
    async fn expired(
        &self,
        bucket: i64,
        shard: u32,
        now: i64,
        limit: usize,
        after: Option<String>,
    ) -> Result<ExpiredPage, StoreError> {
        self.note([after.as_deref().unwrap_or("")]);
        self.inner.expired(bucket, shard, now, limit, after).await
    }
    async fn created_at(&self) -> Result<i64, StoreError> {
        self.note(["created_at"]);
        self.inner.created_at().await
    }
}

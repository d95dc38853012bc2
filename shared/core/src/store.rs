//! The storage port: a small item store with the semantics of one DynamoDB table.
//!
//! Both adapters (the embedded store here, DynamoDB in `portal-aws`) implement exactly these
//! semantics and are held to them by one conformance suite (`tests/e2e/store_conformance.rs`):
//!
//! * an item is addressed by `(pk, sk)`; every domain key starts with the tenant (`T#<account>#`),
//!   see the `keys` module, so no read can cross tenants by construction;
//! * `put`/`delete` take a [`Condition`]; a failed condition is [`StoreError::ConditionFailed`];
//! * `transact` applies every write or none; a failed condition names the write's index. It is
//!   safe to retry: each transaction carries a token, recorded atomically with its writes, so a
//!   commit whose answer was lost (a timeout) is recognised on the retry and answered as applied
//!   (see [`Store::transact`]); at most [`MAX_TRANSACTION_WRITES`] writes, so no count a user
//!   controls may ever be put into one;
//! * `add` is an atomic, bounded counter update (credits never below zero, limits never above);
//! * items may carry `expires_at` (epoch seconds). The store never hides an expired item: the
//!   domain checks expiry against its clock on every read (DynamoDB's TTL sweeper is lazy), and
//!   [`Condition::AbsentOrExpired`] lets a write replace an item that is logically gone;
//! * [`Store::expired`] reads expired items through an index keyed by the hour of expiry split
//!   into [`EXPIRY_SHARDS`] shards ([`expiry_partition`]), never by scanning the table.

use async_trait::async_trait;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

mod embedded;
pub use embedded::EmbeddedStore;

/// Attribute names the store owns; domain data may not use them.
pub const RESERVED_ATTRIBUTES: [&str; 5] = ["pk", "sk", "v", "expires_at", "exp_bucket"];

/// Width of an expiry bucket in seconds: the purge job reads expired items bucket by bucket
/// through an index instead of scanning the table.
pub const EXPIRY_BUCKET_SECONDS: i64 = 3600;

/// Shards of one expiry bucket. Every item expiring in the same hour would otherwise land on one
/// index partition key, and DynamoDB writes at most ~1,000 items a second to one partition key
/// of an index (a busy hour of logins would throttle the table's writes through the index's
/// back-pressure); spread over 16 keys by a hash of the item's key, an hour takes ~16,000 a
/// second. The price is 16 index queries per bucket in the purge, run concurrently.
pub const EXPIRY_SHARDS: u32 = 16;

/// Writes one transaction may hold: DynamoDB allows 100 actions, one of which is the
/// transaction's idempotency marker.
pub const MAX_TRANSACTION_WRITES: usize = 99;

/// How long a transaction's token is remembered (DynamoDB honours a `ClientRequestToken` for 10
/// minutes; the marker item lives a little longer).
pub const TRANSACTION_TOKEN_SECONDS: i64 = 3600;

/// Attempts of a transaction whose outcome was unknown (a timeout, an outage, contention)
/// before the request gives up with `Unavailable`.
const TRANSACT_ATTEMPTS: u32 = 2;

/// The primary key of an item.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// One stored item: its key, an optimistic-concurrency version, an optional expiry and its data.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub key: Key,
    /// Incremented by the domain on each replacement; used with [`Condition::VersionIs`].
    pub version: u64,
    /// Epoch seconds after which the item is logically gone (TTL attribute in DynamoDB).
    pub expires_at: Option<i64>,
    /// The record's fields (a JSON object; numbers, strings, bools, lists, maps, null).
    pub data: Map<String, Value>,
}

impl Item {
    /// Builds an item from a serialisable record (which must serialise to a JSON object).
    pub fn from_record<T: Serialize>(key: Key, record: &T) -> Result<Self, StoreError> {
        match serde_json::to_value(record).map_err(|e| StoreError::Corrupt(e.to_string()))? {
            Value::Object(data) => Ok(Self {
                key,
                version: 1,
                expires_at: None,
                data,
            }),
            _ => Err(StoreError::Corrupt("record is not an object".into())),
        }
    }

    pub fn with_version(mut self, version: u64) -> Self {
        self.version = version;
        self
    }

    pub fn expiring_at(mut self, expires_at: i64) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// Reads the record back.
    pub fn record<T: DeserializeOwned>(&self) -> Result<T, StoreError> {
        serde_json::from_value(Value::Object(self.data.clone()))
            .map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", self.key.pk, self.key.sk)))
    }

    /// True when the item is logically gone at `now` (epoch seconds).
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// The expiry bucket of this item, if it expires.
    pub fn expiry_bucket(&self) -> Option<i64> {
        self.expires_at.map(expiry_bucket)
    }
}

/// The bucket (start of the hour, epoch seconds) an expiry time falls in.
pub fn expiry_bucket(expires_at: i64) -> i64 {
    expires_at - expires_at.rem_euclid(EXPIRY_BUCKET_SECONDS)
}

/// Takes the item stored under `key` out of the result of a [`Store::get_many`].
pub fn take_item(found: &mut Vec<Item>, key: &Key) -> Option<Item> {
    let at = found.iter().position(|i| &i.key == key)?;
    Some(found.swap_remove(at))
}

/// The outcome of one [`Store::get_many`]: the keys asked and the items found, so that a later
/// read of any of them is answered without a round trip (found or known absent).
#[derive(Debug, Default, Clone)]
pub struct Batch {
    asked: Vec<Key>,
    found: Vec<Item>,
}

impl Batch {
    /// Reads `keys` in one round trip.
    pub async fn fetch(store: &dyn Store, keys: Vec<Key>) -> Result<Self, StoreError> {
        let found = store.get_many(&keys).await?;
        Ok(Self { asked: keys, found })
    }

    /// A batch of `asked` keys whose read found `found`.
    pub fn from_parts(asked: Vec<Key>, found: Vec<Item>) -> Self {
        Self { asked, found }
    }

    /// As [`Batch::take`], leaving the batch as it is.
    pub fn find(&self, key: &Key) -> Option<Option<Item>> {
        self.asked
            .contains(key)
            .then(|| self.found.iter().find(|i| &i.key == key).cloned())
    }

    /// As [`Batch::get`], leaving the batch as it is.
    pub async fn read(&self, store: &dyn Store, key: &Key) -> Result<Option<Item>, StoreError> {
        match self.find(key) {
            Some(known) => Ok(known),
            None => store.get(key).await,
        }
    }

    /// The items of `keys` this batch holds, when it asked for every one of them.
    pub fn find_all(&self, keys: &[Key]) -> Option<Vec<Item>> {
        let mut items = Vec::new();
        for key in keys {
            items.extend(self.find(key)?);
        }
        Some(items)
    }

    /// The item under `key` when the batch asked for it (`Some(None)`: known absent), or
    /// `None` when it did not.
    pub fn take(&mut self, key: &Key) -> Option<Option<Item>> {
        self.asked
            .contains(key)
            .then(|| take_item(&mut self.found, key))
    }

    /// The item under `key`: from the batch when it was asked, else read now.
    pub async fn get(&mut self, store: &dyn Store, key: &Key) -> Result<Option<Item>, StoreError> {
        match self.take(key) {
            Some(known) => Ok(known),
            None => store.get(key).await,
        }
    }
}

/// The shard (`0..EXPIRY_SHARDS`) of an item's expiry bucket: FNV-1a of its key, spelled out
/// rather than `std`'s hasher so that it is the same in every build and process (an item keeps
/// its index entry's partition when it is rewritten with the same expiry bucket).
pub fn expiry_shard(key: &Key) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.pk.bytes().chain([0]).chain(key.sk.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // The remainder is below EXPIRY_SHARDS, so it fits a u32.
    (hash % u64::from(EXPIRY_SHARDS)) as u32
}

/// The expiry index's partition key for a shard of a bucket: the hour's number times
/// [`EXPIRY_SHARDS`] plus the shard. A number (like the unsharded hour start it replaces, so the
/// index's definition is unchanged); the values (~7.5 million today) never meet the unsharded
/// ones (multiples of 3600 near 1.7 billion) that items written before sharding still carry.
pub fn expiry_partition(bucket: i64, shard: u32) -> i64 {
    expiry_bucket(bucket).div_euclid(EXPIRY_BUCKET_SECONDS) * i64::from(EXPIRY_SHARDS)
        + i64::from(shard)
}

/// Refuses a shard outside `0..EXPIRY_SHARDS` (the same way in every adapter).
pub fn check_shard(shard: u32) -> Result<(), StoreError> {
    if shard < EXPIRY_SHARDS {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "expiry shard {shard} is not below {EXPIRY_SHARDS}"
        )))
    }
}

/// A condition on the item currently stored under a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// No condition.
    Always,
    /// No item is stored under the key.
    Absent,
    /// No item is stored, or the stored one expired at or before the given epoch second.
    AbsentOrExpired(i64),
    /// An item is stored under the key.
    Exists,
    /// An item is stored and its version equals the given one.
    VersionIs(u64),
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Put(Item, Condition),
    Delete(Key, Condition),
    /// Writes nothing; fails the transaction unless the condition holds.
    Check(Key, Condition),
    /// Adds `delta` to a numeric field (missing counts as 0; the item is created if needed)
    /// unless the result would break the bound, as [`Store::add`] does, but inside a
    /// transaction, so that a retried request cannot apply it twice (SMS credits).
    Add {
        key: Key,
        field: String,
        delta: i64,
        bound: Bound,
    },
}

impl Write {
    pub fn key(&self) -> &Key {
        match self {
            Write::Put(item, _) => &item.key,
            Write::Delete(key, _) | Write::Check(key, _) | Write::Add { key, .. } => key,
        }
    }

    /// The condition on the stored item, where the write has one of its own.
    pub fn condition(&self) -> Option<Condition> {
        match self {
            Write::Put(_, c) | Write::Delete(_, c) | Write::Check(_, c) => Some(*c),
            Write::Add { .. } => None,
        }
    }
}

/// Checks a transaction the same way for every adapter, before any of it is sent: 1 to
/// [`MAX_TRANSACTION_WRITES`] writes on distinct keys, no reserved attribute in the data.
pub fn validate_transaction(writes: &[Write]) -> Result<(), StoreError> {
    if writes.is_empty() || writes.len() > MAX_TRANSACTION_WRITES {
        return Err(StoreError::Invalid(format!(
            "a transaction holds 1 to {MAX_TRANSACTION_WRITES} writes, not {}",
            writes.len()
        )));
    }
    for (i, w) in writes.iter().enumerate() {
        if writes[..i].iter().any(|o| o.key() == w.key()) {
            return Err(StoreError::Invalid("two writes on one key".into()));
        }
        match w {
            Write::Put(item, _) => check_reserved(item)?,
            Write::Add { field, .. } => check_field(field)?,
            _ => {}
        }
    }
    Ok(())
}

/// Refuses a counter field whose name the store owns.
pub fn check_field(field: &str) -> Result<(), StoreError> {
    if RESERVED_ATTRIBUTES.contains(&field) {
        Err(StoreError::Invalid(format!("reserved attribute {field}")))
    } else {
        Ok(())
    }
}

/// Refuses an item whose data uses an attribute name the store owns.
pub fn check_reserved(item: &Item) -> Result<(), StoreError> {
    match RESERVED_ATTRIBUTES
        .iter()
        .find(|a| item.data.contains_key(**a))
    {
        Some(a) => Err(StoreError::Invalid(format!("reserved attribute {a}"))),
        None => Ok(()),
    }
}

/// Whether `current + delta` stays within `bound` (and an i64): the rule of [`Store::add`] and
/// [`Write::Add`], for adapters that compute it themselves.
pub fn bounded_sum(current: i64, delta: i64, bound: Bound) -> Result<i64, StoreError> {
    let new = current
        .checked_add(delta)
        .ok_or_else(|| StoreError::Invalid("counter overflow".into()))?;
    let ok = match bound {
        Bound::AtLeast(min) => new >= min,
        Bound::AtMost(max) => new <= max,
    };
    if ok {
        Ok(new)
    } else {
        Err(StoreError::ConditionFailed)
    }
}

/// Bound on the result of [`Store::add`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The new value must be at least this.
    AtLeast(i64),
    /// The new value must be at most this.
    AtMost(i64),
}

/// A page of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    /// The sort key to continue after, when more items may follow.
    pub next: Option<String>,
}

/// Which items a query returns, in sort-key order.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only sort keys starting with this.
    pub sk_prefix: String,
    /// Newest (largest sort key) first.
    pub descending: bool,
    /// Continue strictly after this sort key (in the query's direction).
    pub after: Option<String>,
    /// At most this many items (None: all).
    pub limit: Option<usize>,
}

/// Expired items found by [`Store::expired`], with how many items were read to find them.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpiredPage {
    pub keys: Vec<(Key, u64)>,
    /// Items the store read (to prove the purge reads only expired items).
    pub items_read: usize,
    /// Resume token within the bucket, when more may follow.
    pub next: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("condition failed")]
    ConditionFailed,
    /// A transaction was cancelled; the index of the write whose condition failed, if known.
    #[error("transaction cancelled (write {0:?})")]
    TransactionConflict(Option<usize>),
    /// The store could not be reached or refused service (throttling, timeouts). A write that
    /// answered this may or may not have been applied.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A transaction was cancelled only because concurrent transactions held its items
    /// (DynamoDB's `TransactionConflict`): nothing was applied, and a retry may pass.
    #[error("transaction cancelled by concurrent transactions")]
    Contention,
    /// A stored item could not be read as the expected record.
    #[error("stored item is corrupt: {0}")]
    Corrupt(String),
    /// The request was invalid for the store (a bug in the caller).
    #[error("invalid store request: {0}")]
    Invalid(String),
}

impl StoreError {
    /// Worth trying again shortly: the store was unreachable or busy, or concurrent writes got
    /// in the way. The one definition used by the HTTP answer (503 + `Retry-After`), the purge
    /// job's retry decision and the log line.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_)
                | StoreError::Contention
                | StoreError::TransactionConflict(_)
                | StoreError::ConditionFailed
        )
    }
}

#[async_trait]
pub trait Store: Send + Sync {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;
    /// Reads several keys at once (one round trip where the backend allows); missing keys are
    /// left out. Order of the result is unspecified.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError>;
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError>;
    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError>;
    /// Applies a validated transaction once, all writes or none, and records `token` atomically
    /// with them (DynamoDB: the `ClientRequestToken` and a marker item), so that
    /// [`Store::was_applied`] can tell later whether this transaction committed. Adapters
    /// implement this; callers use [`Store::transact`].
    async fn apply(&self, writes: &[Write], token: &str) -> Result<(), StoreError>;
    /// Whether a transaction carrying `token` committed (within [`TRANSACTION_TOKEN_SECONDS`]).
    async fn was_applied(&self, token: &str) -> Result<bool, StoreError>;
    /// All writes or none (at most [`MAX_TRANSACTION_WRITES`], distinct keys). Retries an
    /// attempt whose outcome is unknown (timeout, outage) or that lost to concurrent
    /// transactions, with the same token; when a retry fails its conditions because the first
    /// attempt had in fact committed, the answer is `Ok`: a change that took effect is never
    /// reported as a conflict.
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        validate_transaction(&writes)?;
        let token = crate::tokens::new_id().map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut uncertain = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.apply(&writes, &token).await;
            match outcome {
                Ok(()) => return Ok(()),
                Err(StoreError::TransactionConflict(_) | StoreError::ConditionFailed)
                    if uncertain && self.was_applied(&token).await? =>
                {
                    return Ok(());
                }
                Err(e @ (StoreError::Unavailable(_) | StoreError::Contention)) => {
                    uncertain |= matches!(e, StoreError::Unavailable(_));
                    if attempt >= TRANSACT_ATTEMPTS {
                        if uncertain && self.was_applied(&token).await.unwrap_or(false) {
                            return Ok(());
                        }
                        return Err(match e {
                            StoreError::Contention => StoreError::Unavailable(
                                "transaction kept losing to concurrent ones".into(),
                            ),
                            e => e,
                        });
                    }
                    let pause = 20u64 << attempt;
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
    /// Atomically adds `delta` to the numeric attribute `field` (missing counts as 0) of the item
    /// at `key`, creating the item if needed, unless the result would break `bound`
    /// ([`StoreError::ConditionFailed`]). Returns the new value.
    async fn add(
        &self,
        key: &Key,
        field: &str,
        delta: i64,
        bound: Bound,
    ) -> Result<i64, StoreError>;
    async fn query(&self, pk: &str, query: Query) -> Result<Page, StoreError>;
    /// Items of expiry shard `shard` ([`expiry_shard`] of their key) whose expiry falls in
    /// `bucket` and is at or before `now`, across every tenant, in expiry order. A shard at or
    /// above [`EXPIRY_SHARDS`] is [`StoreError::Invalid`].
    async fn expired(
        &self,
        bucket: i64,
        shard: u32,
        now: i64,
        limit: usize,
        after: Option<String>,
    ) -> Result<ExpiredPage, StoreError>;
    /// When the store (the table) was created, in epoch seconds: every item was written after
    /// it, so the purge's first run need not look further back (one request, made only while
    /// the purge has no checkpoint yet).
    async fn created_at(&self) -> Result<i64, StoreError>;
}

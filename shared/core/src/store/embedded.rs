//! The embedded store: an in-process ordered map with the same semantics as the DynamoDB adapter.
//! It backs `portal-local` and the fast tests; data lives as long as the process.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{
    Bound, Condition, ExpiredPage, Item, Key, Page, Query, Store, StoreError,
    TRANSACTION_TOKEN_SECONDS, Write, bounded_sum, check_field, check_reserved, check_shard,
    expiry_bucket, expiry_shard,
};

pub struct EmbeddedStore {
    items: Mutex<BTreeMap<Key, Item>>,
    /// Tokens of committed transactions and when they committed (wall time, like DynamoDB's
    /// idempotency window): a transaction sent again with its token is answered as applied,
    /// as DynamoDB answers a repeated `ClientRequestToken`.
    tokens: Mutex<HashMap<String, Instant>>,
    /// Epoch seconds (system time) at construction: the table's creation time.
    created_at: i64,
}

impl Default for EmbeddedStore {
    fn default() -> Self {
        Self {
            items: Mutex::default(),
            tokens: Mutex::default(),
            // System time, like DynamoDB's CreationDateTime: the domain's clock (`AdjustableClock`)
            // only ever runs at or ahead of it, so no item the domain writes predates it.
            created_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        }
    }
}

impl EmbeddedStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, Item>> {
        // A panic while holding the lock cannot leave a half-applied write (every write is
        // checked before it is applied), so a poisoned map is still consistent.
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn holds(current: Option<&Item>, condition: Condition) -> bool {
    match condition {
        Condition::Always => true,
        Condition::Absent => current.is_none(),
        Condition::AbsentOrExpired(now) => current.is_none_or(|i| i.is_expired(now)),
        Condition::Exists => current.is_some(),
        Condition::VersionIs(v) => current.is_some_and(|i| i.version == v),
    }
}

fn check_item(item: &Item) -> Result<(), StoreError> {
    check_reserved(item)
}

fn numeric_field(item: Option<&Item>, field: &str) -> Result<i64, StoreError> {
    match item.and_then(|i| i.data.get(field)) {
        None => Ok(0),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| StoreError::Corrupt(format!("{field} is not an integer"))),
    }
}

fn add_to(map: &mut BTreeMap<Key, Item>, key: &Key, field: &str, value: i64) {
    let item = map.entry(key.clone()).or_insert_with(|| Item {
        key: key.clone(),
        version: 1,
        expires_at: None,
        data: Default::default(),
    });
    item.data.insert(field.to_owned(), value.into());
}

const TOKEN_LIFE: Duration = Duration::from_secs(TRANSACTION_TOKEN_SECONDS as u64);

#[async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        Ok(self.lock().get(key).cloned())
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        let map = self.lock();
        Ok(keys.iter().filter_map(|k| map.get(k).cloned()).collect())
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        check_item(&item)?;
        let mut map = self.lock();
        if !holds(map.get(&item.key), condition) {
            return Err(StoreError::ConditionFailed);
        }
        map.insert(item.key.clone(), item);
        Ok(())
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        let mut map = self.lock();
        if !holds(map.get(key), condition) {
            return Err(StoreError::ConditionFailed);
        }
        map.remove(key);
        Ok(())
    }

    async fn apply(&self, writes: &[Write], token: &str) -> Result<(), StoreError> {
        super::validate_transaction(writes)?;
        let mut map = self.lock();
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if tokens
            .get(token)
            .is_some_and(|at| at.elapsed() < TOKEN_LIFE)
        {
            return Ok(());
        }
        let mut sums = Vec::new();
        for (i, w) in writes.iter().enumerate() {
            let current = map.get(w.key());
            let holds_here = match w {
                Write::Add {
                    field,
                    delta,
                    bound,
                    ..
                } => match bounded_sum(numeric_field(current, field)?, *delta, *bound) {
                    Ok(sum) => {
                        sums.push(sum);
                        true
                    }
                    Err(StoreError::ConditionFailed) => false,
                    Err(e) => return Err(e),
                },
                other => other.condition().is_none_or(|c| holds(current, c)),
            };
            if !holds_here {
                return Err(StoreError::TransactionConflict(Some(i)));
            }
        }
        let mut sums = sums.into_iter();
        for w in writes {
            match w {
                Write::Put(item, _) => {
                    map.insert(item.key.clone(), item.clone());
                }
                Write::Delete(key, _) => {
                    map.remove(key);
                }
                Write::Check(..) => {}
                Write::Add { key, field, .. } => {
                    let sum = sums.next().unwrap_or_default();
                    add_to(&mut map, key, field, sum);
                }
            }
        }
        tokens.retain(|_, at| at.elapsed() < TOKEN_LIFE);
        tokens.insert(token.to_owned(), Instant::now());
        Ok(())
    }

    async fn was_applied(&self, token: &str) -> Result<bool, StoreError> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        Ok(tokens
            .get(token)
            .is_some_and(|at| at.elapsed() < TOKEN_LIFE))
    }

    async fn add(
        &self,
        key: &Key,
        field: &str,
        delta: i64,
        bound: Bound,
    ) -> Result<i64, StoreError> {
        check_field(field)?;
        let mut map = self.lock();
        let new = bounded_sum(numeric_field(map.get(key), field)?, delta, bound)?;
        add_to(&mut map, key, field, new);
        Ok(new)
    }

    async fn query(&self, pk: &str, query: Query) -> Result<Page, StoreError> {
        let map = self.lock();
        let start = Key::new(pk, query.sk_prefix.clone());
        let matching = map
            .range(start..)
            .take_while(|(k, _)| k.pk == pk && k.sk.starts_with(&query.sk_prefix))
            .map(|(_, i)| i);
        let mut items: Vec<&Item> = matching.collect();
        if query.descending {
            items.reverse();
        }
        if let Some(after) = &query.after {
            items.retain(|i| {
                if query.descending {
                    i.key.sk < *after
                } else {
                    i.key.sk > *after
                }
            });
        }
        let limit = query.limit.unwrap_or(usize::MAX);
        let more = items.len() > limit;
        items.truncate(limit);
        let next = if more {
            items.last().map(|i| i.key.sk.clone())
        } else {
            None
        };
        Ok(Page {
            items: items.into_iter().cloned().collect(),
            next,
        })
    }

    async fn expired(
        &self,
        bucket: i64,
        shard: u32,
        now: i64,
        limit: usize,
        after: Option<String>,
    ) -> Result<ExpiredPage, StoreError> {
        check_shard(shard)?;
        // Mirrors the DynamoDB index: (exp_bucket, expires_at#pk#sk) ordering, reading only
        // items of the bucket's shard whose expiry is at or before `now`.
        let map = self.lock();
        let mut found: Vec<(String, Key, u64)> = map
            .values()
            .filter(|i| {
                i.expires_at
                    .is_some_and(|at| at <= now && expiry_bucket(at) == expiry_bucket(bucket))
                    && expiry_shard(&i.key) == shard
            })
            .map(|i| {
                let order = format!(
                    "{:020}#{}#{}",
                    i.expires_at.unwrap_or_default(),
                    i.key.pk,
                    i.key.sk
                );
                (order, i.key.clone(), i.version)
            })
            .filter(|(order, _, _)| after.as_ref().is_none_or(|a| order > a))
            .collect();
        found.sort();
        let more = found.len() > limit;
        found.truncate(limit);
        let next = if more {
            found.last().map(|(o, _, _)| o.clone())
        } else {
            None
        };
        Ok(ExpiredPage {
            items_read: found.len(),
            keys: found.into_iter().map(|(_, k, v)| (k, v)).collect(),
            next,
        })
    }

    async fn created_at(&self) -> Result<i64, StoreError> {
        Ok(self.created_at)
    }
}

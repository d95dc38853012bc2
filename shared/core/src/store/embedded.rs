//! The embedded store: an in-process ordered map with the same semantics as the DynamoDB adapter.
//! It backs `portal-local` and the fast tests; data lives as long as the process.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{
    Bound, Condition, ExpiredPage, Item, Key, Page, Query, RESERVED_ATTRIBUTES, Store, StoreError,
    Write, expiry_bucket,
};

#[derive(Default)]
pub struct EmbeddedStore {
    items: Mutex<BTreeMap<Key, Item>>,
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
    match RESERVED_ATTRIBUTES
        .iter()
        .find(|a| item.data.contains_key(**a))
    {
        Some(a) => Err(StoreError::Invalid(format!("reserved attribute {a}"))),
        None => Ok(()),
    }
}

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

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.is_empty() || writes.len() > 25 {
            return Err(StoreError::Invalid(format!(
                "a transaction holds 1 to 25 writes, not {}",
                writes.len()
            )));
        }
        for (i, w) in writes.iter().enumerate() {
            if writes[..i].iter().any(|o| o.key() == w.key()) {
                return Err(StoreError::Invalid("two writes on one key".into()));
            }
            if let Write::Put(item, _) = w {
                check_item(item)?;
            }
        }
        let mut map = self.lock();
        for (i, w) in writes.iter().enumerate() {
            let cond = match w {
                Write::Put(_, c) | Write::Delete(_, c) | Write::Check(_, c) => *c,
            };
            if !holds(map.get(w.key()), cond) {
                return Err(StoreError::TransactionConflict(Some(i)));
            }
        }
        for w in writes {
            match w {
                Write::Put(item, _) => {
                    map.insert(item.key.clone(), item);
                }
                Write::Delete(key, _) => {
                    map.remove(&key);
                }
                Write::Check(..) => {}
            }
        }
        Ok(())
    }

    async fn add(
        &self,
        key: &Key,
        field: &str,
        delta: i64,
        bound: Bound,
    ) -> Result<i64, StoreError> {
        if RESERVED_ATTRIBUTES.contains(&field) {
            return Err(StoreError::Invalid(format!("reserved attribute {field}")));
        }
        let mut map = self.lock();
        let current = match map.get(key).and_then(|i| i.data.get(field)) {
            None => 0,
            Some(v) => v
                .as_i64()
                .ok_or_else(|| StoreError::Corrupt(format!("{field} is not an integer")))?,
        };
        let new = current
            .checked_add(delta)
            .ok_or_else(|| StoreError::Invalid("counter overflow".into()))?;
        let ok = match bound {
            Bound::AtLeast(min) => new >= min,
            Bound::AtMost(max) => new <= max,
        };
        if !ok {
            return Err(StoreError::ConditionFailed);
        }
        let item = map.entry(key.clone()).or_insert_with(|| Item {
            key: key.clone(),
            version: 1,
            expires_at: None,
            data: Default::default(),
        });
        item.data.insert(field.to_owned(), new.into());
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
        now: i64,
        limit: usize,
        after: Option<String>,
    ) -> Result<ExpiredPage, StoreError> {
        // Mirrors the DynamoDB index: (exp_bucket, expires_at#pk#sk) ordering, reading only
        // items of the bucket whose expiry is at or before `now`.
        let map = self.lock();
        let mut found: Vec<(String, Key, u64)> = map
            .values()
            .filter(|i| {
                i.expires_at
                    .is_some_and(|at| at <= now && expiry_bucket(at) == bucket)
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
}

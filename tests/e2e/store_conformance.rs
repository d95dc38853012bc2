//! One conformance suite for every `Store` adapter: each case runs against the embedded store and
//! against DynamoDB (moto), so the two cannot drift.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use portal_core::store::{
    Bound, Condition, EXPIRY_BUCKET_SECONDS, EXPIRY_SHARDS, Item, Key, MAX_TRANSACTION_WRITES,
    Query, RESERVED_ATTRIBUTES, Store, StoreError, Write, expiry_shard,
};
use serde_json::{Map, Value, json};

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(&portal_core::store::EmbeddedStore::new()).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test]
                async fn $case() {
                    let store = crate::support::aws::dynamo_store().await;
                    super::$case(&store).await;
                }
            )*
        }
    };
}

conformance!(
    case_put_get_delete_unconditionally,
    case_condition_absent,
    case_condition_exists,
    case_condition_version,
    case_condition_absent_or_expired,
    case_item_metadata_round_trip,
    case_data_round_trip,
    case_reserved_attributes_refused,
    case_transact_all_or_nothing,
    case_transact_checks_and_validation,
    case_transact_token_tells_whether_it_committed,
    case_transact_add_is_bounded_and_atomic,
    case_add_at_least,
    case_add_at_most,
    case_add_errors,
    case_query_prefix_order_and_paging,
    case_query_after_outside_prefix,
    case_get_many,
    case_expired_reads_only_expired_items_of_the_bucket,
    case_expired_shards_partition_each_bucket,
    case_created_at_is_when_the_store_was_made,
    case_race_put_absent,
    case_race_add_bounded,
);

// ---------------------------------------------------------------------------------------------
// helpers

fn data(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn item(pk: &str, sk: &str, value: Value) -> Item {
    Item {
        key: Key::new(pk, sk),
        version: 1,
        expires_at: None,
        data: data(value),
    }
}

fn is_condition_failed<T: std::fmt::Debug>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::ConditionFailed))
}

#[track_caller]
fn assert_condition_failed<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        is_condition_failed(&result),
        "expected ConditionFailed, got {result:?}"
    );
}

#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::Invalid(_))),
        "expected Invalid, got {result:?}"
    );
}

async fn counter(store: &dyn Store, key: &Key, field: &str) -> Option<i64> {
    store
        .get(key)
        .await
        .unwrap()
        .and_then(|i| i.data.get(field).and_then(Value::as_i64))
}

fn sks(items: &[Item]) -> Vec<&str> {
    items.iter().map(|i| i.key.sk.as_str()).collect()
}

/// Polls every future concurrently on this task until all are done (their requests are in
/// flight at the same time), returning their outputs in order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future completed"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// single-item writes and conditions

async fn case_put_get_delete_unconditionally(store: &dyn Store) {
    let key = Key::new("T#acme#USER#1", "PROFILE");
    assert_eq!(store.get(&key).await.unwrap(), None);

    let first = item(&key.pk, &key.sk, json!({"name": "Ada"}));
    store.put(first.clone(), Condition::Always).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), Some(first));

    // A put replaces the whole item (fields not in the new item are gone).
    let second = item(&key.pk, &key.sk, json!({"email": "ada@example.com"})).with_version(2);
    store.put(second.clone(), Condition::Always).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), Some(second));

    // Another sort key and another partition are other items.
    assert_eq!(store.get(&Key::new(&key.pk, "OTHER")).await.unwrap(), None);
    assert_eq!(
        store
            .get(&Key::new("T#other#USER#1", &key.sk))
            .await
            .unwrap(),
        None
    );

    store.delete(&key, Condition::Always).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), None);
    // Deleting nothing unconditionally succeeds.
    store.delete(&key, Condition::Always).await.unwrap();
}

async fn case_condition_absent(store: &dyn Store) {
    let key = Key::new("T#acme#UNIQUE", "USERNAME#ada");
    let first = item(&key.pk, &key.sk, json!({"owner": "1"}));
    store.put(first.clone(), Condition::Absent).await.unwrap();

    let second = item(&key.pk, &key.sk, json!({"owner": "2"}));
    assert_condition_failed(store.put(second, Condition::Absent).await);
    assert_eq!(store.get(&key).await.unwrap(), Some(first));

    assert_condition_failed(store.delete(&key, Condition::Absent).await);
    // On a missing item, Absent holds for a delete (which deletes nothing).
    let missing = Key::new("T#acme#UNIQUE", "USERNAME#bob");
    store.delete(&missing, Condition::Absent).await.unwrap();
    assert_eq!(store.get(&missing).await.unwrap(), None);
}

async fn case_condition_exists(store: &dyn Store) {
    let key = Key::new("T#acme#USER#2", "PROFILE");
    let value = item(&key.pk, &key.sk, json!({"name": "Bob"}));
    assert_condition_failed(store.put(value.clone(), Condition::Exists).await);
    assert_eq!(store.get(&key).await.unwrap(), None);
    assert_condition_failed(store.delete(&key, Condition::Exists).await);

    store.put(value.clone(), Condition::Always).await.unwrap();
    let updated = item(&key.pk, &key.sk, json!({"name": "Robert"})).with_version(2);
    store.put(updated.clone(), Condition::Exists).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), Some(updated));

    store.delete(&key, Condition::Exists).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), None);
}

async fn case_condition_version(store: &dyn Store) {
    let key = Key::new("T#acme#USER#3", "PROFILE");
    let v1 = item(&key.pk, &key.sk, json!({"n": 1}));
    // No item: no version matches.
    assert_condition_failed(store.put(v1.clone(), Condition::VersionIs(1)).await);
    assert_condition_failed(store.delete(&key, Condition::VersionIs(1)).await);

    store.put(v1.clone(), Condition::Absent).await.unwrap();
    let v2 = item(&key.pk, &key.sk, json!({"n": 2})).with_version(2);
    assert_condition_failed(store.put(v2.clone(), Condition::VersionIs(2)).await);
    assert_condition_failed(store.put(v2.clone(), Condition::VersionIs(0)).await);
    assert_eq!(store.get(&key).await.unwrap(), Some(v1));

    store
        .put(v2.clone(), Condition::VersionIs(1))
        .await
        .unwrap();
    assert_eq!(store.get(&key).await.unwrap(), Some(v2.clone()));

    // A stale writer (still at version 1) loses.
    let stale = item(&key.pk, &key.sk, json!({"n": 99})).with_version(2);
    assert_condition_failed(store.put(stale, Condition::VersionIs(1)).await);
    assert_eq!(store.get(&key).await.unwrap(), Some(v2));

    assert_condition_failed(store.delete(&key, Condition::VersionIs(1)).await);
    store.delete(&key, Condition::VersionIs(2)).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), None);
}

async fn case_condition_absent_or_expired(store: &dyn Store) {
    let key = Key::new("T#acme#RESET", "TOKEN#abc");
    let first = item(&key.pk, &key.sk, json!({"user": "1"})).expiring_at(1_000);
    store
        .put(first.clone(), Condition::AbsentOrExpired(500))
        .await
        .unwrap();

    // Not expired before its expiry...
    let second = item(&key.pk, &key.sk, json!({"user": "2"})).expiring_at(2_000);
    assert_condition_failed(
        store
            .put(second.clone(), Condition::AbsentOrExpired(999))
            .await,
    );
    assert_eq!(store.get(&key).await.unwrap(), Some(first.clone()));

    // ... expired at it (expires_at <= now), and the store still returns it: the domain checks.
    assert_eq!(store.get(&key).await.unwrap(), Some(first));
    store
        .put(second.clone(), Condition::AbsentOrExpired(1_000))
        .await
        .unwrap();
    assert_eq!(store.get(&key).await.unwrap(), Some(second));

    // An item without expiry never counts as expired.
    let permanent_key = Key::new("T#acme#USER#4", "PROFILE");
    let permanent = item(&permanent_key.pk, &permanent_key.sk, json!({"x": 1}));
    store
        .put(permanent.clone(), Condition::Always)
        .await
        .unwrap();
    assert_condition_failed(
        store
            .put(permanent.clone(), Condition::AbsentOrExpired(i64::MAX))
            .await,
    );
    assert_condition_failed(
        store
            .delete(&permanent_key, Condition::AbsentOrExpired(i64::MAX))
            .await,
    );

    // Deletes follow the same rule.
    assert_condition_failed(store.delete(&key, Condition::AbsentOrExpired(1_999)).await);
    store
        .delete(&key, Condition::AbsentOrExpired(2_000))
        .await
        .unwrap();
    assert_eq!(store.get(&key).await.unwrap(), None);
}

async fn case_item_metadata_round_trip(store: &dyn Store) {
    let with_expiry = Item {
        key: Key::new("T#acme#SESSION#s1", "SESSION"),
        version: u64::from(u32::MAX) + 7,
        expires_at: Some(1_700_000_123),
        data: data(json!({"kind": "staff"})),
    };
    store
        .put(with_expiry.clone(), Condition::Always)
        .await
        .unwrap();
    let read = store.get(&with_expiry.key).await.unwrap().unwrap();
    assert_eq!(read, with_expiry);
    assert_eq!(
        read.expiry_bucket(),
        Some(1_700_000_123 - 1_700_000_123 % 3600)
    );

    // Replacing an expiring item by one without expiry removes the expiry.
    let without = Item {
        expires_at: None,
        ..with_expiry.clone()
    };
    store.put(without.clone(), Condition::Always).await.unwrap();
    assert_eq!(store.get(&without.key).await.unwrap(), Some(without));

    // Keys with the characters domain keys use.
    let odd = item("T#ac-me_1#EMAIL#a+b@example.com", "é#ü#/ #", json!({}));
    store.put(odd.clone(), Condition::Always).await.unwrap();
    assert_eq!(store.get(&odd.key).await.unwrap(), Some(odd));
}

async fn case_data_round_trip(store: &dyn Store) {
    let value = json!({
        "string": "héllo \"wörld\" ✓",
        "empty_string": "",
        "int": 42,
        "negative": -17,
        "big": 9_007_199_254_740_993_i64,
        "zero": 0,
        "float": 1.5,
        "true": true,
        "false": false,
        "null": null,
        "empty_list": [],
        "empty_map": {},
        "list": [1, "two", false, null, [3, []], {"k": "v"}],
        "strings": ["a", "a", "b"],
        "map": {
            "nested": {"deeper": {"leaf": "x", "n": -1, "l": ["", {}]}},
            "empty": "",
        },
    });
    let stored = item("T#acme#USER#5", "PROFILE", value);
    store.put(stored.clone(), Condition::Always).await.unwrap();
    let read = store.get(&stored.key).await.unwrap().unwrap();
    assert_eq!(read, stored);
    assert_eq!(
        serde_json::to_string(&Value::Object(read.data.clone())).unwrap(),
        serde_json::to_string(&Value::Object(stored.data.clone())).unwrap()
    );

    // Through a typed record too.
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Record {
        name: String,
        tags: Vec<String>,
        age: Option<u32>,
    }
    let record = Record {
        name: "Ada".into(),
        tags: vec![],
        age: None,
    };
    let typed = Item::from_record(Key::new("T#acme#USER#6", "PROFILE"), &record).unwrap();
    store.put(typed.clone(), Condition::Always).await.unwrap();
    let back: Record = store
        .get(&typed.key)
        .await
        .unwrap()
        .unwrap()
        .record()
        .unwrap();
    assert_eq!(back, record);
}

async fn case_reserved_attributes_refused(store: &dyn Store) {
    for name in RESERVED_ATTRIBUTES {
        let mut bad = item("T#acme#USER#7", "PROFILE", json!({"ok": 1}));
        bad.data.insert(name.to_owned(), json!("x"));
        assert_invalid(store.put(bad.clone(), Condition::Always).await);
        assert_invalid(
            store
                .transact(vec![
                    Write::Put(item("T#acme#USER#7", "OTHER", json!({})), Condition::Absent),
                    Write::Put(bad, Condition::Always),
                ])
                .await,
        );
        assert_invalid(
            store
                .add(
                    &Key::new("T#acme#USER#7", "COUNTER"),
                    name,
                    1,
                    Bound::AtMost(10),
                )
                .await,
        );
    }
    // Nothing was written.
    let page = store
        .query("T#acme#USER#7", Query::default())
        .await
        .unwrap();
    assert_eq!(page.items, vec![]);
}

// ---------------------------------------------------------------------------------------------
// transactions

async fn case_transact_all_or_nothing(store: &dyn Store) {
    let pk = "T#acme#STAFF";
    let existing = item(pk, "USERNAME#ada", json!({"staff": "1"}));
    store
        .put(existing.clone(), Condition::Always)
        .await
        .unwrap();
    let doomed = item(pk, "DOOMED", json!({"x": 1}));
    store.put(doomed.clone(), Condition::Always).await.unwrap();

    // The second write's condition fails: nothing is applied, and the index is reported.
    let result = store
        .transact(vec![
            Write::Put(
                item(pk, "STAFF#2", json!({"name": "Ada 2"})),
                Condition::Absent,
            ),
            Write::Put(
                item(pk, "USERNAME#ada", json!({"staff": "2"})),
                Condition::Absent,
            ),
            Write::Delete(doomed.key.clone(), Condition::Always),
        ])
        .await;
    assert!(
        matches!(result, Err(StoreError::TransactionConflict(Some(1)))),
        "got {result:?}"
    );
    assert_eq!(store.get(&Key::new(pk, "STAFF#2")).await.unwrap(), None);
    assert_eq!(
        store.get(&existing.key).await.unwrap(),
        Some(existing.clone())
    );
    assert_eq!(store.get(&doomed.key).await.unwrap(), Some(doomed.clone()));

    // The last write fails.
    let result = store
        .transact(vec![
            Write::Put(item(pk, "STAFF#2", json!({})), Condition::Absent),
            Write::Delete(doomed.key.clone(), Condition::VersionIs(9)),
        ])
        .await;
    assert!(
        matches!(result, Err(StoreError::TransactionConflict(Some(1)))),
        "got {result:?}"
    );
    assert_eq!(store.get(&Key::new(pk, "STAFF#2")).await.unwrap(), None);

    // All conditions hold: everything is applied.
    let staff = item(pk, "STAFF#2", json!({"name": "Bob"}));
    let username = item(pk, "USERNAME#bob", json!({"staff": "2"}));
    let replaced = item(pk, "USERNAME#ada", json!({"staff": "1", "renamed": true})).with_version(2);
    store
        .transact(vec![
            Write::Put(staff.clone(), Condition::Absent),
            Write::Put(username.clone(), Condition::AbsentOrExpired(0)),
            Write::Put(replaced.clone(), Condition::VersionIs(1)),
            Write::Delete(doomed.key.clone(), Condition::Exists),
        ])
        .await
        .unwrap();
    assert_eq!(store.get(&staff.key).await.unwrap(), Some(staff));
    assert_eq!(store.get(&username.key).await.unwrap(), Some(username));
    assert_eq!(store.get(&replaced.key).await.unwrap(), Some(replaced));
    assert_eq!(store.get(&doomed.key).await.unwrap(), None);
}

async fn case_transact_checks_and_validation(store: &dyn Store) {
    let pk = "T#acme#CREDITS";
    let account = item(pk, "ACCOUNT", json!({"active": true}));
    store.put(account.clone(), Condition::Always).await.unwrap();

    // A failing check cancels the writes, and names its index.
    let result = store
        .transact(vec![
            Write::Put(item(pk, "A", json!({})), Condition::Always),
            Write::Check(account.key.clone(), Condition::VersionIs(1)),
            Write::Check(Key::new(pk, "MISSING"), Condition::Exists),
        ])
        .await;
    assert!(
        matches!(result, Err(StoreError::TransactionConflict(Some(2)))),
        "got {result:?}"
    );
    assert_eq!(store.get(&Key::new(pk, "A")).await.unwrap(), None);

    // Checks that hold (including Always) write nothing themselves.
    store
        .transact(vec![
            Write::Put(item(pk, "A", json!({})), Condition::Always),
            Write::Check(account.key.clone(), Condition::VersionIs(1)),
            Write::Check(Key::new(pk, "MISSING"), Condition::Absent),
            Write::Check(Key::new(pk, "ALSO-MISSING"), Condition::Always),
        ])
        .await
        .unwrap();
    assert!(store.get(&Key::new(pk, "A")).await.unwrap().is_some());
    assert_eq!(store.get(&Key::new(pk, "MISSING")).await.unwrap(), None);
    assert_eq!(
        store.get(&Key::new(pk, "ALSO-MISSING")).await.unwrap(),
        None
    );
    assert_eq!(store.get(&account.key).await.unwrap(), Some(account));

    // Invalid transactions are refused before anything is written.
    assert_invalid(store.transact(vec![]).await);
    let many = |n: usize| -> Vec<Write> {
        (0..n)
            .map(|i| {
                Write::Put(
                    item(pk, &format!("MANY#{i:03}"), json!({})),
                    Condition::Always,
                )
            })
            .collect()
    };
    // 100 actions is DynamoDB's limit; one of them is the transaction's token marker.
    assert_invalid(store.transact(many(MAX_TRANSACTION_WRITES + 1)).await);
    assert_invalid(
        store
            .transact(vec![
                Write::Put(item(pk, "DUP", json!({})), Condition::Always),
                Write::Delete(Key::new(pk, "DUP"), Condition::Always),
            ])
            .await,
    );
    let page = store
        .query(
            pk,
            Query {
                sk_prefix: "MANY#".into(),
                ..Query::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items, vec![]);
    assert_eq!(store.get(&Key::new(pk, "DUP")).await.unwrap(), None);

    // 99 writes (100 actions with the marker) is the maximum and works.
    store.transact(many(MAX_TRANSACTION_WRITES)).await.unwrap();
    let page = store
        .query(
            pk,
            Query {
                sk_prefix: "MANY#".into(),
                ..Query::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), MAX_TRANSACTION_WRITES);
}

async fn case_transact_token_tells_whether_it_committed(store: &dyn Store) {
    let pk = "T#acme#TOKENS";
    let writes = vec![Write::Put(
        item(pk, "ONCE", json!({"n": 1})),
        Condition::Absent,
    )];
    assert!(!store.was_applied("token-never-used").await.unwrap());
    store.apply(&writes, "token-once").await.unwrap();
    assert!(store.was_applied("token-once").await.unwrap());
    // The same transaction sent again (a retry after a lost answer) never applies twice:
    // DynamoDB answers a repeated token as applied; a server without idempotency fails the
    // conditions, and the token says it had committed.
    match store.apply(&writes, "token-once").await {
        Ok(()) => {}
        Err(StoreError::TransactionConflict(_)) => {
            assert!(store.was_applied("token-once").await.unwrap());
        }
        other => panic!("a replay answered {other:?}"),
    }
    // A transaction that failed its conditions left no token behind.
    let refused = store.apply(&writes, "token-refused").await;
    assert!(
        matches!(refused, Err(StoreError::TransactionConflict(Some(0)))),
        "{refused:?}"
    );
    assert!(!store.was_applied("token-refused").await.unwrap());
}

async fn case_transact_add_is_bounded_and_atomic(store: &dyn Store) {
    let pk = "T#acme#TXCOUNT";
    let key = Key::new(pk, "CREDITS");
    let add = |delta: i64| Write::Add {
        key: key.clone(),
        field: "credits".into(),
        delta,
        bound: Bound::AtLeast(0),
    };
    store.transact(vec![add(2)]).await.unwrap();
    store.transact(vec![add(-1)]).await.unwrap();
    store.transact(vec![add(-1)]).await.unwrap();
    // Below zero: the whole transaction fails at the counter's index, nothing else is written.
    let refused = store
        .transact(vec![
            Write::Put(item(pk, "WITH", json!({})), Condition::Absent),
            add(-1),
        ])
        .await;
    assert!(
        matches!(refused, Err(StoreError::TransactionConflict(Some(1)))),
        "{refused:?}"
    );
    assert_eq!(store.get(&Key::new(pk, "WITH")).await.unwrap(), None);
    let stored = store.get(&key).await.unwrap().unwrap();
    assert_eq!(stored.data.get("credits"), Some(&json!(0)));
}

// ---------------------------------------------------------------------------------------------
// counters

async fn case_add_at_least(store: &dyn Store) {
    let key = Key::new("T#acme#ACCOUNT", "CREDITS");
    // Missing item: created with version 1, the missing field counting as 0.
    assert_eq!(
        store.add(&key, "sms", 5, Bound::AtLeast(0)).await.unwrap(),
        5
    );
    let created = store.get(&key).await.unwrap().unwrap();
    assert_eq!(created.version, 1);
    assert_eq!(created.expires_at, None);
    assert_eq!(created.data, data(json!({"sms": 5})));

    assert_eq!(
        store.add(&key, "sms", -5, Bound::AtLeast(0)).await.unwrap(),
        0
    );
    assert_condition_failed(store.add(&key, "sms", -1, Bound::AtLeast(0)).await);
    assert_eq!(counter(store, &key, "sms").await, Some(0));

    // A missing item whose result would break the bound is not created.
    let missing = Key::new("T#acme#ACCOUNT", "NO-CREDITS");
    assert_condition_failed(store.add(&missing, "sms", -1, Bound::AtLeast(0)).await);
    assert_eq!(store.get(&missing).await.unwrap(), None);

    // A missing field on an existing item counts as 0; other fields, version and expiry stay.
    let other = Key::new("T#acme#ACCOUNT", "SETTINGS");
    let settings = item(&other.pk, &other.sk, json!({"name": "Acme"}))
        .with_version(7)
        .expiring_at(4_000_000_000);
    store
        .put(settings.clone(), Condition::Always)
        .await
        .unwrap();
    assert_condition_failed(store.add(&other, "sms", -1, Bound::AtLeast(0)).await);
    assert_eq!(store.get(&other).await.unwrap(), Some(settings.clone()));
    assert_eq!(
        store
            .add(&other, "sms", -1, Bound::AtLeast(-1))
            .await
            .unwrap(),
        -1
    );
    assert_eq!(
        store
            .add(&other, "sms", 10, Bound::AtLeast(5))
            .await
            .unwrap(),
        9
    );
    let updated = store.get(&other).await.unwrap().unwrap();
    assert_eq!(updated.version, 7);
    assert_eq!(updated.expires_at, Some(4_000_000_000));
    assert_eq!(updated.data, data(json!({"name": "Acme", "sms": 9})));

    // Exactly on the bound is allowed; a positive delta may still fail a high minimum.
    assert_eq!(
        store
            .add(&other, "sms", 1, Bound::AtLeast(10))
            .await
            .unwrap(),
        10
    );
    assert_condition_failed(store.add(&other, "sms", 1, Bound::AtLeast(12)).await);
    assert_eq!(
        store
            .add(&other, "sms", 0, Bound::AtLeast(10))
            .await
            .unwrap(),
        10
    );
    assert_condition_failed(store.add(&other, "sms", 0, Bound::AtLeast(11)).await);
    assert_eq!(counter(store, &other, "sms").await, Some(10));
}

async fn case_add_at_most(store: &dyn Store) {
    let key = Key::new("T#acme#LOGIN#ada", "FAILURES");
    assert_eq!(
        store
            .add(&key, "failed", 3, Bound::AtMost(5))
            .await
            .unwrap(),
        3
    );
    assert_condition_failed(store.add(&key, "failed", 3, Bound::AtMost(5)).await);
    assert_eq!(
        store
            .add(&key, "failed", 2, Bound::AtMost(5))
            .await
            .unwrap(),
        5
    );
    assert_condition_failed(store.add(&key, "failed", 1, Bound::AtMost(5)).await);
    assert_eq!(
        store
            .add(&key, "failed", -4, Bound::AtMost(5))
            .await
            .unwrap(),
        1
    );
    assert_eq!(counter(store, &key, "failed").await, Some(1));

    // Missing item, bound broken by the delta alone: not created.
    let missing = Key::new("T#acme#LOGIN#bob", "FAILURES");
    assert_condition_failed(store.add(&missing, "failed", 6, Bound::AtMost(5)).await);
    assert_eq!(store.get(&missing).await.unwrap(), None);
    // Missing field, negative bound.
    assert_eq!(
        store
            .add(&missing, "failed", -3, Bound::AtMost(-2))
            .await
            .unwrap(),
        -3
    );
    assert_condition_failed(store.add(&key, "other", 1, Bound::AtMost(0)).await);

    // Two counters on one item are independent.
    assert_eq!(
        store.add(&key, "other", 1, Bound::AtMost(1)).await.unwrap(),
        1
    );
    assert_eq!(counter(store, &key, "failed").await, Some(1));
    assert_eq!(
        store.get(&key).await.unwrap().unwrap().data,
        data(json!({"failed": 1, "other": 1}))
    );
}

async fn case_add_errors(store: &dyn Store) {
    // A field that is not an integer is corrupt, and is left alone.
    let key = Key::new("T#acme#ACCOUNT", "ODD");
    let odd = item(&key.pk, &key.sk, json!({"n": "seven"}));
    store.put(odd.clone(), Condition::Always).await.unwrap();
    let result = store.add(&key, "n", 1, Bound::AtMost(100)).await;
    assert!(
        matches!(result, Err(StoreError::Corrupt(_))),
        "got {result:?}"
    );
    assert_eq!(store.get(&key).await.unwrap(), Some(odd));

    // A result beyond i64 is refused as invalid, not wrapped.
    let big = Key::new("T#acme#ACCOUNT", "BIG");
    assert_eq!(
        store
            .add(&big, "n", i64::MAX, Bound::AtMost(i64::MAX))
            .await
            .unwrap(),
        i64::MAX
    );
    assert_invalid(store.add(&big, "n", 1, Bound::AtMost(i64::MAX)).await);
    assert_eq!(counter(store, &big, "n").await, Some(i64::MAX));
    assert_eq!(
        store
            .add(&big, "n", i64::MIN, Bound::AtLeast(i64::MIN))
            .await
            .unwrap(),
        -1
    );
    assert_eq!(
        store
            .add(&big, "n", i64::MIN + 1, Bound::AtLeast(i64::MIN))
            .await
            .unwrap(),
        i64::MIN
    );
    assert_invalid(store.add(&big, "n", -1, Bound::AtLeast(i64::MIN)).await);
    assert_eq!(counter(store, &big, "n").await, Some(i64::MIN));
}

// ---------------------------------------------------------------------------------------------
// queries

async fn case_query_prefix_order_and_paging(store: &dyn Store) {
    let pk = "T#acme#STAFF#1";
    for sk in [
        "SESSION#3",
        "AUDIT#2",
        "SESSION#1",
        "AUDIT#1",
        "SESSION#2",
        "PROFILE",
    ] {
        store
            .put(item(pk, sk, json!({"name": sk})), Condition::Always)
            .await
            .unwrap();
    }
    // Same sort keys in another partition must never show.
    store
        .put(
            item("T#acme#STAFF#2", "SESSION#9", json!({})),
            Condition::Always,
        )
        .await
        .unwrap();
    store
        .put(
            item("T#acme#STAFF#10", "SESSION#8", json!({})),
            Condition::Always,
        )
        .await
        .unwrap();

    let query = |prefix: &str| Query {
        sk_prefix: prefix.into(),
        ..Query::default()
    };

    let all = store.query(pk, Query::default()).await.unwrap();
    assert_eq!(
        sks(&all.items),
        [
            "AUDIT#1",
            "AUDIT#2",
            "PROFILE",
            "SESSION#1",
            "SESSION#2",
            "SESSION#3"
        ]
    );
    assert_eq!(all.next, None);
    assert_eq!(
        all.items[3],
        item(pk, "SESSION#1", json!({"name": "SESSION#1"}))
    );

    let sessions = store.query(pk, query("SESSION#")).await.unwrap();
    assert_eq!(
        sks(&sessions.items),
        ["SESSION#1", "SESSION#2", "SESSION#3"]
    );
    assert_eq!(sessions.next, None);

    let descending = store
        .query(
            pk,
            Query {
                descending: true,
                ..query("SESSION#")
            },
        )
        .await
        .unwrap();
    assert_eq!(
        sks(&descending.items),
        ["SESSION#3", "SESSION#2", "SESSION#1"]
    );
    assert_eq!(descending.next, None);

    // Paging forwards with limit and next.
    let first = store
        .query(
            pk,
            Query {
                limit: Some(2),
                ..query("SESSION#")
            },
        )
        .await
        .unwrap();
    assert_eq!(sks(&first.items), ["SESSION#1", "SESSION#2"]);
    assert_eq!(first.next.as_deref(), Some("SESSION#2"));
    let second = store
        .query(
            pk,
            Query {
                limit: Some(2),
                after: first.next,
                ..query("SESSION#")
            },
        )
        .await
        .unwrap();
    assert_eq!(sks(&second.items), ["SESSION#3"]);
    assert_eq!(second.next, None);

    // A limit that exactly exhausts the results has no next.
    let exact = store
        .query(
            pk,
            Query {
                limit: Some(3),
                ..query("SESSION#")
            },
        )
        .await
        .unwrap();
    assert_eq!(exact.items.len(), 3);
    assert_eq!(exact.next, None);

    // Paging backwards.
    let first = store
        .query(
            pk,
            Query {
                descending: true,
                limit: Some(1),
                ..query("SESSION#")
            },
        )
        .await
        .unwrap();
    assert_eq!(sks(&first.items), ["SESSION#3"]);
    assert_eq!(first.next.as_deref(), Some("SESSION#3"));
    let rest = store
        .query(
            pk,
            Query {
                descending: true,
                after: first.next,
                ..query("SESSION#")
            },
        )
        .await
        .unwrap();
    assert_eq!(sks(&rest.items), ["SESSION#2", "SESSION#1"]);
    assert_eq!(rest.next, None);

    // `after` need not be a stored sort key.
    let after_gap = store
        .query(
            pk,
            Query {
                after: Some("SESSION#15".into()),
                ..query("SESSION#")
            },
        )
        .await
        .unwrap();
    assert_eq!(sks(&after_gap.items), ["SESSION#2", "SESSION#3"]);

    // Walking every page of one item yields everything once.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .query(
                pk,
                Query {
                    limit: Some(1),
                    after: after.take(),
                    ..Query::default()
                },
            )
            .await
            .unwrap();
        assert!(page.items.len() <= 1);
        seen.extend(page.items.into_iter().map(|i| i.key.sk));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "AUDIT#1",
            "AUDIT#2",
            "PROFILE",
            "SESSION#1",
            "SESSION#2",
            "SESSION#3"
        ]
    );

    // Zero limit, no match, empty partition.
    let zero = store
        .query(
            pk,
            Query {
                limit: Some(0),
                ..Query::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((zero.items.len(), zero.next), (0, None));
    let none = store.query(pk, query("NOPE#")).await.unwrap();
    assert_eq!((none.items.len(), none.next), (0, None));
    let empty = store.query("T#nobody", Query::default()).await.unwrap();
    assert_eq!((empty.items.len(), empty.next), (0, None));
}

async fn case_query_after_outside_prefix(store: &dyn Store) {
    let pk = "T#acme#STAFF#3";
    for sk in ["A#1", "B#1", "B#2", "C#1"] {
        store
            .put(item(pk, sk, json!({})), Condition::Always)
            .await
            .unwrap();
    }
    let run = |after: &str, descending: bool| Query {
        sk_prefix: "B#".into(),
        descending,
        after: Some(after.into()),
        limit: None,
    };
    let cases = [
        ("A#9", false, vec!["B#1", "B#2"]),
        ("A#9", true, vec![]),
        ("B", false, vec!["B#1", "B#2"]),
        ("B", true, vec![]),
        ("C", false, vec![]),
        ("C", true, vec!["B#2", "B#1"]),
        ("B$", false, vec![]),
        ("B$", true, vec!["B#2", "B#1"]),
        ("", false, vec!["B#1", "B#2"]),
        ("", true, vec![]),
    ];
    for (after, descending, expected) in cases {
        let page = store.query(pk, run(after, descending)).await.unwrap();
        assert_eq!(
            sks(&page.items),
            expected,
            "after {after:?}, descending {descending}"
        );
        assert_eq!(page.next, None);
    }
}

async fn case_get_many(store: &dyn Store) {
    let pk = "T#acme#USERS";
    let mut keys = Vec::new();
    for i in 0..130 {
        let stored = item(pk, &format!("USER#{i:03}"), json!({"i": i}));
        keys.push(stored.key.clone());
        store.put(stored, Condition::Always).await.unwrap();
    }
    assert_eq!(store.get_many(&[]).await.unwrap(), vec![]);

    let mut wanted = vec![
        keys[3].clone(),
        Key::new(pk, "USER#missing"),
        keys[7].clone(),
        Key::new("T#other#USERS", "USER#003"),
    ];
    let mut found = store.get_many(&wanted).await.unwrap();
    found.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(
        found,
        vec![
            item(pk, "USER#003", json!({"i": 3})),
            item(pk, "USER#007", json!({"i": 7})),
        ]
    );

    // More keys than one batch holds (DynamoDB: 100), every one found once.
    wanted = keys.clone();
    let mut found = store.get_many(&wanted).await.unwrap();
    found.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(found.len(), 130);
    for (i, found) in found.iter().enumerate() {
        assert_eq!(found.key, keys[i]);
        assert_eq!(found.data, data(json!({"i": i})));
    }

    // A key asked twice is answered twice (as the embedded store does).
    let twice = store
        .get_many(&[keys[1].clone(), keys[1].clone()])
        .await
        .unwrap();
    assert_eq!(twice.len(), 2);
    assert!(twice.iter().all(|i| i.key == keys[1]));
}

// ---------------------------------------------------------------------------------------------
// expiry

/// `count` keys of partition `pk`, sort keys `prefix` + a number, all in expiry shard `shard`.
fn keys_in_shard(pk: &str, prefix: &str, shard: u32, count: usize) -> Vec<Key> {
    (0..)
        .map(|n| Key::new(pk, format!("{prefix}{n}")))
        .filter(|k| expiry_shard(k) == shard)
        .take(count)
        .collect()
}

async fn case_expired_reads_only_expired_items_of_the_bucket(store: &dyn Store) {
    let bucket = 1_700_000_000 - 1_700_000_000 % EXPIRY_BUCKET_SECONDS;
    let now = bucket + 100;
    let shard = 3;
    let put = |key: Key, version: u64, expires_at: Option<i64>| {
        let mut stored = item(&key.pk, &key.sk, json!({"name": key.sk})).with_version(version);
        stored.expires_at = expires_at;
        stored
    };
    let mut tokens = keys_in_shard("T#acme#RESET", "TOKEN#", shard, 7).into_iter();
    let mut token = || tokens.next().unwrap();
    let one = |pk: &str, prefix: &str| keys_in_shard(pk, prefix, shard, 1).remove(0);
    let expired = [
        put(token(), 1, Some(bucket)),
        put(token(), 2, Some(bucket + 30)),
        put(one("T#beta#SESSION#x", "SESSION"), 3, Some(bucket + 30)),
        put(one("T#beta#INVITE", "INVITE#"), 4, Some(bucket + 99)),
        put(one("T#gamma#CODE", "CODE#"), 5, Some(now)),
    ];
    let others = [
        // Same bucket, not yet expired.
        put(token(), 1, Some(now + 1)),
        put(token(), 1, Some(bucket + EXPIRY_BUCKET_SECONDS - 1)),
        // Expired, but in the previous bucket.
        put(token(), 1, Some(bucket - 1)),
        // Next bucket.
        put(token(), 1, Some(bucket + EXPIRY_BUCKET_SECONDS)),
        // Never expires.
        put(token(), 1, None),
        // Expired in the bucket, but in another shard.
        put(
            keys_in_shard("T#acme#RESET", "OTHER#", shard + 1, 1).remove(0),
            1,
            Some(bucket + 1),
        ),
    ];
    for stored in expired.iter().chain(others.iter()) {
        store.put(stored.clone(), Condition::Always).await.unwrap();
    }
    let mut wanted: Vec<(Key, u64)> = expired.iter().map(|i| (i.key.clone(), i.version)).collect();
    wanted.sort();

    // One page holds everything.
    let page = store.expired(bucket, shard, now, 100, None).await.unwrap();
    assert_eq!(page.items_read, page.keys.len(), "read only expired items");
    assert_eq!(page.next, None);
    let mut keys = page.keys.clone();
    keys.sort();
    assert_eq!(keys, wanted);

    // Pages of two: every expired item once, in expiry order, reading only what is returned.
    let expiry_of = |key: &Key| {
        expired
            .iter()
            .find(|i| &i.key == key)
            .and_then(|i| i.expires_at)
            .unwrap()
    };
    let mut all = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = store
            .expired(bucket, shard, now, 2, after.take())
            .await
            .unwrap();
        pages += 1;
        assert!(pages <= 4, "paging does not end");
        assert!(page.keys.len() <= 2);
        assert_eq!(page.items_read, page.keys.len(), "read only expired items");
        all.extend(page.keys);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let order: Vec<i64> = all.iter().map(|(k, _)| expiry_of(k)).collect();
    let mut sorted_order = order.clone();
    sorted_order.sort();
    assert_eq!(order, sorted_order, "pages follow expiry order");
    all.sort();
    assert_eq!(all, wanted);

    // Earlier, fewer items have expired; other buckets and shards are separate.
    let early = store
        .expired(bucket, shard, bucket + 29, 100, None)
        .await
        .unwrap();
    assert_eq!(early.keys, vec![(expired[0].key.clone(), 1)]);
    assert_eq!(early.items_read, 1);
    let previous = store
        .expired(bucket - EXPIRY_BUCKET_SECONDS, shard, now, 100, None)
        .await
        .unwrap();
    assert_eq!(previous.keys, vec![(others[2].key.clone(), 1)]);
    let neighbour = store
        .expired(bucket, shard + 1, now, 100, None)
        .await
        .unwrap();
    assert_eq!(neighbour.keys, vec![(others[5].key.clone(), 1)]);
    let nothing = store
        .expired(
            bucket + 2 * EXPIRY_BUCKET_SECONDS,
            shard,
            i64::MAX,
            100,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (nothing.keys.len(), nothing.items_read, nothing.next),
        (0, 0, None)
    );
    // A shard outside the index's range is a caller's bug.
    assert_invalid(store.expired(bucket, EXPIRY_SHARDS, now, 100, None).await);

    // Deleting (as the purge does, guarded by the version) removes an item from the index.
    store
        .delete(&expired[0].key, Condition::VersionIs(1))
        .await
        .unwrap();
    let after_delete = store.expired(bucket, shard, now, 100, None).await.unwrap();
    assert_eq!(after_delete.keys.len(), 4);
    assert!(after_delete.keys.iter().all(|(k, _)| k != &expired[0].key));
}

async fn case_expired_shards_partition_each_bucket(store: &dyn Store) {
    // 160 items expiring in one hour: each is found in exactly one shard, the one its key
    // hashes to, and the hash spreads them over every shard (no hot index partition key).
    let bucket = 1_700_000_000 - 1_700_000_000 % EXPIRY_BUCKET_SECONDS;
    let now = bucket + EXPIRY_BUCKET_SECONDS - 1;
    let writes: Vec<Write> = (0..160)
        .map(|i| {
            let mut stored = item(
                &format!("T#t{}#SESSION#{i}", i % 7),
                "SESSION",
                json!({"i": i}),
            );
            stored.expires_at = Some(bucket + i);
            Write::Put(stored, Condition::Absent)
        })
        .collect();
    for chunk in writes.chunks(40) {
        store.transact(chunk.to_vec()).await.unwrap();
    }
    let mut found = Vec::new();
    for shard in 0..EXPIRY_SHARDS {
        let page = store.expired(bucket, shard, now, 100, None).await.unwrap();
        assert_eq!(page.next, None);
        assert!(
            !page.keys.is_empty(),
            "shard {shard} holds none of 160 items"
        );
        for (key, _) in &page.keys {
            assert_eq!(expiry_shard(key), shard, "{key:?} found in shard {shard}");
        }
        found.extend(page.keys.into_iter().map(|(k, _)| k));
    }
    found.sort();
    let mut wanted: Vec<Key> = writes.iter().map(|w| w.key().clone()).collect();
    wanted.sort();
    assert_eq!(found, wanted, "every item in exactly one shard");
}

async fn case_created_at_is_when_the_store_was_made(store: &dyn Store) {
    // Each case gets a store made just before it (a new table on moto).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let created = store.created_at().await.unwrap();
    assert!(
        (now - 600..=now).contains(&created),
        "created at {created}, now {now}"
    );
    // It is a fact about the table: writing items does not move it.
    store
        .put(item("T#acme#X", "Y", json!({})), Condition::Always)
        .await
        .unwrap();
    assert_eq!(store.created_at().await.unwrap(), created);
}

// ---------------------------------------------------------------------------------------------
// races

async fn case_race_put_absent(store: &dyn Store) {
    let key = Key::new("T#acme#UNIQUE", "EMAIL#race@example.com");
    let attempts: Vec<_> = (0..16)
        .map(|i| {
            let candidate = item(&key.pk, &key.sk, json!({"owner": i}));
            store.put(candidate, Condition::Absent)
        })
        .collect();
    let results = join_all(attempts).await;
    let winners: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_ok())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one winner: {results:?}");
    assert_eq!(
        results.iter().filter(|r| is_condition_failed(r)).count(),
        15,
        "every other attempt fails its condition: {results:?}"
    );
    let stored = store.get(&key).await.unwrap().unwrap();
    assert_eq!(stored.data, data(json!({"owner": winners[0]})));
}

async fn case_race_add_bounded(store: &dyn Store) {
    let key = Key::new("T#acme#ACCOUNT", "SMS-CREDITS");
    assert_eq!(
        store
            .add(&key, "credits", 3, Bound::AtLeast(0))
            .await
            .unwrap(),
        3
    );
    let spends: Vec<_> = (0..10)
        .map(|_| store.add(&key, "credits", -1, Bound::AtLeast(0)))
        .collect();
    let results = join_all(spends).await;
    let mut values: Vec<i64> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    values.sort();
    assert_eq!(
        values,
        [0, 1, 2],
        "exactly three spends succeed: {results:?}"
    );
    assert_eq!(
        results.iter().filter(|r| is_condition_failed(r)).count(),
        7,
        "the others fail their bound: {results:?}"
    );
    assert_eq!(counter(store, &key, "credits").await, Some(0));
}

// ---------------------------------------------------------------------------------------------
// DynamoDB-specific: how failures of the service map

mod dynamodb_failures {
    use std::net::TcpListener;

    use portal_aws::DynamoStore;
    use portal_core::store::{Condition, Key, Store, StoreError};

    use crate::support::aws;

    #[tokio::test]
    async fn unreachable_endpoint_is_unavailable() {
        // A port nobody listens on.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let config = aws::sdk_config_for(&format!("http://127.0.0.1:{port}")).await;
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), "anything");
        let result = store.get(&Key::new("T#acme#X", "Y")).await;
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "got {result:?}"
        );
    }

    #[tokio::test]
    async fn missing_table_is_unavailable() {
        let config = aws::sdk_config().await;
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&config),
            aws::unique("missing"),
        );
        let result = store
            .delete(&Key::new("T#acme#X", "Y"), Condition::Always)
            .await;
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "got {result:?}"
        );
    }

    #[tokio::test]
    async fn ensure_table_is_idempotent() {
        let store = aws::dynamo_store().await;
        store.ensure_table().await.unwrap();
        store.ensure_table().await.unwrap();
    }

    #[tokio::test]
    async fn malformed_expiry_token_is_invalid() {
        let store = aws::dynamo_store().await;
        for token in [
            "",
            "{}",
            "not json",
            r#"{"pk":"a","sk":"b","exp_bucket":0,"expires_at":1}"#,
            // Well formed, but from shard 1 of the bucket, not shard 0.
            r#"{"pk":"a","sk":"b","exp_bucket":17,"expires_at":3601}"#,
        ] {
            let result = store.expired(3600, 0, 7200, 10, Some(token.into())).await;
            assert!(
                matches!(result, Err(StoreError::Invalid(_))),
                "{token}: got {result:?}"
            );
        }
    }
}

//! The [`Store`] port on one DynamoDB table, with the semantics of the embedded store
//! (`portal_core::store::EmbeddedStore`); the conformance suite holds both to them.
//!
//! Item layout: `pk` (S), `sk` (S), `v` (N, the version), `expires_at` (N, epoch seconds, the
//! table's TTL attribute; only when set), `exp_bucket` (N, [`expiry_partition`] of the hour of
//! `expires_at` and the item's [`expiry_shard`]; only when set) and the data fields as top-level
//! attributes, converted with `serde_dynamo`. The global secondary index [`EXPIRY_INDEX`]
//! (`exp_bucket`, `expires_at`; projecting the keys and `v`) lets the purge job read expired
//! items shard by shard of each hour without a scan; the shards keep one busy hour's writes off
//! a single index partition key.
//!
//! Items written before the index was sharded carry the hour's start as `exp_bucket` (a value no
//! shard ever has, see [`expiry_partition`]): the purge no longer reads them, and DynamoDB's TTL
//! sweeper removes them (every read already treats them as gone once expired).
//!
//! Reads of the table are strongly consistent (the embedded store is linearizable); reads of the
//! expiry index cannot be (DynamoDB indexes are eventually consistent), which the purge job
//! tolerates: it deletes with [`Condition::VersionIs`], and an item it misses is found by the next
//! run.

use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{BuildError, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex,
    IndexStatus, KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put,
    ReturnValue, ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus, TransactWriteItem, Update,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use portal_core::store::{
    Bound, Condition, ExpiredPage, Item, Key, Page, Query, Store, StoreError,
    TRANSACTION_TOKEN_SECONDS, Write, check_field, check_reserved, check_shard, expiry_partition,
    expiry_shard, validate_transaction,
};
use serde_json::{Map, Value};

use crate::sdk_error::sdk_error_reason;

/// Name of the global secondary index on (`exp_bucket`, `expires_at`), `exp_bucket` being the
/// sharded hour of expiry ([`expiry_partition`]).
pub const EXPIRY_INDEX: &str = "expiry";

/// The TTL attribute (epoch seconds).
const TTL_ATTRIBUTE: &str = "expires_at";

/// BatchGetItem reads at most 100 keys per request.
const BATCH_GET_MAX: usize = 100;
/// Retries of unprocessed keys (throttled parts of a batch) before giving up as unavailable.
const BATCH_GET_RETRIES: u32 = 5;
/// How long `ensure_table` waits for a new table (and its index) to become active.
const TABLE_ACTIVE_TIMEOUT: Duration = Duration::from_secs(300);

type Attrs = HashMap<String, AttributeValue>;

/// The `Store` port on DynamoDB (one table, see the module documentation for its layout).
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table if it does not exist (on-demand billing, `pk`/`sk`, the expiry index,
    /// TTL on `expires_at`) and waits until it is active. For tests and `portal-local`: the
    /// deployed table is created by the infrastructure stack.
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                self.create_table().await?;
            }
            Err(e) => return Err(store_error("DescribeTable", e)),
        }
        self.wait_until_active().await?;
        self.ensure_ttl().await
    }

    async fn create_table(&self) -> Result<(), StoreError> {
        let attribute = |name: &str, kind: ScalarAttributeType| {
            built(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(kind)
                    .build(),
            )
        };
        let key = |name: &str, kind: KeyType| {
            built(
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(kind)
                    .build(),
            )
        };
        let index = built(
            GlobalSecondaryIndex::builder()
                .index_name(EXPIRY_INDEX)
                .key_schema(key("exp_bucket", KeyType::Hash)?)
                .key_schema(key(TTL_ATTRIBUTE, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .non_key_attributes("v")
                        .build(),
                )
                .build(),
        )?;
        let result = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute("pk", ScalarAttributeType::S)?)
            .attribute_definitions(attribute("sk", ScalarAttributeType::S)?)
            .attribute_definitions(attribute("exp_bucket", ScalarAttributeType::N)?)
            .attribute_definitions(attribute(TTL_ATTRIBUTE, ScalarAttributeType::N)?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .global_secondary_indexes(index)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Created concurrently by someone else: fine, we wait for it below.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(store_error("CreateTable", e)),
        }
    }

    async fn wait_until_active(&self) -> Result<(), StoreError> {
        let deadline = Instant::now() + TABLE_ACTIVE_TIMEOUT;
        loop {
            let out = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| store_error("DescribeTable", e))?;
            let table = out.table.ok_or_else(|| {
                StoreError::Unavailable("DescribeTable: no table description".into())
            })?;
            let indexes = table.global_secondary_indexes();
            let Some(index) = indexes
                .iter()
                .find(|i| i.index_name() == Some(EXPIRY_INDEX))
            else {
                return Err(StoreError::Invalid(format!(
                    "table {} has no {EXPIRY_INDEX} index",
                    self.table
                )));
            };
            if table.table_status() == Some(&TableStatus::Active)
                && index.index_status() == Some(&IndexStatus::Active)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(StoreError::Unavailable(format!(
                    "table {} not active after {TABLE_ACTIVE_TIMEOUT:?}",
                    self.table
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn ensure_ttl(&self) -> Result<(), StoreError> {
        let out = self
            .client
            .describe_time_to_live()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| store_error("DescribeTimeToLive", e))?;
        let ttl = out.time_to_live_description();
        match ttl.and_then(|t| t.time_to_live_status()) {
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling) => {
                match ttl.and_then(|t| t.attribute_name()) {
                    Some(TTL_ATTRIBUTE) | None => Ok(()),
                    Some(other) => Err(StoreError::Invalid(format!(
                        "table {} has TTL on {other}, not {TTL_ATTRIBUTE}",
                        self.table
                    ))),
                }
            }
            _ => {
                let spec = built(
                    TimeToLiveSpecification::builder()
                        .enabled(true)
                        .attribute_name(TTL_ATTRIBUTE)
                        .build(),
                )?;
                self.client
                    .update_time_to_live()
                    .table_name(&self.table)
                    .time_to_live_specification(spec)
                    .send()
                    .await
                    .map_err(|e| store_error("UpdateTimeToLive", e))?;
                Ok(())
            }
        }
    }

    async fn transact_once(
        &self,
        items: Vec<TransactWriteItem>,
        token: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(token)
            .send()
            .await;
        let Err(err) = result else {
            return Ok(());
        };
        if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            err.as_service_error()
        {
            let reasons = cancelled.cancellation_reasons();
            let code = |r: &aws_sdk_dynamodb::types::CancellationReason| {
                r.code().unwrap_or("None").to_owned()
            };
            if let Some(i) = reasons
                .iter()
                .position(|r| code(r) == "ConditionalCheckFailed")
            {
                return Err(StoreError::TransactionConflict(Some(i)));
            }
            let codes: Vec<String> = reasons.iter().map(code).filter(|c| c != "None").collect();
            if codes.iter().any(|c| c == "ValidationError") {
                return Err(StoreError::Invalid(
                    "TransactWriteItems: validation error".into(),
                ));
            }
            if !codes.is_empty() && codes.iter().all(|c| c == "TransactionConflict") {
                return Err(StoreError::Contention);
            }
            if codes.iter().any(|c| {
                matches!(
                    c.as_str(),
                    "ThrottlingError" | "ProvisionedThroughputExceeded" | "RequestLimitExceeded"
                )
            }) {
                return Err(StoreError::Unavailable(format!(
                    "TransactWriteItems: cancelled ({})",
                    codes.join(", ")
                )));
            }
            return Err(StoreError::TransactionConflict(None));
        }
        if err
            .as_service_error()
            .is_some_and(|e| e.is_transaction_in_progress_exception())
        {
            // The same token is still being applied: its outcome is not known yet.
            return Err(StoreError::Unavailable(
                "TransactWriteItems: transaction in progress".into(),
            ));
        }
        Err(store_error("TransactWriteItems", err))
    }

    /// The marker item of a transaction's token: written (absent before) in the transaction
    /// itself, so it exists exactly when the transaction committed. It carries the TTL
    /// attribute but no expiry bucket: DynamoDB's TTL removes it, the purge job never reads it.
    fn marker_key(token: &str) -> Key {
        Key::new(format!("P#TX#{token}"), "#")
    }

    fn marker_write(&self, token: &str) -> Result<TransactWriteItem, StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let mut attrs = key_attrs(&Self::marker_key(token));
        attrs.insert("v".into(), number(1));
        attrs.insert(
            TTL_ATTRIBUTE.into(),
            number(now + TRANSACTION_TOKEN_SECONDS),
        );
        Ok(TransactWriteItem::builder()
            .put(built(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(attrs))
                    .condition_expression("attribute_not_exists(pk)")
                    .build(),
            )?)
            .build())
    }
}

/// Maps an SDK error that is not specifically handled by the operation. Conditional-check
/// failures and validation errors are answers; everything else (throttling, timeouts, dispatch
/// failures, internal errors, a missing table) means the store cannot serve the request now.
fn store_error<E: ProvideErrorMetadata, R>(op: &str, err: SdkError<E, R>) -> StoreError {
    if let SdkError::ServiceError(service) = &err {
        match service.err().code() {
            Some("ConditionalCheckFailedException") => return StoreError::ConditionFailed,
            Some("ValidationException") => {
                return StoreError::Invalid(format!(
                    "DynamoDB {op}: {}",
                    service.err().message().unwrap_or("validation error")
                ));
            }
            _ => {}
        }
    }
    let reason = sdk_error_reason(&err);
    tracing::warn!(op, reason, "DynamoDB request failed");
    StoreError::Unavailable(format!("DynamoDB {op}: {reason}"))
}

fn built<T>(result: Result<T, BuildError>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Invalid(format!("DynamoDB request: {e}")))
}

fn number(n: impl Display) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn non_empty(values: Attrs) -> Option<Attrs> {
    (!values.is_empty()).then_some(values)
}

fn check_item(item: &Item) -> Result<(), StoreError> {
    check_reserved(item)
}

fn key_attrs(key: &Key) -> Attrs {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(key.pk.clone())),
        ("sk".to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

fn item_attrs(item: Item) -> Result<Attrs, StoreError> {
    check_item(&item)?;
    let mut attrs: Attrs = serde_dynamo::to_item(&item.data)
        .map_err(|e| StoreError::Invalid(format!("item data: {e}")))?;
    attrs.extend(key_attrs(&item.key));
    attrs.insert("v".into(), number(item.version));
    if let Some(at) = item.expires_at {
        attrs.insert(TTL_ATTRIBUTE.into(), number(at));
        let partition = expiry_partition(at, expiry_shard(&item.key));
        attrs.insert("exp_bucket".into(), number(partition));
    }
    Ok(attrs)
}

fn decode<T: serde::de::DeserializeOwned>(
    attrs: &mut Attrs,
    name: &str,
    whose: &str,
) -> Result<Option<T>, StoreError> {
    attrs
        .remove(name)
        .map(|value| {
            serde_dynamo::from_attribute_value(value)
                .map_err(|e| StoreError::Corrupt(format!("{whose}: attribute {name}: {e}")))
        })
        .transpose()
}

fn required<T>(value: Option<T>, name: &str, whose: &str) -> Result<T, StoreError> {
    value.ok_or_else(|| StoreError::Corrupt(format!("{whose}: missing attribute {name}")))
}

/// Reads a stored item back (the inverse of [`item_attrs`]).
fn item_from(mut attrs: Attrs) -> Result<Item, StoreError> {
    let pk: String = required(decode(&mut attrs, "pk", "item")?, "pk", "item")?;
    let sk: String = required(decode(&mut attrs, "sk", &pk)?, "sk", &pk)?;
    let whose = format!("{pk}/{sk}");
    let version: u64 = required(decode(&mut attrs, "v", &whose)?, "v", &whose)?;
    let expires_at: Option<i64> = decode(&mut attrs, TTL_ATTRIBUTE, &whose)?;
    attrs.remove("exp_bucket");
    let data: Map<String, Value> =
        serde_dynamo::from_item(attrs).map_err(|e| StoreError::Corrupt(format!("{whose}: {e}")))?;
    Ok(Item {
        key: Key { pk, sk },
        version,
        expires_at,
        data,
    })
}

/// The update of a bounded counter ([`Store::add`], [`Write::Add`]); the field's name is `#f`.
struct CounterUpdate {
    expression: &'static str,
    condition: String,
    values: Attrs,
}

fn counter_update(delta: i64, bound: Bound) -> CounterUpdate {
    // new = current + delta must satisfy the bound, i.e. current must be on the right side
    // of bound - delta (computed in i128: DynamoDB numbers are decimals, no overflow); and
    // new must stay an i64 (the embedded store refuses an overflow). A missing field counts
    // as 0: it passes when delta alone satisfies the bound. A field that is not a number
    // fails the `attribute_type` guard first (the comparison alone would be false on
    // DynamoDB, but moto fails the whole request on comparing a string with a number).
    let d = i128::from(delta);
    let (mut condition, missing_ok) = match bound {
        Bound::AtLeast(min) => (
            "attribute_type(#f, :number) AND #f >= :bound".to_owned(),
            delta >= min,
        ),
        Bound::AtMost(max) => (
            "attribute_type(#f, :number) AND #f <= :bound".to_owned(),
            delta <= max,
        ),
    };
    let threshold = match bound {
        Bound::AtLeast(min) => i128::from(min) - d,
        Bound::AtMost(max) => i128::from(max) - d,
    };
    let mut values = HashMap::from([
        (":zero".to_owned(), number(0)),
        (":one".to_owned(), number(1)),
        (":delta".to_owned(), number(delta)),
        (":bound".to_owned(), number(threshold)),
        (":number".to_owned(), AttributeValue::S("N".into())),
    ]);
    if delta > 0 {
        condition.push_str(" AND #f <= :max_current");
        values.insert(":max_current".into(), number(i128::from(i64::MAX) - d));
    } else if delta < 0 {
        condition.push_str(" AND #f >= :min_current");
        values.insert(":min_current".into(), number(i128::from(i64::MIN) - d));
    }
    if missing_ok {
        condition = format!("attribute_not_exists(#f) OR ({condition})");
    }
    CounterUpdate {
        expression: "SET #f = if_not_exists(#f, :zero) + :delta, v = if_not_exists(v, :one)",
        condition,
        values,
    }
}

/// The condition expression of a [`Condition`], adding its values to `values`. `None` for
/// [`Condition::Always`].
fn condition_expression(condition: Condition, values: &mut Attrs) -> Option<String> {
    match condition {
        Condition::Always => None,
        Condition::Absent => Some("attribute_not_exists(pk)".into()),
        Condition::Exists => Some("attribute_exists(pk)".into()),
        Condition::VersionIs(version) => {
            values.insert(":cond_v".into(), number(version));
            Some("v = :cond_v".into())
        }
        Condition::AbsentOrExpired(now) => {
            values.insert(":cond_now".into(), number(now));
            // A missing `expires_at` makes the comparison false: an item without expiry never
            // counts as expired.
            Some("attribute_not_exists(pk) OR expires_at <= :cond_now".into())
        }
    }
}

/// Where a query starts given `after`: DynamoDB rejects an `ExclusiveStartKey` outside the key
/// condition, so a sort key that cannot start with the prefix is resolved here.
enum Start {
    From(Option<String>),
    Nothing,
}

fn query_start(prefix: &str, after: Option<String>, descending: bool) -> Start {
    match after {
        None => Start::From(None),
        // The empty sort key sorts before every other (and is no valid key for DynamoDB).
        Some(after) if after.is_empty() => {
            if descending {
                Start::Nothing
            } else {
                Start::From(None)
            }
        }
        Some(after) if after.starts_with(prefix) => Start::From(Some(after)),
        // `after` sorts before every sort key with the prefix, or after every one (it differs
        // from the prefix at a position inside the prefix).
        Some(after) => {
            let before_all = after.as_str() < prefix;
            if before_all != descending {
                Start::From(None)
            } else {
                Start::Nothing
            }
        }
    }
}

fn expiry_token(last: Attrs) -> Result<String, StoreError> {
    let map: Map<String, Value> = serde_dynamo::from_item(last)
        .map_err(|e| StoreError::Corrupt(format!("expiry index key: {e}")))?;
    serde_json::to_string(&map).map_err(|e| StoreError::Corrupt(format!("expiry index key: {e}")))
}

fn expiry_start(token: &str, partition: i64) -> Result<Attrs, StoreError> {
    let invalid = || StoreError::Invalid("malformed expiry resume token".into());
    let map: Map<String, Value> = serde_json::from_str(token).map_err(|_| invalid())?;
    let well_formed = map.len() == 4
        && map.get("pk").is_some_and(Value::is_string)
        && map.get("sk").is_some_and(Value::is_string)
        && map.get(TTL_ATTRIBUTE).is_some_and(Value::is_i64)
        && map.get("exp_bucket").and_then(Value::as_i64) == Some(partition);
    if !well_formed {
        return Err(invalid());
    }
    serde_dynamo::to_item(map).map_err(|_| invalid())
}

fn clamp_limit(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[async_trait]
impl Store for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("GetItem", e))?;
        out.item.map(item_from).transpose()
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        // BatchGetItem refuses duplicate keys; the embedded store returns an item once per
        // requested key, so read each key once and answer per requested key.
        let mut seen = HashSet::new();
        let unique: Vec<&Key> = keys.iter().filter(|k| seen.insert(*k)).collect();
        let mut found: HashMap<Key, Item> = HashMap::new();
        for chunk in unique.chunks(BATCH_GET_MAX) {
            let request = built(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.iter().map(|k| key_attrs(k)).collect()))
                    .consistent_read(true)
                    .build(),
            )?;
            let mut pending = Some(HashMap::from([(self.table.clone(), request)]));
            let mut retries = 0;
            while let Some(request) = pending.take() {
                let out = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(request))
                    .send()
                    .await
                    .map_err(|e| store_error("BatchGetItem", e))?;
                let rows = out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default();
                for attrs in rows {
                    let item = item_from(attrs)?;
                    found.insert(item.key.clone(), item);
                }
                pending = out
                    .unprocessed_keys
                    .filter(|u| u.values().any(|k| !k.keys().is_empty()));
                if pending.is_some() {
                    retries += 1;
                    if retries > BATCH_GET_RETRIES {
                        return Err(StoreError::Unavailable(
                            "DynamoDB BatchGetItem: keys left unprocessed after retries".into(),
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(25 << retries)).await;
                }
            }
        }
        Ok(keys.iter().filter_map(|k| found.get(k).cloned()).collect())
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        let attrs = item_attrs(item)?;
        let mut values = Attrs::new();
        let expression = condition_expression(condition, &mut values);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attrs))
            .set_condition_expression(expression)
            .set_expression_attribute_values(non_empty(values))
            .send()
            .await
            .map_err(|e| store_error("PutItem", e))?;
        Ok(())
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        let mut values = Attrs::new();
        let expression = condition_expression(condition, &mut values);
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .set_condition_expression(expression)
            .set_expression_attribute_values(non_empty(values))
            .send()
            .await
            .map_err(|e| store_error("DeleteItem", e))?;
        Ok(())
    }

    async fn apply(&self, writes: &[Write], token: &str) -> Result<(), StoreError> {
        // Same validation as the embedded store, before any request.
        validate_transaction(writes)?;
        let mut items = Vec::with_capacity(writes.len() + 1);
        for write in writes.iter().cloned() {
            let mut values = Attrs::new();
            let item = match write {
                Write::Put(item, condition) => {
                    let expression = condition_expression(condition, &mut values);
                    TransactWriteItem::builder()
                        .put(built(
                            Put::builder()
                                .table_name(&self.table)
                                .set_item(Some(item_attrs(item)?))
                                .set_condition_expression(expression)
                                .set_expression_attribute_values(non_empty(values))
                                .build(),
                        )?)
                        .build()
                }
                Write::Delete(key, condition) => {
                    let expression = condition_expression(condition, &mut values);
                    TransactWriteItem::builder()
                        .delete(built(
                            Delete::builder()
                                .table_name(&self.table)
                                .set_key(Some(key_attrs(&key)))
                                .set_condition_expression(expression)
                                .set_expression_attribute_values(non_empty(values))
                                .build(),
                        )?)
                        .build()
                }
                Write::Check(key, condition) => {
                    // A condition check needs an expression; `Always` is a tautology.
                    let expression =
                        condition_expression(condition, &mut values).unwrap_or_else(|| {
                            "attribute_not_exists(pk) OR attribute_exists(pk)".into()
                        });
                    TransactWriteItem::builder()
                        .condition_check(built(
                            ConditionCheck::builder()
                                .table_name(&self.table)
                                .set_key(Some(key_attrs(&key)))
                                .condition_expression(expression)
                                .set_expression_attribute_values(non_empty(values))
                                .build(),
                        )?)
                        .build()
                }
                Write::Add {
                    key,
                    field,
                    delta,
                    bound,
                } => {
                    let update = counter_update(delta, bound);
                    let mut builder = Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_attrs(&key)))
                        .update_expression(update.expression)
                        .condition_expression(update.condition)
                        .expression_attribute_names("#f", field);
                    for (name, value) in update.values {
                        builder = builder.expression_attribute_values(name, value);
                    }
                    TransactWriteItem::builder()
                        .update(built(builder.build())?)
                        .build()
                }
            };
            items.push(item);
        }
        items.push(self.marker_write(token)?);
        self.transact_once(items, token).await
    }

    async fn was_applied(&self, token: &str) -> Result<bool, StoreError> {
        Ok(self.get(&Self::marker_key(token)).await?.is_some())
    }

    async fn add(
        &self,
        key: &Key,
        field: &str,
        delta: i64,
        bound: Bound,
    ) -> Result<i64, StoreError> {
        check_field(field)?;
        // ALL_NEW, not UPDATED_NEW: an unchanged value (delta 0) is not "updated".
        let update = counter_update(delta, bound);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .update_expression(update.expression)
            .condition_expression(update.condition)
            .expression_attribute_names("#f", field)
            .set_expression_attribute_values(Some(update.values))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let whose = format!("{}/{}", key.pk, key.sk);
        match result {
            Ok(out) => {
                let mut attrs = out.attributes.unwrap_or_default();
                required(decode::<i64>(&mut attrs, field, &whose)?, field, &whose)
            }
            Err(e) => {
                let Some(UpdateItemError::ConditionalCheckFailedException(failed)) =
                    e.as_service_error()
                else {
                    return Err(store_error("UpdateItem", e));
                };
                // Tell a broken bound from a field that is not an integer or an overflow, as the
                // embedded store does.
                let current = failed.item().and_then(|old| old.get(field)).cloned();
                match current.map(serde_dynamo::from_attribute_value::<_, i64>) {
                    None => Err(StoreError::ConditionFailed),
                    Some(Err(_)) => Err(StoreError::Corrupt(format!(
                        "{whose}: {field} is not an integer"
                    ))),
                    Some(Ok(current)) if current.checked_add(delta).is_none() => {
                        Err(StoreError::Invalid("counter overflow".into()))
                    }
                    Some(Ok(_)) => Err(StoreError::ConditionFailed),
                }
            }
        }
    }

    async fn query(&self, pk: &str, query: Query) -> Result<Page, StoreError> {
        let empty = Page {
            items: Vec::new(),
            next: None,
        };
        if query.limit == Some(0) {
            return Ok(empty);
        }
        let after = match query_start(&query.sk_prefix, query.after, query.descending) {
            Start::Nothing => return Ok(empty),
            Start::From(after) => after,
        };
        let mut values = HashMap::from([(":pk".to_owned(), AttributeValue::S(pk.to_owned()))]);
        let mut key_condition = "pk = :pk".to_owned();
        if !query.sk_prefix.is_empty() {
            key_condition.push_str(" AND begins_with(sk, :prefix)");
            values.insert(":prefix".into(), AttributeValue::S(query.sk_prefix.clone()));
        }
        let mut start = after.map(|sk| key_attrs(&Key::new(pk, sk)));
        let mut items = Vec::new();
        loop {
            // One item beyond the limit tells whether more follow (as the embedded store knows).
            let want = query
                .limit
                .map(|limit| clamp_limit((limit + 1).saturating_sub(items.len())));
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(&key_condition)
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(!query.descending)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .set_limit(want)
                .send()
                .await
                .map_err(|e| store_error("Query", e))?;
            for attrs in out.items.unwrap_or_default() {
                items.push(item_from(attrs)?);
            }
            start = out.last_evaluated_key;
            let enough = query.limit.is_some_and(|limit| items.len() > limit);
            if start.is_none() || enough {
                break;
            }
        }
        let limit = query.limit.unwrap_or(usize::MAX);
        let more = items.len() > limit;
        items.truncate(limit);
        let next = if more {
            items.last().map(|i| i.key.sk.clone())
        } else {
            None
        };
        Ok(Page { items, next })
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
        let partition = expiry_partition(bucket, shard);
        if limit == 0 {
            return Ok(ExpiredPage {
                keys: Vec::new(),
                items_read: 0,
                next: None,
            });
        }
        let start = after.map(|t| expiry_start(&t, partition)).transpose()?;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(EXPIRY_INDEX)
            .key_condition_expression("exp_bucket = :bucket AND expires_at <= :now")
            .expression_attribute_values(":bucket", number(partition))
            .expression_attribute_values(":now", number(now))
            .set_exclusive_start_key(start)
            .limit(clamp_limit(limit))
            .send()
            .await
            .map_err(|e| store_error("Query", e))?;
        let items_read = usize::try_from(out.scanned_count).unwrap_or_default();
        let mut keys = Vec::new();
        for mut attrs in out.items.unwrap_or_default() {
            let pk: String = required(decode(&mut attrs, "pk", "index entry")?, "pk", "index")?;
            let sk: String = required(decode(&mut attrs, "sk", &pk)?, "sk", &pk)?;
            let whose = format!("{pk}/{sk}");
            let version: u64 = required(decode(&mut attrs, "v", &whose)?, "v", &whose)?;
            keys.push((Key { pk, sk }, version));
        }
        // DynamoDB returns a last evaluated key whenever the limit was reached, even when nothing
        // follows: the next call then returns an empty page without a token.
        let next = out.last_evaluated_key.map(expiry_token).transpose()?;
        Ok(ExpiredPage {
            keys,
            items_read,
            next,
        })
    }

    async fn created_at(&self) -> Result<i64, StoreError> {
        let out = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| store_error("DescribeTable", e))?;
        out.table
            .and_then(|t| t.creation_date_time)
            .map(|at| at.secs())
            .ok_or_else(|| StoreError::Unavailable("DescribeTable: no creation time".into()))
    }
}

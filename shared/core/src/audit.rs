//! The audit trail: data in the store (never log lines), newest first per tenant.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::account::AccountName;
use crate::clock::rfc3339;
use crate::error::{DomainError, DomainResult};
use crate::keys;
use crate::portal::Portal;
use crate::store::{Condition, Item, Query, Write};
use crate::tokens::{
    MAX_CURSOR_LENGTH, MAX_ID_LENGTH, decode_cursor, encode_cursor, is_opaque, new_id,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    Staff,
    Guardian,
    System,
    /// A person running `portal-admin` on the stage; the id is their name (`--operator`).
    Operator,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: Option<String>,
}

impl Actor {
    pub fn staff(id: &str) -> Self {
        Self {
            kind: ActorKind::Staff,
            id: Some(id.to_owned()),
        }
    }

    pub fn guardian(id: &str) -> Self {
        Self {
            kind: ActorKind::Guardian,
            id: Some(id.to_owned()),
        }
    }

    /// An operator by name (see `portal-admin --operator`).
    pub fn operator(name: &str) -> Self {
        Self {
            kind: ActorKind::Operator,
            id: Some(name.to_owned()),
        }
    }

    pub fn system() -> Self {
        Self {
            kind: ActorKind::System,
            id: None,
        }
    }
}

/// One audit entry as stored and as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: String,
    pub actor: Actor,
    pub action: String,
    pub target: Option<String>,
    pub details: Value,
}

/// A page of entries, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

/// Whether `sort` has the shape of an entry's sort key (see [`Portal::audit_write`]): 16 digits
/// of milliseconds, `#`, an id.
fn is_entry_sort_key(sort: &str) -> bool {
    sort.split_once('#').is_some_and(|(millis, id)| {
        millis.len() == 16
            && millis.bytes().all(|b| b.is_ascii_digit())
            && is_opaque(id, MAX_ID_LENGTH)
    })
}

pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 100;

/// A page of a tenant's log in time order, for an export.
#[derive(Debug, Clone)]
pub struct AuditRangePage {
    pub entries: Vec<AuditEntry>,
    /// Where the next page starts (pass it back as `after`), when more may follow.
    pub next: Option<String>,
}

/// The sort-key prefix of the entries of one millisecond (see [`Portal::audit_write`]).
fn millis_prefix(millis: i64) -> String {
    format!("{:016}", millis.max(0))
}

impl Portal {
    /// The write that records an entry; flows put it in the same transaction as the change
    /// it describes, so a change is never without its entry.
    pub fn audit_write(
        &self,
        account: &AccountName,
        actor: Actor,
        action: &str,
        target: Option<&str>,
        details: Value,
    ) -> DomainResult<Write> {
        let now = self.clock.now();
        // Sort key: time (ms) then a random suffix, so entries of one millisecond never collide.
        let sort = format!(
            "{:016}#{}",
            (now.unix_timestamp_nanos() / 1_000_000).max(0),
            new_id()?
        );
        let entry = AuditEntry {
            at: rfc3339(now),
            actor,
            action: action.to_owned(),
            target: target.map(str::to_owned),
            details,
        };
        let item = Item::from_record(keys::audit_entry(account, &sort), &entry)?;
        Ok(Write::Put(item, Condition::Absent))
    }

    /// Records an entry on its own (for events with no other write, e.g. a failed login).
    pub async fn audit(
        &self,
        account: &AccountName,
        actor: Actor,
        action: &str,
        target: Option<&str>,
        details: Value,
    ) -> DomainResult<()> {
        let write = self.audit_write(account, actor, action, target, details)?;
        self.store.transact(vec![write]).await?;
        Ok(())
    }

    pub async fn audit_page(
        &self,
        account: &AccountName,
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> DomainResult<AuditPage> {
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(DomainError::Malformed(format!(
                "limit must be between 1 and {MAX_PAGE}"
            )));
        }
        let after = match cursor {
            None => None,
            // Only a position this log issued goes to the store.
            Some(c) => Some(
                Some(c)
                    .filter(|c| is_opaque(c, MAX_CURSOR_LENGTH))
                    .and_then(decode_cursor)
                    .filter(|s| is_entry_sort_key(s))
                    .ok_or_else(|| DomainError::Malformed("invalid cursor".into()))?,
            ),
        };
        let page = self
            .store
            .query(
                &keys::audit_partition(account),
                Query {
                    descending: true,
                    after,
                    limit: Some(limit),
                    ..Default::default()
                },
            )
            .await?;
        let entries = page
            .items
            .iter()
            .map(|i| i.record())
            .collect::<Result<Vec<AuditEntry>, _>>()?;
        Ok(AuditPage {
            entries,
            next_cursor: page.next.as_deref().map(encode_cursor),
        })
    }
}

impl Portal {
    /// One page (at most [`MAX_PAGE`] entries) of the tenant's log, oldest first, between
    /// `from_ms` and `to_ms` (epoch milliseconds, both inclusive, either open), continuing
    /// after `after` (a previous page's `next`).
    pub async fn audit_range_page(
        &self,
        account: &AccountName,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        after: Option<String>,
    ) -> DomainResult<AuditRangePage> {
        // An entry's sort key starts with its 16-digit millisecond, so every entry of `from_ms`
        // sorts after the bare prefix, and every later one after the entries of `to_ms`.
        let after = after.or_else(|| from_ms.map(millis_prefix));
        let end = to_ms.map(|ms| millis_prefix(ms + 1));
        let page = self
            .store
            .query(
                &keys::audit_partition(account),
                Query {
                    after,
                    limit: Some(MAX_PAGE),
                    ..Default::default()
                },
            )
            .await?;
        let mut entries = Vec::new();
        for item in &page.items {
            if end.as_ref().is_some_and(|end| item.key.sk >= *end) {
                return Ok(AuditRangePage {
                    entries,
                    next: None,
                });
            }
            entries.push(item.record()?);
        }
        Ok(AuditRangePage {
            entries,
            next: page.next,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_name_entry_positions_only() {
        assert!(is_entry_sort_key("0001796041552072#IoinUsQ5PfLe-NXxSQZpNg"));
        for bad in [
            "",
            "#x",
            "0001796041552072#",
            "001796041552072#abc",
            "000179604155207x#abc",
            "0001796041552072#a#b",
            "ZZZZZZZZZZZZZZZZ",
        ] {
            assert!(!is_entry_sort_key(bad), "{bad}");
        }
    }
}

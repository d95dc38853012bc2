//! User groups: a named level per task that staff members are assigned to. Nobody creates a
//! group above their own level for any task.

use serde_json::json;

use crate::account::AccountName;
use crate::contact::parse_text;
use crate::error::{DomainError, DomainResult};
use crate::keys;
use crate::permissions::{Permissions, UserGroup};
use crate::portal::Portal;
use crate::staff::StaffActor;
use crate::store::{Condition, Item, Query, Write};
use crate::tokens::new_id;

impl Portal {
    /// A group's levels; a group that no longer exists grants nothing.
    pub async fn user_group_permissions(
        &self,
        account: &AccountName,
        group_id: &str,
    ) -> DomainResult<Permissions> {
        Ok(
            match self.store.get(&keys::user_group(account, group_id)).await? {
                Some(item) => item.record::<UserGroup>()?.permissions,
                None => Permissions::default(),
            },
        )
    }

    pub async fn user_groups(&self, account: &AccountName) -> DomainResult<Vec<UserGroup>> {
        let page = self
            .store
            .query(&keys::user_group_partition(account), Query::default())
            .await?;
        let mut groups = page
            .items
            .iter()
            .map(|i| i.record())
            .collect::<Result<Vec<UserGroup>, _>>()?;
        groups.sort_by_key(|g| g.name.to_lowercase());
        Ok(groups)
    }

    /// Creates a group; nobody creates a group above their own level for any task.
    pub async fn create_user_group(
        &self,
        actor: &StaffActor,
        name: &str,
        permissions: Permissions,
    ) -> DomainResult<UserGroup> {
        let name = parse_text(name, "name", 100).map_err(|e| DomainError::Validation(vec![e]))?;
        if !permissions.within(&actor.permissions) {
            return Err(DomainError::Forbidden);
        }
        let account = &actor.auth.account;
        let group = UserGroup {
            id: new_id()?,
            name,
            permissions,
        };
        let audit = self.audit_write(
            account,
            actor.actor(),
            "user_group.created",
            Some(&group.id),
            json!({"name": group.name, "permissions": group.permissions}),
        )?;
        self.transact_as(
            &actor.auth,
            vec![
                Write::Put(
                    Item::from_record(keys::user_group(account, &group.id), &group)?,
                    Condition::Absent,
                ),
                audit,
            ],
        )
        .await?;
        Ok(group)
    }
}

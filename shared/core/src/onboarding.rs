//! Onboarding a business: the tenant and its owner, created in one transaction (local
//! `/_dev/tenants` and the ops command `portal-admin`).

use serde_json::json;

use crate::account::AccountName;
use crate::audit::Actor;
use crate::branding::Branding;
use crate::error::{Conflict, DomainError, DomainResult};
use crate::keys;
use crate::portal::Portal;
use crate::staff::{NewStaff, StaffRecord};
use crate::store::{Condition, Item, StoreError, Write};
use crate::tenants::{SettingsChange, TenantRecord};

/// A new tenant with its owner (local `/_dev/tenants` and the ops command).
pub struct NewTenant {
    pub account: AccountName,
    pub business_name: String,
    pub owner: NewStaff,
    pub settings: SettingsChange,
    pub sms_credits: i64,
    /// Who creates it (an operator for `portal-admin`), for the audit entry.
    pub actor: Actor,
}

impl Portal {
    /// Creates a tenant and its owner in one transaction.
    pub async fn create_tenant(&self, new: NewTenant) -> DomainResult<String> {
        let now = self.clock.epoch();
        let mut tenant = TenantRecord {
            account: new.account.to_string(),
            business_name: new.business_name.clone(),
            business_email: None,
            location_email: None,
            location_phone: None,
            customer_signup_enabled: true,
            email_validation_required: true,
            sms_enabled: false,
            custom_fields: Vec::new(),
            owner_staff_id: String::new(),
            created_at: now,
            branding: Branding::default(),
            daily_mail_limit: None,
            suspended: None,
            sessions_epoch: 0,
        };
        new.settings.apply(&mut tenant)?;
        tenant.business_name = new.business_name;
        let owner: StaffRecord = self.staff_record_for(new.owner, true).await?;
        tenant.owner_staff_id = owner.id.clone();
        let mut writes = vec![Write::Put(
            Item::from_record(keys::tenant_record(&new.account), &tenant)?,
            Condition::Absent,
        )];
        writes.extend(self.staff_writes(&new.account, &owner)?);
        // An empty policy catalog: nothing required until the first policy is made.
        writes.push(Write::Put(
            Item::from_record(
                keys::policy_catalog(&new.account),
                &crate::policy::PolicyCatalog::default(),
            )?,
            Condition::Absent,
        ));
        writes.push(Write::Put(
            Item::from_record(
                keys::sms_credits(&new.account),
                &json!({"credits": new.sms_credits.max(0)}),
            )?,
            Condition::Absent,
        ));
        // The registry entry lists the tenant for operators (see `keys::tenant_registry`).
        writes.push(Write::Put(
            Item::from_record(
                keys::tenant_registry(&new.account),
                &json!({"account": new.account, "created_at": now}),
            )?,
            Condition::Absent,
        ));
        writes.push(self.audit_write(
            &new.account,
            new.actor,
            "tenant.created",
            Some(&owner.id),
            json!({}),
        )?);
        match self.store.transact(writes).await {
            Ok(()) => Ok(owner.id),
            Err(StoreError::TransactionConflict(_)) => {
                Err(DomainError::Conflict(Conflict::AccountExists))
            }
            Err(e) => Err(e.into()),
        }
    }
}

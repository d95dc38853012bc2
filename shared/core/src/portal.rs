//! The domain services' shared dependencies: the ports and the configuration. Each concept's
//! module adds its flows as methods on [`Portal`].

use std::sync::Arc;

use crate::clock::Clock;
use crate::messaging::{Mailer, SmsSender};
use crate::passwords::PasswordHasherConfig;
use crate::security::SecurityPolicy;
use crate::store::Store;
use crate::token_signer::TokenSigner;

#[derive(Clone)]
pub struct Portal {
    pub store: Arc<dyn Store>,
    pub mailer: Arc<dyn Mailer>,
    pub sms: Arc<dyn SmsSender>,
    pub clock: Arc<dyn Clock>,
    pub hasher: PasswordHasherConfig,
    /// Every numbered rule (lockout, idle timeout, link and code lifetimes, sending limits).
    pub security: SecurityPolicy,
    pub signer: TokenSigner,
    /// Base URL of the portal front end, for links in messages (configuration, never a
    /// request's `Host`).
    pub portal_url: String,
}

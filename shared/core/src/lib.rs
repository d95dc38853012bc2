//! The identity domain. Knows no AWS and no HTTP: flows are services over ports
//! ([`store::Store`], [`messaging::Mailer`], [`messaging::SmsSender`], [`clock::Clock`],
//! [`metrics::Metrics`]).

// Layers, bottom up; dependencies point up this list only (no import circle between files:
// `scripts/import-cycles`, part of the test command).
//
// Values and records: parsed inputs, typed values, stored records and the key layout.
pub mod account;
pub mod branding;
pub mod contact;
pub mod error;
pub mod guardian;
pub mod keys;
pub mod passwords;
pub mod permissions;
pub mod security;
pub mod signer;
pub mod tokens;
// Ports: storage, messaging, time, metrics, the signing key ring.
pub mod clock;
pub mod messaging;
pub mod metrics;
pub mod retry;
pub mod store;
pub mod token_signer;
// The services' shared dependencies (ports and configuration).
pub mod portal;
// Access: audit trail, sessions, lockout, sending limits.
pub mod audit;
pub mod limits;
pub mod lockout;
pub mod policy;
pub mod read_along;
pub mod sessions;
// Flows: each concept's services as `impl Portal` blocks.
pub mod families;
pub mod guardians;
pub mod invitations;
pub mod notices;
pub mod onboarding;
pub mod operator;
pub mod policies;
pub mod purge;
pub mod resets;
pub mod revocations;
pub mod signup;
pub mod staff;
pub mod tenants;
pub mod user_groups;

pub use error::{DomainError, DomainResult, FieldError};
pub use portal::Portal;

/// Deserializes a field that may be absent (`None`), `null` (`Some(None)`) or a value.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}

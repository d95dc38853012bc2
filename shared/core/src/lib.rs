//! The identity domain. Knows no AWS and no HTTP: flows are services over ports
//! ([`store::Store`], [`messaging::Mailer`], [`messaging::SmsSender`], [`clock::Clock`]).

pub mod account;
pub mod audit;
pub mod branding;
pub mod clock;
pub mod contact;
pub mod error;
pub mod families;
pub mod guardians;
pub mod invitations;
pub mod keys;
pub mod limits;
pub mod lockout;
pub mod messaging;
pub mod notices;
pub mod passwords;
pub mod permissions;
pub mod policies;
pub mod portal;
pub mod purge;
pub mod resets;
pub mod revocations;
pub mod sessions;
pub mod signup;
pub mod staff;
pub mod store;
pub mod tenants;
pub mod tokens;

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

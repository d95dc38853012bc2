//! Passwords: the policy (one definition for staff and guardians), argon2id hashing, and the
//! dummy verify that keeps unknown-user logins as slow as known ones.

use std::collections::HashSet;
use std::sync::{LazyLock, OnceLock};

use argon2::password_hash::SaltString;
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use secrecy::{ExposeSecret, SecretString};

use crate::error::{DomainError, FieldError};

pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 256;

/// Bundled list of commonly used passwords, lower-cased, one per line.
static COMMON: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("passwords/common.txt").lines().collect());

/// A password that satisfies the policy. The text is held as a secret and never printed.
#[derive(Debug)]
pub struct Password(SecretString);

/// A password as typed, not yet checked against the policy (e.g. at login, where any text is
/// compared against the stored hash).
#[derive(Debug)]
pub struct PasswordAttempt(pub SecretString);

impl Password {
    /// Checks the policy; `field` names the request field in the error.
    pub fn parse(raw: SecretString, field: &str) -> Result<Self, FieldError> {
        let text = raw.expose_secret();
        let length = text.chars().count();
        if length == 0 {
            return Err(FieldError::required(field));
        }
        let mut rules = Vec::new();
        if length < MIN_LENGTH {
            rules.push("min_length");
        }
        if length > MAX_LENGTH {
            rules.push("max_length");
        }
        if !text.chars().any(char::is_lowercase) {
            rules.push("lowercase");
        }
        if !text.chars().any(char::is_uppercase) {
            rules.push("uppercase");
        }
        if !text.chars().any(|c| c.is_ascii_digit()) {
            rules.push("digit");
        }
        if !text
            .chars()
            .any(|c| !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control())
        {
            rules.push("special");
        }
        if !rules.is_empty() {
            return Err(FieldError {
                field: field.to_owned(),
                code: "password_policy",
                detail: format!(
                    "passwords need at least {MIN_LENGTH} and at most {MAX_LENGTH} characters, \
                     with a lower-case letter, an upper-case letter, a digit and a special character"
                ),
                rules: Some(rules),
            });
        }
        if COMMON.contains(text.to_lowercase().as_str()) {
            return Err(FieldError::new(
                field,
                "password_too_common",
                "this password is on a list of commonly used passwords",
            ));
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// Checks that `confirmation` equals the password.
pub fn confirm(password: &SecretString, confirmation: &SecretString) -> Result<(), FieldError> {
    use subtle::ConstantTimeEq;
    if bool::from(
        password
            .expose_secret()
            .as_bytes()
            .ct_eq(confirmation.expose_secret().as_bytes()),
    ) {
        Ok(())
    } else {
        Err(FieldError::new(
            "password_confirmation",
            "mismatch",
            "the confirmation does not match the password",
        ))
    }
}

/// An argon2id PHC string.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct PasswordHashString(pub String);

/// Outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Correct, but hashed with other parameters: store a fresh hash.
    YesRehash,
}

/// argon2id with explicit parameters (OWASP: m=19456 KiB, t=2, p=1).
#[derive(Debug, Clone)]
pub struct PasswordHasherConfig {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordHasherConfig {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl PasswordHasherConfig {
    fn argon(&self) -> Result<Argon2<'static>, DomainError> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| DomainError::Internal(format!("argon2 params: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// Hashes on the blocking pool (argon2 takes tens of milliseconds of CPU).
    pub async fn hash(&self, password: &Password) -> Result<PasswordHashString, DomainError> {
        let params = self.argon()?.params().clone();
        let secret = SecretString::from(password.expose().to_owned());
        blocking(move || {
            let mut salt = [0u8; 16];
            getrandom::fill(&mut salt).map_err(|e| DomainError::Internal(e.to_string()))?;
            let mut out = [0u8; 32];
            argon2id_into(&params, secret.expose_secret().as_bytes(), &salt, &mut out)?;
            Ok(PasswordHashString(format!(
                "$argon2id$v=19$m={},t={},p={}${}${}",
                params.m_cost(),
                params.t_cost(),
                params.p_cost(),
                STANDARD_NO_PAD.encode(salt),
                STANDARD_NO_PAD.encode(out)
            )))
        })
        .await
    }

    /// Verifies on the blocking pool. `None` (unknown user) verifies against a dummy hash of the
    /// same parameters, so the time taken does not reveal whether the account exists.
    pub async fn verify(
        &self,
        attempt: &PasswordAttempt,
        stored: Option<&PasswordHashString>,
    ) -> Result<Verified, DomainError> {
        let argon = self.argon()?;
        let known = stored.is_some();
        let phc = match stored {
            Some(h) => h.0.clone(),
            None => self.dummy_hash()?.0.clone(),
        };
        let secret = SecretString::from(attempt.0.expose_secret().to_owned());
        let current = (self.memory_kib, self.iterations, self.parallelism);
        blocking(move || {
            let parsed = PasswordHash::new(&phc)
                .map_err(|e| DomainError::Internal(format!("stored hash: {e}")))?;
            let pwd = secret.expose_secret().as_bytes();
            let argon2id =
                parsed.algorithm == argon2::ARGON2ID_IDENT && parsed.version == Some(0x13);
            let ok = match (argon2id, parsed.salt, &parsed.hash) {
                (true, Some(salt), Some(expected)) => {
                    let params = Params::try_from(&parsed)
                        .map_err(|e| DomainError::Internal(format!("stored hash: {e}")))?;
                    let mut salt_buf = [0u8; 64];
                    let salt = salt
                        .decode_b64(&mut salt_buf)
                        .map_err(|e| DomainError::Internal(format!("stored hash: {e}")))?;
                    let mut out = vec![0u8; expected.len()];
                    argon2id_into(&params, pwd, salt, &mut out)?;
                    bool::from(subtle::ConstantTimeEq::ct_eq(
                        out.as_slice(),
                        expected.as_bytes(),
                    ))
                }
                // Other algorithms or versions (none are written today): the general path.
                _ => argon.verify_password(pwd, &parsed).is_ok(),
            };
            if !(ok && known) {
                return Ok(Verified::No);
            }
            let same = Params::try_from(&parsed)
                .map(|p| (p.m_cost(), p.t_cost(), p.p_cost()) == current)
                .unwrap_or(false)
                && argon2id;
            Ok(if same {
                Verified::Yes
            } else {
                Verified::YesRehash
            })
        })
        .await
    }

    /// Computes the dummy hash of unknown-user checks now, at start-up (on the blocking pool),
    /// so that no request pays for it: the first unknown name would otherwise take a hash
    /// longer than a known one.
    pub async fn prepare(&self) -> Result<(), DomainError> {
        let config = self.clone();
        blocking(move || config.dummy_hash().map(|_| ())).await
    }

    fn dummy_hash(&self) -> Result<&'static PasswordHashString, DomainError> {
        static DUMMY: OnceLock<PasswordHashString> = OnceLock::new();
        if let Some(h) = DUMMY.get() {
            return Ok(h);
        }
        let argon = self.argon()?;
        let salt = SaltString::encode_b64(b"portal-dummy-salt")
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        let hash = argon
            .hash_password(b"not a password anyone has", &salt)
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        Ok(DUMMY.get_or_init(|| PasswordHashString(hash.to_string())))
    }
}

thread_local! {
    /// One argon2 memory area per blocking thread, reused by every hash and verify on it: a
    /// fresh 19 MiB allocation per hash left glibc holding ~260 MB after 1,000 logins
    /// (docs/performance.md); reusing it keeps a login function near one area per thread.
    static ARGON2_MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// argon2id (v0x13) of `pwd` and `salt` into `out`, in this thread's reusable memory.
fn argon2id_into(
    params: &Params,
    pwd: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), DomainError> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    ARGON2_MEMORY.with(|memory| {
        let mut blocks = memory.borrow_mut();
        let needed = params.block_count();
        if blocks.len() != needed {
            blocks.clear();
            blocks.resize(needed, argon2::Block::default());
        }
        argon
            .hash_password_into_with_memory(pwd, salt, out, &mut blocks[..])
            .map_err(|e| DomainError::Internal(format!("argon2: {e}")))
    })
}

/// At most one argon2 computation per core at a time: more only thrash the caches and memory
/// bandwidth (under load, 64 parallel hashes gave less throughput than 16), and each holds a
/// 19 MiB area. Excess requests wait here in order instead.
static HASHING: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    tokio::sync::Semaphore::new(cores)
});

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DomainError> + Send + 'static,
) -> Result<T, DomainError> {
    let _permit = HASHING
        .acquire()
        .await
        .map_err(|e| DomainError::Internal(format!("hashing queue: {e}")))?;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DomainError::Internal(format!("hashing task: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Password, FieldError> {
        Password::parse(SecretString::from(s.to_owned()), "password")
    }

    #[test]
    fn policy_lists_every_failed_rule() {
        let e = parse("abc").unwrap_err();
        assert_eq!(e.code, "password_policy");
        assert_eq!(
            e.rules.unwrap(),
            vec!["min_length", "uppercase", "digit", "special"]
        );
        let e = parse(&format!("Aa1!{}", "x".repeat(253))).unwrap_err();
        assert_eq!(e.rules.unwrap(), vec!["max_length"]);
        assert!(parse(&format!("Aa1!{}", "x".repeat(252))).is_ok());
        assert!(parse("Tr0ub4dor&3x").is_ok());
        assert_eq!(parse("").unwrap_err().code, "required");
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        assert_eq!(parse("P@ssw0rd").unwrap_err().code, "password_too_common");
        assert_eq!(parse("Password1!").unwrap_err().code, "password_too_common");
    }

    #[tokio::test]
    async fn hash_verify_and_rehash() {
        let cfg = PasswordHasherConfig::default();
        let pw = parse("Correct-Horse-9").unwrap();
        let hash = cfg.hash(&pw).await.unwrap();
        assert!(hash.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let good = PasswordAttempt(SecretString::from("Correct-Horse-9".to_owned()));
        let bad = PasswordAttempt(SecretString::from("Correct-Horse-8".to_owned()));
        assert_eq!(cfg.verify(&good, Some(&hash)).await.unwrap(), Verified::Yes);
        assert_eq!(cfg.verify(&bad, Some(&hash)).await.unwrap(), Verified::No);
        assert_eq!(cfg.verify(&good, None).await.unwrap(), Verified::No);
        let cheaper = PasswordHasherConfig {
            memory_kib: 8192,
            ..Default::default()
        };
        // A PHC string made by the argon2 crate itself verifies the same way.
        let salt = SaltString::encode_b64(b"sixteen byte salt").unwrap();
        let crate_made = cfg
            .argon()
            .unwrap()
            .hash_password(b"Correct-Horse-9", &salt)
            .unwrap()
            .to_string();
        let crate_made = PasswordHashString(crate_made);
        assert_eq!(
            cfg.verify(&good, Some(&crate_made)).await.unwrap(),
            Verified::Yes
        );
        assert_eq!(
            cfg.verify(&bad, Some(&crate_made)).await.unwrap(),
            Verified::No
        );
        let old = cheaper.hash(&pw).await.unwrap();
        assert_eq!(
            cfg.verify(&good, Some(&old)).await.unwrap(),
            Verified::YesRehash
        );
    }
}

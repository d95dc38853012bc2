//! Random ids and opaque tokens (reset, invitation, email verification): 32 bytes from the OS
//! RNG, base64url. Only the SHA-256 of a token is stored; the token itself exists only in the
//! message that carries it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::error::DomainError;

fn random_bytes<const N: usize>() -> Result<[u8; N], DomainError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| DomainError::Internal(format!("os rng: {e}")))?;
    Ok(bytes)
}

/// A new opaque id (16 random bytes, base64url: 22 characters, path-safe).
pub fn new_id() -> Result<String, DomainError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<16>()?))
}

/// A new secret token (32 random bytes, base64url) and the hash to store.
pub fn new_token() -> Result<(String, String), DomainError> {
    let token = URL_SAFE_NO_PAD.encode(random_bytes::<32>()?);
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// The stored form of a token: SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A random number below `bound` (for validation codes), without modulo bias.
pub fn random_below(bound: u32) -> Result<u32, DomainError> {
    let zone = u32::MAX - (u32::MAX % bound);
    loop {
        let n = u32::from_le_bytes(random_bytes::<4>()?);
        if n < zone {
            return Ok(n % bound);
        }
    }
}

/// Encodes a store cursor for clients (opaque).
pub fn encode_cursor(sk: &str) -> String {
    URL_SAFE_NO_PAD.encode(sk.as_bytes())
}

/// Decodes a cursor made by [`encode_cursor`].
pub fn decode_cursor(cursor: &str) -> Option<String> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let (a, ha) = new_token().unwrap();
        let (b, _) = new_token().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(ha, token_hash(&a));
        assert_eq!(ha.len(), 64);
        assert_eq!(new_id().unwrap().len(), 22);
        assert!(random_below(1_000_000).unwrap() < 1_000_000);
        assert_eq!(decode_cursor(&encode_cursor("x#1")).as_deref(), Some("x#1"));
    }
}

//! Random ids and opaque tokens (reset, invitation, email verification): 32 bytes from the OS
//! RNG, base64url. Only the SHA-256 of a token is stored; the token itself exists only in the
//! message that carries it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The operating system's random source failed (nothing sensible can go on without it).
#[derive(Debug, thiserror::Error)]
#[error("os rng: {0}")]
pub struct RandomError(String);

/// The longest id the service accepts from a client (a path segment or a field). Ids are 22
/// characters today; anything longer, or outside base64url, is no id this service issued and is
/// answered like an unknown one before it reaches a store, so the store's key limits (DynamoDB:
/// 2,048 bytes of partition key, 1,024 of sort key) are never the bound.
pub const MAX_ID_LENGTH: usize = 128;
/// The longest token (reset, invitation, email verification) accepted; tokens are 43 characters.
pub const MAX_TOKEN_LENGTH: usize = 128;
/// The longest audit cursor accepted; issued cursors are about 52 characters.
pub const MAX_CURSOR_LENGTH: usize = 128;

/// Whether `value` could be an id, token or cursor this service issued: 1 to `max` base64url
/// characters (`A-Z a-z 0-9 - _`). A check on the value alone, made before any store call.
pub fn is_opaque(value: &str, max: usize) -> bool {
    (1..=max).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| RandomError(e.to_string()))?;
    Ok(bytes)
}

/// Fills `buf` from the OS RNG (nonces of the pages' sealed cookies).
pub fn fill_random(buf: &mut [u8]) -> Result<(), RandomError> {
    getrandom::fill(buf).map_err(|e| RandomError(e.to_string()))
}

/// A new opaque id (16 random bytes, base64url: 22 characters, path-safe).
pub fn new_id() -> Result<String, RandomError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<16>()?))
}

/// A new secret token (32 random bytes, base64url) and the hash to store.
pub fn new_token() -> Result<(String, String), RandomError> {
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
pub fn random_below(bound: u32) -> Result<u32, RandomError> {
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
        assert!(is_opaque(&a, MAX_TOKEN_LENGTH));
        assert!(is_opaque(&new_id().unwrap(), MAX_ID_LENGTH));
    }

    #[test]
    fn opaque_values_are_short_base64url() {
        assert!(is_opaque("aZ09-_", 128));
        assert!(is_opaque(&"a".repeat(128), 128));
        assert!(!is_opaque(&"a".repeat(129), 128));
        assert!(!is_opaque("", 128));
        for bad in ["a b", "a#b", "a/b", "a%2Fb", "é", "a.b", "a=b"] {
            assert!(!is_opaque(bad, 128), "{bad}");
        }
    }
}

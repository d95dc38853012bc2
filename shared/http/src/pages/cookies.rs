//! The pages' two cookies and the CSRF token bound to them.
//!
//! - `__Host-portal-session`: the session's bearer token (the same session record as the API's,
//!   so the same idle timeout, logout and password-change endings apply). Without "stay signed
//!   in" it is a browser-session cookie; with it, it lasts [`PERSISTENT_COOKIE_SECONDS`].
//! - `__Host-portal-flow`: the state of a flow before there is a session (the sign-up wizard's
//!   answers, a mailed link's token). Sealed with ChaCha20-Poly1305 under a key derived from the
//!   signing key (the ring's current key; any key of the ring opens it, so a key rotation ends
//!   no flow), bound to the account by the associated data, so it can be neither read nor
//!   changed nor moved to another tenant; it lasts [`FLOW_SECONDS`] in the browser and in the
//!   seal. Sealing (not only signing) keeps the wizard's password and a family's personal data
//!   unreadable in the browser's cookie jar and in any log that would print it.
//!
//! Both are `__Host-` cookies: `Secure; HttpOnly; SameSite=Lax; Path=/` and no `Domain`.
//!
//! CSRF: signed double-submit. A form carries `HMAC(key, account, binding)` where the binding is
//! the session token (signed-in pages) or the flow's random id (pages before sign-in); a POST
//! is accepted only when its `csrf` field equals the value recomputed from its own cookie
//! (constant-time). A site that cannot read our cookies cannot produce it. Forms carry the token of
//! the ring's current key; a token of any key of the ring is accepted (a form rendered before a
//! rotation and posted after it).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub(crate) const SESSION_COOKIE: &str = "__Host-portal-session";
pub(crate) const FLOW_COOKIE: &str = "__Host-portal-flow";

/// A flow (wizard, link) lasts an hour from its start.
pub(crate) const FLOW_SECONDS: i64 = 60 * 60;
/// "Stay signed in": the longest lifetime browsers keep a cookie (Chromium caps at 400 days);
/// the session itself has no idle timeout then, as in the API.
pub(crate) const PERSISTENT_COOKIE_SECONDS: i64 = 400 * 24 * 60 * 60;
/// Cookies above this are not parsed (a browser sends at most ~4 KiB per cookie).
const MAX_COOKIE_BYTES: usize = 4096;

/// The value of one cookie of a `Cookie` header.
pub(crate) fn read<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty() && v.len() <= MAX_COOKIE_BYTES)
}

/// A `Set-Cookie` value with the `__Host-` attributes; `max_age: None` is a browser-session
/// cookie, `Some(0)` removes it.
pub(crate) fn set(name: &str, value: &str, max_age: Option<i64>) -> String {
    let mut cookie = format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax");
    if let Some(seconds) = max_age {
        cookie.push_str(&format!("; Max-Age={seconds}"));
    }
    cookie
}

/// Removes a cookie.
pub(crate) fn clear(name: &str) -> String {
    set(name, "", Some(0))
}

/// The state a flow carries between requests.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Flow {
    /// Random; the CSRF binding of the flow's forms.
    pub(crate) id: String,
    /// Unix seconds after which the flow is void.
    pub(crate) exp: i64,
    /// A reset link's token, kept after landing so that it leaves the address bar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reset_token: Option<String>,
    /// An invitation link's token, likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) invitation_token: Option<String>,
    /// The sign-up wizard's answers so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) signup: Option<serde_json::Value>,
}

impl Flow {
    /// A new flow starting `now` (unix seconds).
    pub(crate) fn start(now: i64) -> Result<Self, portal_core::DomainError> {
        Ok(Self {
            id: portal_core::tokens::new_id()?,
            exp: now + FLOW_SECONDS,
            ..Self::default()
        })
    }
}

/// The keys of one tenant's pages, one pair per key of the signing ring, the current key's
/// first.
pub(crate) struct CookieKeys {
    seal: Vec<ChaCha20Poly1305>,
    csrf: Vec<zeroize::Zeroizing<[u8; 32]>>,
    account: String,
}

impl CookieKeys {
    pub(crate) fn new(signer: &portal_core::token_signer::TokenSigner, account: &str) -> Self {
        // One reading of the ring for both purposes.
        let ring = signer.ring();
        Self {
            seal: ring
                .keys()
                .iter()
                .map(|k| {
                    ChaCha20Poly1305::new(Key::from_slice(k.derive("pages flow cookie").as_slice()))
                })
                .collect(),
            csrf: ring.keys().iter().map(|k| k.derive("pages csrf")).collect(),
            account: account.to_owned(),
        }
    }

    fn aad(&self) -> Vec<u8> {
        format!("{FLOW_COOKIE}\0{}", self.account).into_bytes()
    }

    /// The flow sealed into a cookie value.
    pub(crate) fn seal(&self, flow: &Flow) -> Result<String, portal_core::DomainError> {
        let internal = |e: String| portal_core::DomainError::Internal(e);
        let plain = serde_json::to_vec(flow).map_err(|e| internal(e.to_string()))?;
        let mut nonce = [0u8; 12];
        portal_core::tokens::fill_random(&mut nonce)?;
        let sealed = self.seal[0]
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: &self.aad(),
                },
            )
            .map_err(|_| internal("flow cookie sealing".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(B64.encode(out))
    }

    /// The flow of a cookie value, if it was sealed by us (under any key of the ring) for this
    /// account and is not past its end at `now`.
    pub(crate) fn open(&self, value: &str, now: i64) -> Option<Flow> {
        let bytes = B64.decode(value).ok()?;
        if bytes.len() < 12 + 16 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(12);
        let aad = self.aad();
        let plain = self.seal.iter().find_map(|seal| {
            seal.decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .ok()
        })?;
        let flow: Flow = serde_json::from_slice(&plain).ok()?;
        (flow.exp > now).then_some(flow)
    }

    /// The CSRF token of forms bound to `binding` (a session token or a flow id), under the
    /// current key.
    pub(crate) fn csrf_token(&self, binding: &Binding) -> String {
        B64.encode(self.csrf_mac(&self.csrf[0], binding))
    }

    fn csrf_mac(&self, key: &[u8; 32], binding: &Binding) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
        mac.update(self.account.as_bytes());
        mac.update(b"\0");
        match binding {
            Binding::Session(token) => {
                mac.update(b"session\0");
                mac.update(token.as_bytes());
            }
            Binding::Flow(id) => {
                mac.update(b"flow\0");
                mac.update(id.as_bytes());
            }
        }
        mac.finalize().into_bytes().into()
    }

    /// Whether a submitted token is the one for `binding` under a key of the ring (constant
    /// time for each key).
    pub(crate) fn csrf_matches(&self, binding: &Binding, submitted: &str) -> bool {
        let Ok(submitted) = B64.decode(submitted.trim()) else {
            return false;
        };
        self.csrf.iter().any(|key| {
            let expected = self.csrf_mac(key, binding);
            submitted.len() == expected.len() && bool::from(submitted.ct_eq(&expected))
        })
    }
}

/// What a form's CSRF token is bound to.
pub(crate) enum Binding {
    Session(String),
    Flow(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use portal_core::signer::KeyRing;
    use portal_core::token_signer::TokenSigner;
    use secrecy::SecretSlice;

    fn keys(account: &str) -> CookieKeys {
        let signer =
            portal_core::token_signer::TokenSigner::new(&SecretSlice::from(vec![7u8; 32])).unwrap();
        CookieKeys::new(&signer, account)
    }

    const OLD_KEY: &[u8] = b"the key before the rotation 0123456789";
    const NEW_KEY: &[u8] = b"the key after the rotation 0123456789ab";

    /// The keys of a process holding `ring`.
    fn keys_of(ring: KeyRing) -> CookieKeys {
        CookieKeys::new(&TokenSigner::fixed(ring), "splash")
    }

    #[test]
    fn flows_and_forms_from_before_a_rotation_still_open_after_it() {
        let before = KeyRing::single(OLD_KEY, 100).unwrap();
        let after = before.rotated(NEW_KEY, 200, 400 * 86_400).unwrap();
        let old = keys_of(before.clone());
        let new = keys_of(after.clone());

        let flow = Flow::start(1_000).unwrap();
        let sealed_before = old.seal(&flow).unwrap();
        let binding = Binding::Flow(flow.id.clone());
        let form_before = old.csrf_token(&binding);
        assert_eq!(new.open(&sealed_before, 1_001).unwrap().id, flow.id);
        assert!(new.csrf_matches(&binding, &form_before));

        // What the rotated ring issues is under the new key: a process still on the old ring
        // cannot open it, and the new ring keeps opening it once the old key is gone.
        let sealed_after = new.seal(&flow).unwrap();
        let form_after = new.csrf_token(&binding);
        assert!(old.open(&sealed_after, 1_001).is_none());
        assert!(!old.csrf_matches(&binding, &form_after));
        let retired = after
            .rotated(
                b"a third key, the old one retired 0123",
                200 + 401 * 86_400,
                400 * 86_400,
            )
            .unwrap();
        let later = keys_of(retired);
        assert!(later.open(&sealed_before, 1_001).is_none(), "retired key");
        assert!(!later.csrf_matches(&binding, &form_before), "retired key");
        assert!(later.open(&sealed_after, 1_001).is_some());
        assert!(later.csrf_matches(&binding, &form_after));
    }

    #[test]
    fn a_sealed_flow_opens_only_for_its_account_and_before_its_end() {
        let k = keys("splash");
        let mut flow = Flow::start(1_000).unwrap();
        flow.reset_token = Some("tok".into());
        let value = k.seal(&flow).unwrap();
        assert!(!value.contains("tok"));
        let opened = k.open(&value, 1_001).unwrap();
        assert_eq!(opened.reset_token.as_deref(), Some("tok"));
        assert!(k.open(&value, 1_000 + FLOW_SECONDS).is_none());
        assert!(keys("other").open(&value, 1_001).is_none());
        let mut tampered = B64.decode(&value).unwrap();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(k.open(&B64.encode(tampered), 1_001).is_none());
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_session_or_flow() {
        let k = keys("splash");
        let a = Binding::Flow("a".into());
        let token = k.csrf_token(&a);
        assert!(k.csrf_matches(&a, &token));
        assert!(!k.csrf_matches(&Binding::Flow("b".into()), &token));
        assert!(!k.csrf_matches(&Binding::Session("a".into()), &token));
        assert!(!keys("other").csrf_matches(&a, &token));
        assert!(!k.csrf_matches(&a, ""));
        assert!(!k.csrf_matches(&a, "not base64 !"));
    }

    #[test]
    fn cookies_parse_and_carry_the_host_attributes() {
        let header = Some("a=1; __Host-portal-flow=xyz ; b=");
        assert_eq!(read(header, FLOW_COOKIE), Some("xyz"));
        assert_eq!(read(header, "b"), None);
        let c = set(SESSION_COOKIE, "t", None);
        assert_eq!(
            c,
            "__Host-portal-session=t; Path=/; Secure; HttpOnly; SameSite=Lax"
        );
        assert!(clear(FLOW_COOKIE).ends_with("Max-Age=0"));
    }
}

//! The live key ring: the [`KeySource`] port (where the ring is stored) and [`TokenSigner`],
//! which signs and checks tokens with the ring it last read and reads it again now and then, so
//! that a rotation reaches running processes without a restart.
//!
//! When it reads: every [`REFRESH_SECONDS`], in the background (the request that notices the
//! ring is due starts the read and goes on with the ring it has; no request waits for it, and no
//! request reads by itself); and when a token names a key the ring does not hold (another
//! process may already sign with a newer ring), at once, while that request waits, but at most
//! once per [`UNKNOWN_KID_SECONDS`], so that forged key ids cannot turn every request into a
//! read. A failed read keeps the ring it has: an outage of the source must not sign everybody
//! out.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use secrecy::ExposeSecret;
use secrecy::SecretSlice;

use crate::clock::Clock;
use crate::error::{DomainError, DomainResult};
use crate::signer::{Checked, Claims, KeyRing};

/// Between two background reads of the ring.
pub const REFRESH_SECONDS: i64 = 5 * 60;
/// Between two reads for a token whose key the ring does not hold.
pub const UNKNOWN_KID_SECONDS: i64 = 30;

/// Why the ring could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("reading the signing key ring: {0}")]
pub struct KeySourceError(pub String);

/// Where the ring is kept (Secrets Manager on Lambda).
#[async_trait::async_trait]
pub trait KeySource: Send + Sync {
    /// The ring as stored now.
    async fn load(&self) -> Result<KeyRing, KeySourceError>;
}

/// Signs and checks bearer tokens with the ring; cheap to clone (the clones share the ring).
#[derive(Clone)]
pub struct TokenSigner {
    inner: Arc<Inner>,
}

struct Inner {
    ring: RwLock<Arc<KeyRing>>,
    refresh: Option<Refresh>,
}

struct Refresh {
    source: Arc<dyn KeySource>,
    clock: Arc<dyn Clock>,
    /// One read at a time; a request waiting for a key also waits for a read under way.
    reading: tokio::sync::Mutex<()>,
    /// Clock seconds of the last background read's start (or of the first read).
    last_read: AtomicI64,
    /// Clock seconds of the last read for an unknown key id.
    last_unknown_read: AtomicI64,
}

impl TokenSigner {
    /// A signer over one fixed key (at least 32 bytes), never read again: tests, local runs,
    /// the jobs that issue no tokens.
    pub fn new(key: &SecretSlice<u8>) -> DomainResult<Self> {
        let ring = KeyRing::single(key.expose_secret(), 0)
            .map_err(|e| DomainError::Internal(format!("token signing key: {e}")))?;
        Ok(Self::fixed(ring))
    }

    /// A signer over a ring that is never read again.
    pub fn fixed(ring: KeyRing) -> Self {
        Self {
            inner: Arc::new(Inner {
                ring: RwLock::new(Arc::new(ring)),
                refresh: None,
            }),
        }
    }

    /// A signer over `ring` (just read from `source`), reading `source` again as the module
    /// docs say, timed by `clock`.
    pub fn refreshing(ring: KeyRing, source: Arc<dyn KeySource>, clock: Arc<dyn Clock>) -> Self {
        let now = clock.epoch();
        Self {
            inner: Arc::new(Inner {
                ring: RwLock::new(Arc::new(ring)),
                refresh: Some(Refresh {
                    source,
                    clock,
                    reading: tokio::sync::Mutex::new(()),
                    last_read: AtomicI64::new(now),
                    last_unknown_read: AtomicI64::new(i64::MIN),
                }),
            }),
        }
    }

    /// The ring as last read, starting a background read when one is due.
    pub fn ring(&self) -> Arc<KeyRing> {
        self.refresh_if_due();
        self.held()
    }

    fn held(&self) -> Arc<KeyRing> {
        // A poisoned lock still holds a whole ring (it is only ever replaced whole).
        self.inner
            .ring
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Keys for another purpose derived from every key of the ring, the signing key's first
    /// (see [`crate::signer::SigningKey::derive`]): seal or sign with the first, open or check
    /// with any.
    pub fn derived_keys(&self, purpose: &str) -> Vec<zeroize::Zeroizing<[u8; 32]>> {
        self.ring()
            .keys()
            .iter()
            .map(|k| k.derive(purpose))
            .collect()
    }

    pub(crate) fn sign(&self, claims: &Claims) -> DomainResult<String> {
        self.ring().sign(claims)
    }

    /// The claims of a token signed by a key of the ring; a key the ring does not hold makes
    /// the ring be read again first (at most once per [`UNKNOWN_KID_SECONDS`]).
    pub(crate) async fn check(&self, token: &str) -> Option<Claims> {
        match self.ring().check(token) {
            Checked::Valid(claims) => Some(claims),
            Checked::Invalid => None,
            Checked::UnknownKid => match self.ring_for_unknown_kid().await?.check(token) {
                Checked::Valid(claims) => Some(claims),
                Checked::Invalid | Checked::UnknownKid => None,
            },
        }
    }

    /// Reads the ring now (waiting for a read under way first); on failure keeps the ring it
    /// has and says why.
    pub async fn reload(&self) -> Result<(), KeySourceError> {
        let Some(refresh) = &self.inner.refresh else {
            return Ok(());
        };
        let _reading = refresh.reading.lock().await;
        self.read(refresh).await
    }

    async fn read(&self, refresh: &Refresh) -> Result<(), KeySourceError> {
        let ring = refresh.source.load().await?;
        let before = self.held();
        if before.current().kid() != ring.current().kid() {
            tracing::info!(
                kid = ring.current().kid(),
                previous = before.current().kid(),
                keys = ring.keys().len(),
                "signing key ring changed"
            );
        }
        *self.inner.ring.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ring);
        Ok(())
    }

    fn refresh_if_due(&self) {
        let Some(refresh) = &self.inner.refresh else {
            return;
        };
        let now = refresh.clock.epoch();
        let last = refresh.last_read.load(Ordering::Acquire);
        // Only the request that moves `last_read` starts the read.
        if now - last < REFRESH_SECONDS
            || refresh
                .last_read
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let signer = self.clone();
        runtime.spawn(async move {
            let Some(refresh) = &signer.inner.refresh else {
                return;
            };
            // A read under way (for an unknown key) serves as this one.
            let Ok(_reading) = refresh.reading.try_lock() else {
                return;
            };
            if let Err(e) = signer.read(refresh).await {
                tracing::warn!(error = %e, "keeping the signing key ring held");
            }
        });
    }

    /// The ring after reading it again for a key it does not hold, or `None` when the last such
    /// read was under [`UNKNOWN_KID_SECONDS`] ago (or there is nothing to read).
    async fn ring_for_unknown_kid(&self) -> Option<Arc<KeyRing>> {
        let refresh = self.inner.refresh.as_ref()?;
        let _reading = refresh.reading.lock().await;
        let now = refresh.clock.epoch();
        let last = refresh.last_unknown_read.load(Ordering::Acquire);
        if now.saturating_sub(last) < UNKNOWN_KID_SECONDS {
            // Read meanwhile (by this path or in the background): the ring may hold it now.
            return Some(self.held());
        }
        refresh.last_unknown_read.store(now, Ordering::Release);
        refresh.last_read.store(now, Ordering::Release);
        if let Err(e) = self.read(refresh).await {
            tracing::warn!(error = %e, "keeping the signing key ring held");
        }
        Some(self.held())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;
    use crate::clock::AdjustableClock;
    use crate::signer::{SubjectKind, key_id};

    const A: &[u8] = b"key a: 0123456789abcdef0123456789abcdef";
    const B: &[u8] = b"key b: 0123456789abcdef0123456789abcdef";

    /// A stored ring that tests change, counting the reads.
    struct Stored {
        value: Mutex<Result<KeyRing, KeySourceError>>,
        reads: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl KeySource for Stored {
        async fn load(&self) -> Result<KeyRing, KeySourceError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.value.lock().unwrap().clone()
        }
    }

    fn setup() -> (TokenSigner, Arc<Stored>, Arc<AdjustableClock>) {
        let ring = KeyRing::single(A, 0).unwrap();
        let stored = Arc::new(Stored {
            value: Mutex::new(Ok(ring.clone())),
            reads: AtomicUsize::new(0),
        });
        let clock = Arc::new(AdjustableClock::new());
        let signer = TokenSigner::refreshing(ring, stored.clone(), clock.clone());
        (signer, stored, clock)
    }

    fn rotate(stored: &Stored) {
        let mut value = stored.value.lock().unwrap();
        let ring = value
            .as_ref()
            .unwrap()
            .rotated(B, 10, 400 * 86_400)
            .unwrap();
        *value = Ok(ring);
    }

    fn claims() -> Claims {
        Claims {
            acct: "splash".into(),
            sid: "s1".into(),
            kind: SubjectKind::Staff,
            sub: "u1".into(),
            fam: None,
            iat: 1,
        }
    }

    fn kid_of(token: &str) -> String {
        jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
    }

    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        for _ in 0..500 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("never happened: {what}");
    }

    #[tokio::test]
    async fn the_ring_is_read_again_in_the_background_every_five_minutes() {
        let (signer, stored, clock) = setup();
        rotate(&stored);
        let before = signer.sign(&claims()).unwrap();
        assert_eq!(kid_of(&before), key_id(A));
        clock.advance(REFRESH_SECONDS - 1);
        signer.sign(&claims()).unwrap();
        tokio::task::yield_now().await;
        assert_eq!(stored.reads.load(Ordering::SeqCst), 0, "not due yet");

        clock.advance(1);
        // The request that finds the ring due goes on with the ring it has.
        assert_eq!(kid_of(&signer.sign(&claims()).unwrap()), key_id(A));
        for _ in 0..10 {
            signer.ring();
        }
        until("the new key signs", || {
            kid_of(&signer.sign(&claims()).unwrap()) == key_id(B)
        })
        .await;
        assert_eq!(
            stored.reads.load(Ordering::SeqCst),
            1,
            "one read per interval"
        );
        assert!(
            signer.check(&before).await.is_some(),
            "the old key is still held"
        );
    }

    #[tokio::test]
    async fn a_failed_read_keeps_the_ring() {
        let (signer, stored, clock) = setup();
        let token = signer.sign(&claims()).unwrap();
        *stored.value.lock().unwrap() = Err(KeySourceError("throttled".into()));
        clock.advance(REFRESH_SECONDS);
        signer.ring();
        until("the read", || stored.reads.load(Ordering::SeqCst) == 1).await;
        tokio::task::yield_now().await;
        assert!(signer.check(&token).await.is_some());
        assert_eq!(kid_of(&signer.sign(&claims()).unwrap()), key_id(A));
        assert!(signer.reload().await.is_err(), "an explicit read says why");
        assert!(signer.check(&token).await.is_some());
    }

    #[tokio::test]
    async fn an_unknown_kid_reads_the_ring_at_once_but_at_most_every_thirty_seconds() {
        let (signer, stored, clock) = setup();
        rotate(&stored);
        // Another process already signs with the rotated ring.
        let newer = TokenSigner::fixed(stored.value.lock().unwrap().clone().unwrap());
        let from_newer = newer.sign(&claims()).unwrap();
        assert!(signer.check(&from_newer).await.is_some());
        assert_eq!(stored.reads.load(Ordering::SeqCst), 1);

        let forged = TokenSigner::new(&b"forged: 0123456789abcdef0123456789abcdef".to_vec().into())
            .unwrap()
            .sign(&claims())
            .unwrap();
        assert!(signer.check(&forged).await.is_none());
        assert!(signer.check(&forged).await.is_none());
        assert_eq!(
            stored.reads.load(Ordering::SeqCst),
            1,
            "within 30 s of the last read"
        );
        clock.advance(UNKNOWN_KID_SECONDS);
        assert!(signer.check(&forged).await.is_none());
        assert_eq!(stored.reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn parallel_requests_with_a_new_kid_read_the_ring_once() {
        let (signer, stored, _clock) = setup();
        rotate(&stored);
        let newer = TokenSigner::fixed(stored.value.lock().unwrap().clone().unwrap());
        let token = newer.sign(&claims()).unwrap();
        let checks: Vec<_> = (0..32)
            .map(|_| {
                let (signer, token) = (signer.clone(), token.clone());
                tokio::spawn(async move { signer.check(&token).await.is_some() })
            })
            .collect();
        for check in checks {
            assert!(check.await.unwrap(), "every request waits for the one read");
        }
        assert_eq!(stored.reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_fixed_signer_never_reads() {
        let signer = TokenSigner::new(&A.to_vec().into()).unwrap();
        let other = TokenSigner::new(&B.to_vec().into()).unwrap();
        assert!(
            signer
                .check(&other.sign(&claims()).unwrap())
                .await
                .is_none()
        );
        assert!(signer.reload().await.is_ok());
        assert!(TokenSigner::new(&b"short".to_vec().into()).is_err());
    }
}

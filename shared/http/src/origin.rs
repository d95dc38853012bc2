//! The front door's origin check. Behind CloudFront (every stage but dev), CloudFront adds a
//! secret header to each request it forwards, and the functions refuse requests without it: the
//! API's own domain is public DNS, and a client who finds it must not get around the WAF's rate
//! rules. The header's name is shared with the CDK stack (infra/lib/front-door.ts).

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::problem::problem;

/// The header CloudFront adds (ORIGIN_VERIFY_HEADER in infra/lib/front-door.ts).
pub const ORIGIN_VERIFY_HEADER: &str = "x-origin-verify";

/// The value a request must carry in [`ORIGIN_VERIFY_HEADER`].
pub struct OriginGuard {
    expected: SecretString,
}

impl OriginGuard {
    /// `None` for an empty value: an empty secret would let any empty header through.
    pub fn new(expected: SecretString) -> Option<Self> {
        (!expected.expose_secret().is_empty()).then_some(Self { expected })
    }

    /// `Ok` when the request came through the front door; otherwise the `403 forbidden` answer
    /// (the same code as any other refusal: it tells a prober nothing about the header).
    #[allow(clippy::result_large_err)]
    pub fn check(
        &self,
        headers: &HeaderMap,
        request_id: Option<&str>,
    ) -> Result<(), Response<Bytes>> {
        let given = headers
            .get(ORIGIN_VERIFY_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        let expected = self.expected.expose_secret().as_bytes();
        if bool::from(given.ct_eq(expected)) {
            Ok(())
        } else {
            Err(problem(
                StatusCode::FORBIDDEN,
                "forbidden",
                "requests reach this API through its public address only",
                &[],
                None,
                request_id,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = value {
            h.insert(ORIGIN_VERIFY_HEADER, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_the_exact_value_passes() {
        let guard = OriginGuard::new(SecretString::from("s3cret-value")).unwrap();
        assert!(guard.check(&headers(Some("s3cret-value")), None).is_ok());
        for wrong in [
            None,
            Some(""),
            Some("s3cret-valu"),
            Some("s3cret-value2"),
            Some("S3CRET-VALUE"),
        ] {
            let refused = guard.check(&headers(wrong), Some("req-1")).unwrap_err();
            assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{wrong:?}");
            let body: serde_json::Value = serde_json::from_slice(refused.body()).unwrap();
            assert_eq!(body["code"], "forbidden");
            assert!(
                !refused.body().windows(6).any(|w| w == b"s3cret"),
                "the answer never echoes the value"
            );
        }
    }

    #[test]
    fn an_empty_secret_makes_no_guard() {
        assert!(OriginGuard::new(SecretString::from("")).is_none());
    }
}

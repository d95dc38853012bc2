//! Reading requests: JSON bodies, query strings and the bearer token.

use bytes::Bytes;
use http::{Request, header};
use portal_core::DomainError;
use serde::de::DeserializeOwned;

/// Parses a JSON body; an empty body reads as `{}` so missing fields become field errors.
/// Malformed JSON or wrong types: `malformed_request`. Unknown fields are ignored.
pub fn json_body<T: DeserializeOwned>(req: &Request<Bytes>) -> Result<T, DomainError> {
    let body = req.body();
    let bytes: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(bytes).map_err(|e| {
        // serde's message names the position and the expected type; never the value of a
        // string (which could be a password).
        let detail = match e.classify() {
            serde_json::error::Category::Data => format!(
                "a field has the wrong type (line {}, column {})",
                e.line(),
                e.column()
            ),
            _ => format!(
                "the body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        };
        DomainError::Malformed(detail)
    })
}

/// The bearer token of the `Authorization` header, if any.
pub fn bearer(req: &Request<Bytes>) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Query parameters, percent-decoded.
pub fn query_params(req: &Request<Bytes>) -> Result<Vec<(String, String)>, DomainError> {
    let Some(query) = req.uri().query() else {
        return Ok(Vec::new());
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

pub(crate) fn percent_decode(s: &str) -> Result<String, DomainError> {
    let bad = || DomainError::Malformed("invalid query string".into());
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
                let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, auth: Option<&str>, body: &str) -> Request<Bytes> {
        let mut b = Request::builder().uri(uri);
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(Bytes::from(body.to_owned())).unwrap()
    }

    #[test]
    fn bearer_and_query() {
        assert_eq!(bearer(&req("/", Some("Bearer abc"), "")), Some("abc"));
        assert_eq!(bearer(&req("/", Some("bearer  abc "), "")), Some("abc"));
        assert_eq!(bearer(&req("/", Some("Basic abc"), "")), None);
        assert_eq!(bearer(&req("/", Some("Bearer "), "")), None);
        let q = query_params(&req("/x?limit=5&cursor=a%2Db", None, "")).unwrap();
        assert_eq!(
            q,
            vec![
                ("limit".into(), "5".into()),
                ("cursor".into(), "a-b".into())
            ]
        );
        assert!(query_params(&req("/x?a=%zz", None, "")).is_err());
    }

    #[test]
    fn bodies() {
        #[derive(serde::Deserialize)]
        struct B {
            a: Option<String>,
        }
        assert!(json_body::<B>(&req("/", None, "")).unwrap().a.is_none());
        assert!(
            json_body::<B>(&req("/", None, r#"{"a":"x","z":1}"#))
                .unwrap()
                .a
                .is_some()
        );
        assert!(matches!(
            json_body::<B>(&req("/", None, r#"{"a":1}"#)),
            Err(DomainError::Malformed(_))
        ));
        assert!(matches!(
            json_body::<B>(&req("/", None, "{")),
            Err(DomainError::Malformed(_))
        ));
        assert!(matches!(
            json_body::<B>(&req("/", None, "[]")),
            Err(DomainError::Malformed(_))
        ));
    }
}

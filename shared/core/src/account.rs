//! The account (tenant) name that every route starts with: `/a/{account}`.

use std::fmt;

/// A valid account name: `^[a-z0-9][a-z0-9-]{1,62}$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct AccountName(String);

impl AccountName {
    pub fn parse(raw: &str) -> Option<Self> {
        let bytes = raw.as_bytes();
        let valid = (2..=63).contains(&bytes.len())
            && matches!(bytes[0], b'a'..=b'z' | b'0'..=b'9')
            && bytes[1..]
                .iter()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'));
        valid.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_contract_pattern() {
        for ok in ["ab", "swim-school", "a1", "0-9", &"a".repeat(63)] {
            assert!(AccountName::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "a",
            "-ab",
            "Ab",
            "a_b",
            "a b",
            "ab/",
            &"a".repeat(64),
            "é1",
        ] {
            assert!(AccountName::parse(bad).is_none(), "{bad}");
        }
    }
}

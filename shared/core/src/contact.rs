//! Email addresses and phone numbers, parsed at the edge.

use std::fmt;

use crate::error::FieldError;

/// A syntactically valid email address, trimmed. Compared case-insensitively through
/// [`Email::normalized`]; echoed back as given.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str, field: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        let invalid = || FieldError::new(field, "invalid_email", "not a valid email address");
        if s.is_empty() {
            return Err(FieldError::required(field));
        }
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.len() >= 3
            && domain.contains('.')
            && !domain.starts_with(['.', '-'])
            && !domain.ends_with(['.', '-'])
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.contains('@')
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && !local.contains(['"', '(', ')', ',', ':', ';', '<', '>', '[', ']', '\\']);
        if domain_ok && local_ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(invalid())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The comparison form: lower-cased.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number in E.164 form (`+` and 8 to 15 digits). Input may contain spaces, dots,
/// dashes and parentheses; a 10-digit number without `+` is taken as North American (+1),
/// where this product's customers are.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(raw: &str, field: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(FieldError::required(field));
        }
        let invalid = || FieldError::new(field, "invalid_phone", "not a valid phone number");
        let plus = s.starts_with('+');
        let rest = if plus { &s[1..] } else { s };
        if !rest
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
        {
            return Err(invalid());
        }
        let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
        let e164 = match (plus, digits.len()) {
            (true, 8..=15) if !digits.starts_with('0') => format!("+{digits}"),
            (false, 10) => format!("+1{digits}"),
            (false, 11) if digits.starts_with('1') => format!("+{digits}"),
            _ => return Err(invalid()),
        };
        Ok(Self(e164))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A required, trimmed, non-empty text of at most `max` characters (names, titles).
pub fn parse_text(raw: &str, field: &str, max: usize) -> Result<String, FieldError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(FieldError::required(field));
    }
    if s.chars().count() > max {
        return Err(FieldError::new(
            field,
            "too_long",
            format!("at most {max} characters"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "invalid",
            "contains control characters",
        ));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in ["a@b.co", " Ann.Lee+x@Example.COM ", "o'neil@x-y.org"] {
            assert!(Email::parse(ok, "email").is_ok(), "{ok}");
        }
        for bad in [
            "", "a", "a@b", "a@@b.co", "a b@c.de", "@b.co", "a@.co", "a@b..co", "a.@b.co",
        ] {
            assert!(Email::parse(bad, "email").is_err(), "{bad}");
        }
        let e = Email::parse(" Ann@Example.com", "email").unwrap();
        assert_eq!(e.as_str(), "Ann@Example.com");
        assert_eq!(e.normalized(), "ann@example.com");
    }

    #[test]
    fn phones() {
        assert_eq!(
            PhoneNumber::parse("(555) 123-4567", "p").unwrap().as_str(),
            "+15551234567"
        );
        assert_eq!(
            PhoneNumber::parse("+44 20 7946 0958", "p")
                .unwrap()
                .as_str(),
            "+442079460958"
        );
        for bad in ["", "12", "+0123456789", "555-CALL-NOW", "+1234567890123456"] {
            assert!(PhoneNumber::parse(bad, "p").is_err(), "{bad}");
        }
    }
}

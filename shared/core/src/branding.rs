//! A tenant's branding for the hosted pages: a logo and two colours. Colours are `#rrggbb`; the
//! pair is refused below 4.5:1 contrast (WCAG 2.2 AA for normal text), since one is drawn on the
//! other.

use serde::{Deserialize, Serialize};

use crate::error::{FieldError, FieldErrors};

/// The least contrast allowed between the primary and the accent colour.
pub const MIN_CONTRAST: f64 = 4.5;
/// The longest logo URL accepted.
const MAX_LOGO_URL: usize = 2048;

/// A colour as `#rrggbb` (stored lower-case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Colour(String);

impl Colour {
    pub fn parse(raw: &str, field: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        let ok =
            s.len() == 7 && s.starts_with('#') && s[1..].chars().all(|c| c.is_ascii_hexdigit());
        if ok {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(FieldError::new(field, "invalid", "use a colour as #rrggbb"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// WCAG relative luminance.
    fn luminance(&self) -> f64 {
        let channel = |i: usize| {
            let v = f64::from(u8::from_str_radix(&self.0[i..i + 2], 16).unwrap_or(0)) / 255.0;
            if v <= 0.039_28 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
    }

    /// The WCAG contrast ratio of two colours (1 to 21).
    pub fn contrast(&self, other: &Colour) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }
}

impl TryFrom<String> for Colour {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Colour::parse(&s, "colour").map_err(|e| e.detail)
    }
}

impl From<Colour> for String {
    fn from(c: Colour) -> String {
        c.0
    }
}

/// The branding as stored and shown in the settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Branding {
    pub logo_url: Option<String>,
    pub primary_color: Option<Colour>,
    pub accent_color: Option<Colour>,
}

/// A branding change as received: a field left out is unchanged, `null` clears it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BrandingInput {
    #[serde(default, deserialize_with = "crate::nullable")]
    pub logo_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::nullable")]
    pub primary_color: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::nullable")]
    pub accent_color: Option<Option<String>>,
}

/// A parsed branding change.
#[derive(Debug, Clone, Default)]
pub struct BrandingChange {
    logo_url: Option<Option<String>>,
    primary_color: Option<Option<Colour>>,
    accent_color: Option<Option<Colour>>,
}

fn parse_logo_url(raw: &str) -> Result<String, FieldError> {
    let s = raw.trim();
    let ok = s.len() <= MAX_LOGO_URL
        && s.starts_with("https://")
        && s.len() > "https://".len()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"'<>\\`".contains(c));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(FieldError::new(
            "branding.logo_url",
            "invalid",
            "use an https:// address of at most 2048 characters",
        ))
    }
}

impl BrandingChange {
    /// Parses each field; errors go to `errors` (named `branding.<field>`).
    pub fn parse(input: &BrandingInput, errors: &mut FieldErrors) -> Self {
        Self {
            logo_url: errors.take_optional(&input.logo_url, parse_logo_url),
            primary_color: errors.take_optional(&input.primary_color, |s| {
                Colour::parse(s, "branding.primary_color")
            }),
            accent_color: errors.take_optional(&input.accent_color, |s| {
                Colour::parse(s, "branding.accent_color")
            }),
        }
    }

    /// The branding after this change, refused when its colours fall below [`MIN_CONTRAST`].
    pub fn applied_to(&self, current: &Branding) -> Result<Branding, FieldError> {
        let mut next = current.clone();
        if let Some(v) = &self.logo_url {
            next.logo_url = v.clone();
        }
        if let Some(v) = &self.primary_color {
            next.primary_color = v.clone();
        }
        if let Some(v) = &self.accent_color {
            next.accent_color = v.clone();
        }
        if let (Some(p), Some(a)) = (&next.primary_color, &next.accent_color)
            && p.contrast(a) < MIN_CONTRAST
        {
            return Err(FieldError::new(
                "branding.accent_color",
                "insufficient_contrast",
                format!(
                    "the primary and accent colours have a contrast of {:.2}:1; at least \
                     {MIN_CONTRAST}:1 is needed",
                    p.contrast(a)
                ),
            ));
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Colour {
        Colour::parse(s, "c").unwrap()
    }

    #[test]
    fn contrast_follows_wcag() {
        assert!((c("#000000").contrast(&c("#FFFFFF")) - 21.0).abs() < 1e-9);
        assert!((c("#777777").contrast(&c("#ffffff")) - 4.48).abs() < 0.01);
        assert!(c("#595959").contrast(&c("#ffffff")) >= MIN_CONTRAST);
    }

    #[test]
    fn only_rrggbb_is_a_colour() {
        for bad in ["red", "#fff", "#12345g", "123456", "#1234567", ""] {
            assert!(Colour::parse(bad, "c").is_err(), "{bad}");
        }
        assert_eq!(c(" #AbCdEf ").as_str(), "#abcdef");
    }

    #[test]
    fn a_low_contrast_pair_is_refused_also_when_one_colour_was_stored() {
        let stored = Branding {
            primary_color: Some(c("#ffffff")),
            ..Branding::default()
        };
        let mut errors = FieldErrors::new();
        let change = BrandingChange::parse(
            &BrandingInput {
                accent_color: Some(Some("#eeeeee".into())),
                ..BrandingInput::default()
            },
            &mut errors,
        );
        let refused = change.applied_to(&stored).unwrap_err();
        assert_eq!(refused.code, "insufficient_contrast");
        let change = BrandingChange::parse(
            &BrandingInput {
                accent_color: Some(Some("#1a1a1a".into())),
                logo_url: Some(Some("javascript:alert(1)".into())),
                ..BrandingInput::default()
            },
            &mut errors,
        );
        assert!(change.applied_to(&stored).is_ok());
        assert!(errors.finish().is_err());
    }
}

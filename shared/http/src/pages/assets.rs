//! The static files of the pages (one stylesheet, no script: every page works without
//! JavaScript), served under a content-hashed name with a year's cache lifetime, and the
//! per-tenant `theme.css` that sets the brand colours as custom properties.

use std::sync::OnceLock;

use portal_core::branding::{Branding, Colour, MIN_CONTRAST};
use sha2::{Digest, Sha256};

/// The stylesheet. Tenant colours are only ever drawn as a pair (a primary background with
/// accent text: the header band and the main buttons), the pair the settings refuse below
/// 4.5:1; text and links use fixed colours that pass on white.
const STYLESHEET: &str = include_str!("portal.css");

/// The default brand colours (10.4:1).
pub(crate) const DEFAULT_PRIMARY: &str = "#1d4f91";
pub(crate) const DEFAULT_ACCENT: &str = "#ffffff";

/// The stylesheet's served name: `portal.<first 12 hex of its SHA-256>.css`.
pub(crate) fn stylesheet_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let digest = Sha256::digest(STYLESHEET.as_bytes());
        let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        format!("portal.{hex}.css")
    })
}

/// The static file with this served name, with its content type.
pub(crate) fn file(name: &str) -> Option<(&'static str, &'static str)> {
    (name == stylesheet_name()).then_some(("text/css; charset=utf-8", STYLESHEET))
}

/// `theme.css`: the tenant's colours (or the defaults).
pub(crate) fn theme(branding: &Branding) -> String {
    let primary = branding
        .primary_color
        .as_ref()
        .map_or(DEFAULT_PRIMARY, |c| c.as_str());
    let accent = branding
        .accent_color
        .as_ref()
        .map_or(DEFAULT_ACCENT, |c| c.as_str());
    // A tenant that sets only one colour keeps the default for the other only when the pair
    // still reads; otherwise both defaults (the settings check pairs, not single colours).
    let readable = match (Colour::parse(primary, ""), Colour::parse(accent, "")) {
        (Ok(p), Ok(a)) => p.contrast(&a) >= MIN_CONTRAST,
        _ => false,
    };
    let (primary, accent) = if readable {
        (primary, accent)
    } else {
        (DEFAULT_PRIMARY, DEFAULT_ACCENT)
    };
    format!(":root {{ --primary: {primary}; --accent: {accent}; }}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stylesheet_is_served_under_its_hash_only() {
        let name = stylesheet_name();
        assert!(name.starts_with("portal.") && name.ends_with(".css") && name.len() == 23);
        assert!(file(name).is_some());
        assert!(file("portal.css").is_none());
    }

    #[test]
    fn a_theme_never_pairs_colours_below_the_contrast_floor() {
        assert!(theme(&Branding::default()).contains("--primary: #1d4f91"));
        let lone_light: Branding =
            serde_json::from_value(serde_json::json!({"primary_color": "#eeeeee"})).unwrap();
        assert!(theme(&lone_light).contains("--primary: #1d4f91"));
        let pair: Branding = serde_json::from_value(
            serde_json::json!({"primary_color": "#000000", "accent_color": "#ffff00"}),
        )
        .unwrap();
        assert!(theme(&pair).contains("--primary: #000000; --accent: #ffff00"));
    }
}

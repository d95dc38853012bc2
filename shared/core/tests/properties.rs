//! Property tests: the parsers at the edge of the domain never panic, whatever text they get
//! (empty, very long, control characters, any Unicode), and what they accept has the documented
//! shape.

use portal_core::account::AccountName;
use portal_core::contact::{Email, PhoneNumber, parse_text};
use portal_core::passwords::{MAX_LENGTH, MIN_LENGTH, Password};
use portal_core::resets::Channel;
use portal_core::staff::{NewStaff, StaffInput, Username};
use portal_core::tenants::{SettingsChange, SettingsInput};
use proptest::prelude::*;
use secrecy::SecretString;

/// Any text: short arbitrary Unicode, long arbitrary Unicode (past every length limit), and
/// printable ASCII close to what the parsers accept.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(any::<char>(), 0..1200).prop_map(String::from_iter),
        "[ -~]{0,300}",
        "[a-z0-9-]{0,70}",
        "[+ ().0-9-]{0,24}",
        "[A-Za-z0-9.+_-]{0,70}@[A-Za-z0-9.-]{0,40}",
        "[ \\t\\n\\u{0}-\\u{1f}\\u{7f}-\\u{9f}\\u{200b}\\u{feff}]{0,20}",
    ]
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn account_names(raw in text()) {
        let parsed = AccountName::parse(&raw);
        let valid = (2..=63).contains(&raw.len())
            && raw.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        prop_assert_eq!(parsed.is_some(), valid);
        if let Some(name) = parsed {
            prop_assert_eq!(name.as_str(), raw.as_str());
        }
    }

    #[test]
    fn emails(raw in text()) {
        match Email::parse(&raw, "email") {
            Ok(email) => {
                let s = email.as_str();
                prop_assert_eq!(s, raw.trim());
                prop_assert!(s.len() <= 254 && s.contains('@'));
                prop_assert!(!s.chars().any(|c| c.is_whitespace() || c.is_control()));
            }
            Err(e) => {
                prop_assert_eq!(e.field.as_str(), "email");
                prop_assert!(["required", "invalid_email"].contains(&e.code), "{}", e.code);
            }
        }
    }

    #[test]
    fn phone_numbers(raw in text()) {
        match PhoneNumber::parse(&raw, "phone") {
            Ok(phone) => {
                let s = phone.as_str();
                let digits = s.strip_prefix('+').expect("E.164 starts with +");
                prop_assert!((8..=15).contains(&digits.len()), "{s}");
                prop_assert!(digits.chars().all(|c| c.is_ascii_digit()), "{s}");
            }
            Err(e) => {
                prop_assert!(["required", "invalid_phone"].contains(&e.code), "{}", e.code);
            }
        }
    }

    #[test]
    fn usernames(raw in text()) {
        match Username::parse(&raw, "username") {
            Ok(name) => {
                let s = name.as_str();
                prop_assert!((1..=64).contains(&s.chars().count()));
                prop_assert!(!s.chars().any(|c| c.is_whitespace() || c.is_control()));
                // The comparison form never panics either, whatever the case mapping does.
                let _ = name.normalized();
            }
            Err(e) => {
                prop_assert!(["required", "invalid_username"].contains(&e.code), "{}", e.code);
            }
        }
    }

    #[test]
    fn passwords(raw in text()) {
        let length = raw.chars().count();
        match Password::parse(SecretString::from(raw.clone()), "password") {
            Ok(password) => {
                prop_assert!((MIN_LENGTH..=MAX_LENGTH).contains(&length));
                prop_assert_eq!(password.expose(), raw.as_str());
            }
            Err(e) => {
                prop_assert!(
                    ["required", "password_policy", "password_too_common"].contains(&e.code),
                    "{}",
                    e.code
                );
                // The error never echoes the password.
                prop_assert!(raw.chars().count() < 8 || !e.detail.contains(raw.as_str()));
            }
        }
    }

    #[test]
    fn texts(raw in text(), max in 1usize..300) {
        match parse_text(&raw, "name", max) {
            Ok(s) => {
                prop_assert_eq!(s.as_str(), raw.trim());
                prop_assert!(!s.is_empty() && s.chars().count() <= max);
                prop_assert!(!s.chars().any(char::is_control));
            }
            Err(e) => {
                prop_assert!(["required", "too_long", "invalid"].contains(&e.code), "{}", e.code);
            }
        }
    }

    #[test]
    fn channels(raw in proptest::option::of(text())) {
        let _ = Channel::parse(raw.as_deref());
    }
}

/// JSON values of any shape, biased towards the fields the request types read.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let field = prop_oneof![
        Just("username".to_owned()),
        Just("first_name".to_owned()),
        Just("last_name".to_owned()),
        Just("email".to_owned()),
        Just("phone".to_owned()),
        Just("password".to_owned()),
        Just("user_group_id".to_owned()),
        Just("advanced_permissions".to_owned()),
        Just("staff".to_owned()),
        Just("business_name".to_owned()),
        Just("business_email".to_owned()),
        Just("location_phone".to_owned()),
        Just("custom_fields".to_owned()),
        Just("key".to_owned()),
        Just("label".to_owned()),
        Just("required".to_owned()),
        Just("sms_enabled".to_owned()),
        any::<String>(),
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        text().prop_map(serde_json::Value::from),
        Just(serde_json::Value::from("full")),
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(field.clone(), inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..config() })]

    /// Request bodies that deserialize are parsed into domain values without a panic.
    #[test]
    fn staff_and_settings_inputs(value in json_value()) {
        if let Ok(input) = serde_json::from_value::<StaffInput>(value.clone()) {
            let _ = NewStaff::parse(input, "");
        }
        if let Ok(input) = serde_json::from_value::<SettingsInput>(value) {
            let _ = SettingsChange::parse(&input);
        }
    }
}

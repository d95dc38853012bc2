//! Every function of the route table (the API's routes and the hosted pages', `all_routes()`,
//! as `infra/routes.json` lists them) is a Lambda binary package under `functions/`, serving
//! exactly that function's routes, and every Lambda package under `functions/` is in the table
//! (or is the scheduled purge, the key rotation, the ops command or portal-local).

use std::collections::BTreeSet;

use portal_http::Function;
use portal_http::routes::all_routes;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
/// Packages under functions/ that serve no route.
const NOT_ROUTED: [&str; 4] = ["purge", "rotate-key", "admin", "local"];

#[test]
fn every_routed_function_has_its_own_binary_and_nothing_else_does() {
    let routed: BTreeSet<&str> = all_routes().map(|r| r.function.name()).collect();
    assert!(
        routed.contains("pages"),
        "the hosted pages are a function of the table"
    );
    let all: BTreeSet<&str> = Function::ALL.iter().map(|f| f.name()).collect();
    assert_eq!(routed, all, "every Function serves a route");
    for name in &routed {
        let dir = format!("{ROOT}/functions/{name}");
        let manifest = std::fs::read_to_string(format!("{dir}/Cargo.toml"))
            .unwrap_or_else(|_| panic!("route function {name} has no package at functions/{name}"));
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "{name}: package name"
        );
        let main = std::fs::read_to_string(format!("{dir}/src/main.rs")).unwrap();
        let function = Function::from_name(name).unwrap();
        assert!(
            main.contains(&format!("Function::{function:?}")),
            "functions/{name}/src/main.rs must run Function::{function:?}"
        );
    }
    for entry in std::fs::read_dir(format!("{ROOT}/functions")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            routed.contains(name.as_str()) || NOT_ROUTED.contains(&name.as_str()),
            "functions/{name} serves no route of the table"
        );
    }
    let workspace = std::fs::read_to_string(format!("{ROOT}/Cargo.toml")).unwrap();
    for name in routed.iter().chain(NOT_ROUTED.iter()) {
        assert!(
            workspace.contains(&format!("\"functions/{name}\"")),
            "functions/{name} is not a workspace member"
        );
    }
}

/// Each Lambda links only the clients its routes use (portal-lambda features), as the stack
/// grants them (infra FUNCTION_PERMISSIONS): login and office neither mail nor text, only
/// reset-password texts, the scheduled purge reads no secret. The key rotation reads and writes
/// the secret through its own client, not portal-lambda's. The pages mail (reset links,
/// invitations, sign-up codes) but never text: the only SMS route is the office's.
#[test]
fn each_function_links_only_the_clients_it_uses() {
    let expected: [(&str, &[&str]); 9] = [
        ("login", &["secret"]),
        ("office", &["secret"]),
        ("signup", &["secret", "mail"]),
        ("invite", &["secret", "mail"]),
        ("revoke", &["secret", "mail"]),
        ("reset-password", &["secret", "mail", "sms"]),
        ("pages", &["secret", "mail"]),
        ("purge", &["mail"]),
        ("rotate-key", &[]),
    ];
    for (name, features) in expected {
        let manifest =
            std::fs::read_to_string(format!("{ROOT}/functions/{name}/Cargo.toml")).unwrap();
        let line = manifest
            .lines()
            .find(|l| l.starts_with("portal-lambda"))
            .unwrap_or_else(|| panic!("{name}: no portal-lambda dependency"));
        for feature in ["secret", "mail", "sms"] {
            assert_eq!(
                line.contains(&format!("\"{feature}\"")),
                features.contains(&feature),
                "{name}: feature {feature} in {line}"
            );
        }
    }
}

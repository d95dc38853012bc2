//! `openapi.yaml` describes exactly what is served: every route of the route table and every
//! `/_dev` route of portal-local is an operation, and every operation not marked
//! `x-planned: true` is served.

use std::collections::BTreeSet;

use portal_http::ROUTES;
use portal_local::DEV_ROUTES;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn operations() -> (BTreeSet<String>, BTreeSet<String>) {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml"))
        .expect("openapi.yaml");
    let doc: serde_json::Value = serde_norway::from_str(&text).expect("openapi.yaml parses");
    let mut served = BTreeSet::new();
    let mut planned = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                let key = format!("{} {path}", method.to_uppercase());
                if op["x-planned"] == true {
                    planned.insert(key);
                } else {
                    served.insert(key);
                }
            }
        }
    }
    (served, planned)
}

#[test]
fn openapi_lists_exactly_the_served_routes() {
    let (documented, planned) = operations();
    let served: BTreeSet<String> = ROUTES
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .chain(DEV_ROUTES.iter().map(|(m, p)| format!("{m} {p}")))
        .collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "served but not in openapi.yaml (or marked planned): {missing:?}"
    );
    assert!(
        unserved.is_empty(),
        "in openapi.yaml but not served: {unserved:?}"
    );
    assert!(planned.is_disjoint(&served));
}

//! Property tests over request handling: the body and query parsers and the route lookup never
//! panic, and the whole pipeline (`App::handle` on the embedded store) answers any request with
//! a status below 500 and every error as a problem document.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use http::{Method, Request, Uri};
use portal_core::Portal;
use portal_core::account::AccountName;
use portal_core::clock::SystemClock;
use portal_core::invitations::AcceptInvitationInput;
use portal_core::messaging::{DeliveryError, Email, Mailer, Sms, SmsSender};
use portal_core::onboarding::NewTenant;
use portal_core::passwords::PasswordHasherConfig;
use portal_core::policies::PolicyInput;
use portal_core::revocations::PrimaryChangeInput;
use portal_core::signup::SignupInput;
use portal_core::staff::{NewStaff, PermissionsChange, StaffInput};
use portal_core::store::EmbeddedStore;
use portal_core::tenants::{SettingsChange, SettingsInput};
use portal_core::token_signer::TokenSigner;
use portal_http::request::{json_body, query_params};
use portal_http::routes::{Lookup, lookup};
use portal_http::{App, Function, ROUTES};
use proptest::prelude::*;
use secrecy::SecretString;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Fields the request types read, and any other name.
fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "username",
            "password",
            "new_password",
            "current_password",
            "password_confirmation",
            "stay_logged_in",
            "first_name",
            "last_name",
            "email",
            "phone",
            "phones",
            "number",
            "type",
            "address",
            "guardian",
            "client",
            "age_confirmed",
            "token",
            "version",
            "title",
            "body",
            "required",
            "permissions",
            "advanced_permissions",
            "user_group_id",
            "guardian_id",
            "family_id",
            "staff",
            "families",
            "settings",
            "custom_fields",
            "key",
            "label",
            "channel",
            "policies",
            "id",
            "note",
            "business_name",
            "sms_enabled",
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        prop::sample::select(vec![
            "",
            "full",
            "view",
            "none",
            "web",
            "mobile",
            "email",
            "sms",
            "home",
            "Sw1m-Sch00l!x",
            "a@b.co",
            "+15551234567",
        ])
        .prop_map(str::to_owned),
        proptest::collection::vec(any::<char>(), 300..1200).prop_map(String::from_iter),
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        text().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 10, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(field(), inner, 0..10)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Request bodies: JSON objects of the fields the request types read, arbitrary bytes, JSON of
/// any shape (also truncated), whitespace, and just under or over the 16 KiB limit.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::collection::btree_map(field(), json_value(), 0..10).prop_map(|m| {
            serde_json::to_vec(&serde_json::Value::Object(m.into_iter().collect())).unwrap()
        }),
        1 => proptest::collection::vec(any::<u8>(), 0..256),
        1 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => (json_value(), any::<prop::sample::Index>()).prop_map(|(v, cut)| {
            let mut bytes = serde_json::to_vec(&v).unwrap();
            bytes.truncate(cut.index(bytes.len() + 1));
            bytes
        }),
        1 => Just(b" \r\n\t ".to_vec()),
        1 => (16 * 1024 - 2..16 * 1024 + 64usize).prop_map(|n| {
            let mut bytes = b"{\"a\":\"".to_vec();
            bytes.resize(n, b'x');
            bytes.extend_from_slice(b"\"}");
            bytes
        }),
    ]
}

fn request(uri: &str, method: Method, body: Vec<u8>) -> Request<Bytes> {
    Request::builder()
        .method(method)
        .uri(uri)
        .body(Bytes::from(body))
        .unwrap()
}

proptest! {
    #![proptest_config(config(256))]

    /// Any bytes into the request types: a value or `malformed_request`, never a panic; what
    /// parses goes through the domain's parsers too.
    #[test]
    fn json_bodies(bytes in body()) {
        let req = request("/", Method::POST, bytes);
        let malformed = |e: portal_core::DomainError| {
            matches!(e, portal_core::DomainError::Malformed(_))
        };
        match json_body::<StaffInput>(&req) {
            Ok(input) => {
                let _ = NewStaff::parse(input, "");
            }
            Err(e) => prop_assert!(malformed(e)),
        }
        match json_body::<SettingsInput>(&req) {
            Ok(input) => {
                let _ = SettingsChange::parse(&input);
            }
            Err(e) => prop_assert!(malformed(e)),
        }
        for result in [
            json_body::<SignupInput>(&req).map(|_| ()),
            json_body::<AcceptInvitationInput>(&req).map(|_| ()),
            json_body::<PermissionsChange>(&req).map(|_| ()),
            json_body::<PolicyInput>(&req).map(|_| ()),
            json_body::<PrimaryChangeInput>(&req).map(|_| ()),
            json_body::<serde_json::Value>(&req).map(|_| ()),
        ] {
            if let Err(e) = result {
                prop_assert!(malformed(e));
            }
        }
    }

    /// Any URI that `http` accepts: the query parses or is `malformed_request`.
    #[test]
    fn query_strings(raw in prop_oneof![
        any::<String>(),
        "/[ -~]{0,80}",
        "/a/swim/office/audit\\?[a-zA-Z0-9%=&+._~-]{0,60}",
    ]) {
        if let Ok(uri) = Uri::try_from(raw.as_str()) {
            let req = request(&uri.to_string(), Method::GET, Vec::new());
            let _ = query_params(&req);
        }
    }

    /// Percent-encoding any pairs and decoding them gives them back.
    #[test]
    fn query_round_trip(pairs in proptest::collection::vec((any::<String>(), any::<String>()), 0..5)) {
        let encode = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
        let query: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        let req = request(&format!("/x?{}", query.join("&")), Method::GET, Vec::new());
        let decoded = query_params(&req).unwrap();
        prop_assert_eq!(decoded, pairs);
    }

    /// Any method and path: a route, 405 or 404, never a panic; a matched route takes that
    /// method and hands back every parameter its pattern names.
    #[test]
    fn route_lookup(
        method in prop_oneof![
            prop::sample::select(vec![
                Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE,
                Method::HEAD, Method::OPTIONS, Method::TRACE, Method::CONNECT,
            ]),
            "[A-Z]{1,12}".prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap()),
        ],
        path in prop_oneof![any::<String>(), "(/[a-z0-9{}_-]{0,12}){0,9}/?"],
        function in proptest::option::of(prop::sample::select(Function::ALL.to_vec())),
    ) {
        match lookup(&method, &path, function) {
            Lookup::Found(route, params) => {
                prop_assert_eq!(&route.method, &method);
                prop_assert!(function.is_none_or(|f| f == route.function));
                for name in route.path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')) {
                    prop_assert!(params.get(name).is_some_and(|v| !v.is_empty()), "{}", name);
                }
            }
            Lookup::MethodNotAllowed(allowed) => {
                prop_assert!(!allowed.is_empty() && !allowed.contains(&method));
            }
            Lookup::NotFound => {}
        }
    }

    /// Every route's pattern, with any values for its parameters, finds a route of that method.
    #[test]
    fn every_route_is_found(
        index in any::<prop::sample::Index>(),
        values in proptest::collection::vec("[A-Za-z0-9._~%-]{1,24}", 4),
        trailing_slash in any::<bool>(),
    ) {
        let route = index.get(ROUTES);
        let mut values = values.into_iter();
        let mut path: String = route
            .path
            .split('/')
            .map(|s| if s.starts_with('{') { values.next().unwrap() } else { s.to_owned() })
            .collect::<Vec<_>>()
            .join("/");
        if trailing_slash {
            path.push('/');
        }
        let found = matches!(lookup(&route.method, &path, None), Lookup::Found(r, _) if r.method == route.method);
        prop_assert!(found, "{} {}", route.method, path);
    }
}

// ---------------------------------------------------------------- the whole pipeline

/// Messages go nowhere (a port that accepts everything).
struct Discard;

type Sent<'a> = Pin<Box<dyn Future<Output = Result<(), DeliveryError>> + Send + 'a>>;

impl Mailer for Discard {
    fn send_email<'a, 'b>(&'a self, _email: Email) -> Sent<'b>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async { Ok(()) })
    }
}

impl SmsSender for Discard {
    fn send_sms<'a, 'b>(&'a self, _sms: Sms) -> Sent<'b>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async { Ok(()) })
    }
}

const OWNER_PASSWORD: &str = "Sw1m-Sch00l!x";
const GUARDIAN_EMAIL: &str = "gwen@swim.test";
const GUARDIAN_PASSWORD: &str = "Gu4rdian-Pw!x";

struct Fixture {
    runtime: tokio::runtime::Runtime,
    app: App,
    account: AccountName,
}

/// Tenant `swim` (sign-up without email validation), its owner (terms accepted) and a family.
/// Argon2 at its smallest parameters: the cases are about parsing, not hashing.
static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let portal = Portal {
        store: Arc::new(EmbeddedStore::new()),
        mailer: Arc::new(Discard),
        sms: Arc::new(Discard),
        clock: Arc::new(SystemClock),
        metrics: Arc::new(portal_core::metrics::NoMetrics),
        hasher: PasswordHasherConfig {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        },
        security: portal_core::security::SecurityPolicy::default(),
        signer: TokenSigner::new(&b"0123456789abcdef0123456789abcdef".to_vec().into()).unwrap(),
        portal_url: "https://portal.test".into(),
    };
    let account = AccountName::parse("swim").unwrap();
    runtime.block_on(async {
        let owner = StaffInput {
            username: Some("owner".into()),
            first_name: Some("Olive".into()),
            last_name: Some("Owner".into()),
            email: Some("owner@swim.test".into()),
            password: Some(SecretString::from(OWNER_PASSWORD.to_owned())),
            ..Default::default()
        };
        let settings = serde_json::json!({"email_validation_required": false});
        portal
            .create_tenant(NewTenant {
                account: account.clone(),
                business_name: "Swim School".into(),
                owner: NewStaff::parse(owner, "").unwrap(),
                settings: SettingsChange::parse(&serde_json::from_value(settings).unwrap())
                    .unwrap(),
                sms_credits: 3,
                actor: portal_core::audit::Actor::system(),
            })
            .await
            .unwrap();
        let login = portal
            .staff_login(&account, "owner", OWNER_PASSWORD.to_owned().into(), false)
            .await
            .unwrap();
        let auth = portal
            .authenticate(&account, &login.token, true)
            .await
            .unwrap();
        portal
            .accept_terms(auth, &login.terms.current_version, None)
            .await
            .unwrap();
        let family = serde_json::json!({
            "client": "web", "age_confirmed": true,
            "guardian": {"first_name": "Gwen", "last_name": "Guard", "relationship": "parent"},
            "email": {"address": GUARDIAN_EMAIL, "type": "home", "opt_in": true},
            "phones": [{"number": "+15551239999", "type": "mobile", "sms_opt_in": true}],
            "password": GUARDIAN_PASSWORD, "password_confirmation": GUARDIAN_PASSWORD,
            "address": {"line1": "1 Pool Lane", "city": "Springfield", "region": "IL",
                        "postal_code": "62701", "country": "US"}
        });
        portal
            .signup(&account, serde_json::from_value(family).unwrap())
            .await
            .unwrap();
    });
    Fixture {
        runtime,
        app: App::new(portal, None),
        account,
    }
});

#[derive(Debug, Clone)]
enum Auth {
    None,
    /// A fresh session of the owner or the guardian (a case may log out).
    Owner,
    Guardian,
    Raw(String),
}

fn auth() -> impl Strategy<Value = Auth> {
    prop_oneof![
        1 => Just(Auth::None),
        3 => Just(Auth::Owner),
        1 => Just(Auth::Guardian),
        1 => "(Bearer|bearer|Basic|) ?[ -~]{0,60}".prop_map(Auth::Raw),
    ]
}

/// A method and a path: mostly a route's own method and pattern with any segments for its
/// parameters (the account mostly `swim`), else any method on any path.
fn target() -> impl Strategy<Value = (Method, String)> {
    let segment = prop_oneof![
        Just("nope".to_owned()),
        "[A-Za-z0-9._~-]{1,24}",
        any::<String>().prop_map(|s| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>()),
    ];
    let from_route = (
        any::<prop::sample::Index>(),
        proptest::option::weighted(0.8, Just("swim".to_owned())),
        proptest::collection::vec(segment, 4),
        proptest::option::weighted(0.9, Just(())),
        proptest::option::of("[a-zA-Z0-9%=&+._~-]{0,40}"),
        method(),
    )
        .prop_map(
            |(index, account, values, own_method, query, other_method)| {
                let route = index.get(ROUTES);
                let mut values = values.into_iter();
                let mut account = account;
                let mut path: String = route
                    .path
                    .split('/')
                    .map(|s| match s {
                        "{account}" if account.is_some() => account.take().unwrap(),
                        s if s.starts_with('{') => values.next().unwrap(),
                        s => s.to_owned(),
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                if let Some(q) = query {
                    path = format!("{path}?{q}");
                }
                let method = own_method.map_or(other_method, |()| route.method.clone());
                (method, path)
            },
        );
    let any_path = prop_oneof![
        "(/[a-zA-Z0-9%{}_.-]{0,12}){0,8}/?",
        "/[ -~]{0,60}",
        any::<String>(),
    ];
    prop_oneof![
        4 => from_route,
        1 => (method(), any_path),
    ]
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        4 => prop::sample::select(vec![
            Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE,
        ]),
        1 => prop::sample::select(vec![Method::HEAD, Method::OPTIONS, Method::TRACE]),
        1 => "[A-Z]{1,10}".prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap()),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(
        prop_oneof![
            Just(("content-type".to_owned(), "application/json".to_owned())),
            ("content-type", "[ -~]{0,30}").prop_map(|(n, v)| (n.to_owned(), v)),
            ("[a-z][a-z0-9-]{0,20}", "[ -~]{0,40}"),
        ],
        0..4,
    )
}

proptest! {
    #![proptest_config(config(768))]

    #[test]
    fn every_request_gets_a_contract_answer(
        (method, path) in target(),
        auth in auth(),
        headers in headers(),
        body in body(),
    ) {
        let fixture = &*FIXTURE;
        let uri = Uri::try_from(path.as_str());
        prop_assume!(uri.is_ok(), "not a URI");
        let uri = uri.unwrap();
        let (status, content_type, problem) = fixture.runtime.block_on(async {
            let portal = fixture.app.portal();
            let mut req = Request::builder().method(method.clone()).uri(uri);
            for (name, value) in &headers {
                req = req.header(name, value);
            }
            let bearer = match &auth {
                Auth::None => None,
                Auth::Owner => {
                    let login = portal
                        .staff_login(&fixture.account, "owner", OWNER_PASSWORD.to_owned().into(), false)
                        .await
                        .unwrap();
                    Some(format!("Bearer {}", login.token))
                }
                Auth::Guardian => {
                    let login = portal
                        .guardian_login(&fixture.account, GUARDIAN_EMAIL, GUARDIAN_PASSWORD.to_owned().into(), false)
                        .await
                        .unwrap();
                    Some(format!("Bearer {}", login.token))
                }
                Auth::Raw(raw) => Some(raw.clone()),
            };
            if let Some(value) = bearer {
                req = req.header("authorization", value);
            }
            let response = fixture.app.handle(req.body(Bytes::from(body)).unwrap(), Some("req-1")).await;
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let problem = serde_json::from_slice::<serde_json::Value>(response.body()).ok();
            (response.status(), content_type, problem)
        });
        prop_assert!(status.as_u16() < 500, "{} {} -> {}: {:?}", method, path, status, problem);
        if status.is_client_error() {
            prop_assert_eq!(content_type.as_deref(), Some("application/problem+json"), "{} {}", method, path);
            let problem = problem.expect("a problem document is JSON");
            prop_assert_eq!(problem["status"].as_u64(), Some(u64::from(status.as_u16())));
            prop_assert!(problem["code"].as_str().is_some_and(|c| !c.is_empty()));
            prop_assert!(problem["type"].as_str().is_some() && problem["title"].as_str().is_some());
        }
    }
}

//! Every sample event in `events/` (one per route) goes through its function's Lambda handler,
//! exactly as the Lambda runtime would deliver it, and gets the status in `events/expected.json`.

use std::collections::BTreeMap;
use std::sync::Arc;

use lambda_http::Body;
use portal_core::Portal;
use portal_core::account::AccountName;
use portal_core::clock::SystemClock;
use portal_core::onboarding::NewTenant;
use portal_core::passwords::PasswordHasherConfig;
use portal_core::staff::{NewStaff, StaffInput};
use portal_core::store::EmbeddedStore;
use portal_core::tenants::SettingsChange;
use portal_core::token_signer::TokenSigner;
use portal_http::routes::all_routes;
use portal_http::{App, Function};
use portal_local::Outbox;
use secrecy::SecretString;

pub const EVENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../events");

pub fn expected() -> BTreeMap<String, u16> {
    let text =
        std::fs::read_to_string(format!("{EVENTS}/expected.json")).expect("events/expected.json");
    serde_json::from_str(&text).expect("expected.json parses")
}

fn staff_input(username: &str, password: &str) -> StaffInput {
    StaffInput {
        username: Some(username.into()),
        first_name: Some("Olive".into()),
        last_name: Some("Owner".into()),
        email: Some(format!("{username}@swim.test")),
        password: Some(SecretString::from(password.to_owned())),
        ..Default::default()
    }
}

/// What the sample events' placeholders stand for.
pub struct Fixture {
    pub portal: Portal,
    token: String,
    staff_id: String,
    guardian_token: String,
    family_id: String,
    policy_id: String,
    guardian_id: String,
    secondary_id: String,
    invitation_id: String,
    invitation_token: String,
    reset_token: String,
    /// The pages' placeholders (see scripts/gen-events).
    pages: PageValues,
}

/// What the pages' sample events need: a flow cookie (the value after `__Host-portal-flow=`)
/// and the form token bound to it, a flow that landed from fred's reset link, the form tokens
/// of the owner's and the guardian's sessions, and the stylesheet's served name.
struct PageValues {
    flow_cookie: String,
    flow_csrf: String,
    reset_flow_cookie: String,
    reset_csrf: String,
    staff_csrf: String,
    guardian_csrf: String,
    stylesheet: String,
}

impl Fixture {
    pub fn fill(&self, text: &str) -> String {
        text.replace("{{token}}", &self.token)
            .replace("{{staff_id}}", &self.staff_id)
            .replace("{{guardian_token}}", &self.guardian_token)
            .replace("{{family_id}}", &self.family_id)
            .replace("{{policy_id}}", &self.policy_id)
            .replace("{{guardian_id}}", &self.guardian_id)
            .replace("{{secondary_id}}", &self.secondary_id)
            .replace("{{invitation_id}}", &self.invitation_id)
            .replace("{{invitation_token}}", &self.invitation_token)
            .replace("{{reset_token}}", &self.reset_token)
            .replace("{{flow_cookie}}", &self.pages.flow_cookie)
            .replace("{{flow_csrf}}", &self.pages.flow_csrf)
            .replace("{{reset_flow_cookie}}", &self.pages.reset_flow_cookie)
            .replace("{{reset_csrf}}", &self.pages.reset_csrf)
            .replace("{{staff_csrf}}", &self.pages.staff_csrf)
            .replace("{{guardian_csrf}}", &self.pages.guardian_csrf)
            .replace("{{stylesheet}}", &self.pages.stylesheet)
    }
}

/// A portal with tenant `swim` (sign-up without email validation): its owner (terms
/// accepted), a second staff member, a required policy and a family (guardian
/// gwen@swim.test) that signed up.
pub async fn setup() -> Fixture {
    let clock = Arc::new(SystemClock);
    let outbox = Arc::new(Outbox::new(clock.clone()));
    let portal = Portal {
        store: Arc::new(EmbeddedStore::new()),
        mailer: outbox.clone(),
        sms: outbox.clone(),
        clock,
        metrics: Arc::new(portal_core::metrics::NoMetrics),
        hasher: PasswordHasherConfig::default(),
        security: portal_core::security::SecurityPolicy::default(),
        signer: TokenSigner::new(&b"0123456789abcdef0123456789abcdef".to_vec().into()).unwrap(),
        portal_url: "https://portal.test".into(),
    };
    let account = AccountName::parse("swim").unwrap();
    portal
        .create_tenant(NewTenant {
            account: account.clone(),
            business_name: "Swim School".into(),
            owner: NewStaff::parse(staff_input("owner", "Sw1m-Sch00l!x"), "").unwrap(),
            settings: SettingsChange::parse(
                &serde_json::from_value(serde_json::json!({
                    "email_validation_required": false
                }))
                .unwrap(),
            )
            .unwrap(),
            sms_credits: 0,
            actor: portal_core::audit::Actor::system(),
        })
        .await
        .unwrap();
    let login = portal
        .staff_login(
            &account,
            "owner",
            SecretString::from("Sw1m-Sch00l!x".to_owned()),
            false,
        )
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
    // A new request after the acceptance (a session's records are read per request).
    let auth = portal
        .authenticate(&account, &login.token, true)
        .await
        .unwrap();
    let actor = portal.staff_actor(auth, true).await.unwrap();
    let fred = portal
        .create_staff(
            &actor,
            NewStaff::parse(staff_input("fred", "Fr0nt-Desk!x"), "").unwrap(),
        )
        .await
        .unwrap();
    let policy = portal
        .create_policy(
            &actor,
            serde_json::from_value(serde_json::json!({
                "title": "Liability waiver", "body": "I accept the risks.", "required": true
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let family = portal
        .signup(
            &account,
            serde_json::from_value(serde_json::json!({
                "client": "web", "age_confirmed": true,
                "guardian": {"first_name": "Gwen", "last_name": "Guard", "relationship": "parent"},
                "email": {"address": "gwen@swim.test", "type": "home", "opt_in": true},
                "phones": [{"number": "+15551239999", "type": "mobile", "sms_opt_in": true}],
                "password": "Gu4rdian-Pw!x", "password_confirmation": "Gu4rdian-Pw!x",
                "address": {"line1": "1 Pool Lane", "city": "Springfield", "region": "IL",
                            "postal_code": "62701", "country": "US"}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    // The family completes its setup, invites two people; one of them accepts.
    let auth = portal
        .authenticate(&account, &family.token, true)
        .await
        .unwrap();
    let write = |auth: portal_core::sessions::Authenticated| {
        let portal = portal.clone();
        async move {
            let actor = portal.guardian_actor(auth).await.unwrap();
            portal
                .family_context(actor, portal_core::families::FamilyUse::Write)
                .await
                .unwrap()
        }
    };
    let ctx = write(auth.clone()).await;
    let accept =
        serde_json::from_value(serde_json::json!([{"id": policy.id, "version": 1}])).unwrap();
    portal.accept_policies(&ctx, accept, "web").await.unwrap();
    let ctx = write(auth).await;
    portal.invite(&ctx, "pat@swim.test").await.unwrap();
    let pending = portal.invite(&ctx, "sam@swim.test").await.unwrap();
    let token_to = |to: &str| {
        let message = outbox
            .messages()
            .into_iter()
            .rev()
            .find(|m| m.to == to)
            .unwrap();
        let at = message.body.find("token=").unwrap() + "token=".len();
        message.body[at..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let pat = portal
        .accept_invitation(
            &account,
            serde_json::from_value(serde_json::json!({
                "token": token_to("pat@swim.test"), "age_confirmed": true,
                "first_name": "Pat", "last_name": "Second", "password": "P4t-Second!x"
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    // A reset link for fred (the password-reset samples).
    portal
        .forgot_staff_password(&account, "fred")
        .await
        .unwrap();
    let reset_token = token_to("fred@swim.test");
    let pages = page_values(&portal, &login.token, &family.token, &reset_token).await;
    Fixture {
        portal,
        token: login.token,
        staff_id: fred.id,
        guardian_token: family.token,
        family_id: family.family_id,
        policy_id: policy.id,
        guardian_id: family.guardian_id,
        secondary_id: pat.guardian.id,
        invitation_id: pending.invitation_id,
        invitation_token: token_to("sam@swim.test"),
        reset_token,
        pages,
    }
}

/// One GET of a page on the pages app: status, `Set-Cookie` name=value pairs, HTML.
async fn get_page(app: &App, path: &str, cookie: Option<&str>) -> (u16, Vec<String>, String) {
    let mut req = http::Request::get(format!("https://portal.example{path}"));
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    let response = app
        .handle(req.body(bytes::Bytes::new()).unwrap(), None)
        .await;
    let pairs = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let html = String::from_utf8(response.body().to_vec()).unwrap();
    (response.status().as_u16(), pairs, html)
}

async fn page_values(
    portal: &Portal,
    owner_token: &str,
    guardian_token: &str,
    reset_token: &str,
) -> PageValues {
    use crate::support::browser::attribute_after;
    let app = App::new(portal.clone(), Some(Function::Pages));
    let csrf = |html: &str| attribute_after(html, "name=\"csrf\" value=\"").expect("a form");
    let flow_value = |pairs: &[String]| {
        pairs
            .iter()
            .find_map(|p| p.strip_prefix("__Host-portal-flow="))
            .expect("a flow cookie")
            .to_owned()
    };

    let (_, pairs, html) = get_page(&app, "/a/swim/staff-sign-in", None).await;
    let (flow_cookie, flow_csrf) = (flow_value(&pairs), csrf(&html));
    let stylesheet = attribute_after(&html, "/a/swim/assets/").expect("the stylesheet link");

    let path = format!("/a/swim/reset-password?token={reset_token}");
    let (status, pairs, _) = get_page(&app, &path, None).await;
    assert_eq!(status, 303, "landing from the reset link");
    let reset_flow_cookie = flow_value(&pairs);
    let cookie = format!("__Host-portal-flow={reset_flow_cookie}");
    let (_, _, html) = get_page(&app, "/a/swim/reset-password", Some(&cookie)).await;
    let reset_csrf = csrf(&html);

    let mut session_csrf = Vec::new();
    for token in [owner_token, guardian_token] {
        let cookie = format!("__Host-portal-session={token}");
        let (status, _, html) = get_page(&app, "/a/swim/change-password", Some(&cookie)).await;
        assert_eq!(status, 200, "change-password of a live session");
        session_csrf.push(csrf(&html));
    }
    let [staff_csrf, guardian_csrf] = <[String; 2]>::try_from(session_csrf).unwrap();
    PageValues {
        flow_cookie,
        flow_csrf,
        reset_flow_cookie,
        reset_csrf,
        staff_csrf,
        guardian_csrf,
        stylesheet,
    }
}

#[test]
fn there_is_one_event_per_route() {
    let expected = expected();
    assert_eq!(
        expected.len(),
        all_routes().count(),
        "events/expected.json vs the route table (API and pages)"
    );
    for route in all_routes() {
        let found = expected.keys().any(|file| {
            let text = std::fs::read_to_string(format!("{EVENTS}/{file}")).unwrap();
            let event: serde_json::Value = serde_json::from_str(&text).unwrap();
            file.starts_with(&format!("{}/", route.function.name()))
                && event["routeKey"] == format!("{} {}", route.method, route.path)
        });
        assert!(
            found,
            "no event for {} {} (run scripts/gen-events)",
            route.method, route.path
        );
    }
}

#[tokio::test]
async fn every_event_gets_its_expected_status_from_its_function() {
    for (file, status) in expected() {
        let fixture = setup().await;
        let function = Function::from_name(file.split('/').next().unwrap()).unwrap();
        let text = fixture.fill(&std::fs::read_to_string(format!("{EVENTS}/{file}")).unwrap());
        let app = App::new(fixture.portal, Some(function));
        let request =
            lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let response = portal_lambda::handle(&app, request).await;
        let body = match response.body() {
            Body::Text(t) => t.clone(),
            _ => String::new(),
        };
        assert_eq!(response.status().as_u16(), status, "{file}: {body}");
        if !body.is_empty() {
            let content_type = response.headers()["content-type"].to_str().unwrap();
            let expected_type: &[&str] = match function {
                Function::Pages => &["text/html", "text/css"],
                _ => &["application/"],
            };
            assert!(
                expected_type.iter().any(|t| content_type.starts_with(t)),
                "{file}: {content_type}"
            );
            assert!(!body.contains("argon2"), "{file} leaks a hash");
        }
    }
}

#[tokio::test]
async fn a_function_serves_only_its_own_routes() {
    let fixture = setup().await;
    let text =
        fixture.fill(&std::fs::read_to_string(format!("{EVENTS}/login/get-session.json")).unwrap());
    let app = App::new(fixture.portal.clone(), Some(Function::Office));
    let response =
        portal_lambda::handle(&app, lambda_http::request::from_str(&text).unwrap()).await;
    assert_eq!(response.status().as_u16(), 404);
    // The pages and the API do not serve each other's routes either.
    let page =
        fixture.fill(&std::fs::read_to_string(format!("{EVENTS}/pages/get-sign-in.json")).unwrap());
    for (event, function) in [(&page, Function::Login), (&text, Function::Pages)] {
        let app = App::new(fixture.portal.clone(), Some(function));
        let response =
            portal_lambda::handle(&app, lambda_http::request::from_str(event).unwrap()).await;
        assert_eq!(response.status().as_u16(), 404, "{function:?}");
    }
}

/// A store that never answers: the invocation's deadline (from the Lambda context) cuts the work
/// off and the caller gets the contract's 503 instead of a function timeout, counted as any
/// other 503.
#[tokio::test]
async fn a_hanging_store_answers_503_before_the_invocation_deadline() {
    use crate::support::faults::{FaultStore, StoreFault};
    use lambda_http::RequestExt;

    let fixture = setup().await;
    let mut portal = fixture.portal.clone();
    portal.store = FaultStore::new(portal.store.clone(), StoreFault::Hang);
    let recorded = Arc::new(crate::signals::Recorded::default());
    portal.metrics = recorded.clone();
    let app = App::new(portal, Some(Function::Login));
    let text = fixture
        .fill(&std::fs::read_to_string(format!("{EVENTS}/login/post-staff-login.json")).unwrap());
    let mut context = lambda_http::Context::default();
    context.request_id = "deadline-test".into();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    context.deadline = now_ms + 300;
    let request = lambda_http::request::from_str(&text)
        .unwrap()
        .with_lambda_context(context);

    // Generous: fails instead of hanging when nothing bounds the work.
    let response = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        portal_lambda::handle(&app, request),
    )
    .await
    .expect("the handler answers before the outer timeout");
    assert_eq!(response.status().as_u16(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let Body::Text(body) = response.body() else {
        panic!("a problem body")
    };
    let problem: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(problem["code"], "service_unavailable");
    use portal_core::metrics::Metric;
    assert_eq!(
        recorded.take(),
        [
            Metric::ServerError {
                code: "service_unavailable"
            },
            Metric::ServiceUnavailable
        ]
    );
}

/// Runs one API Gateway HTTP API (payload 2.0) event through the `portal_lambda::handle`
/// service wrapped in `lambda_http`'s adapter, as `lambda_http::run` does in the function
/// (event JSON -> `Request`, app, `Response` -> the payload 2.0 response), and returns the
/// response as the JSON API Gateway reads.
async fn invoke(app: &App, event: &serde_json::Value) -> serde_json::Value {
    use lambda_http::request::LambdaRequest;
    use lambda_http::{Context, LambdaEvent, Service, service_fn};

    let payload: LambdaRequest =
        serde_json::from_value(event.clone()).expect("a payload 2.0 event");
    let mut adapter = lambda_http::Adapter::from(service_fn(|req| async move {
        Ok::<_, lambda_http::Error>(portal_lambda::handle(app, req).await)
    }));
    let response = adapter
        .call(LambdaEvent::new(payload, Context::default()))
        .await
        .expect("the handler answers");
    serde_json::to_value(&response).unwrap()
}

/// A payload 2.0 event for a page of tenant `swim`, as API Gateway builds it from a browser's
/// request: the browser's `Cookie` header split into the `cookies` array (not in `headers`).
fn page_event(
    method: &str,
    route_path: &str,
    cookies: &[&str],
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> serde_json::Value {
    let raw_path = route_path.replace("{account}", "swim");
    let mut all_headers = serde_json::json!({
        "accept": "text/html",
        "host": "portal.example",
        "user-agent": "Mozilla/5.0",
        "x-forwarded-for": "127.0.0.1",
        "x-forwarded-proto": "https",
    });
    for (name, value) in headers {
        all_headers[*name] = serde_json::json!(value);
    }
    let mut event = serde_json::json!({
        "version": "2.0",
        "routeKey": format!("{method} {route_path}"),
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": all_headers,
        "pathParameters": {"account": "swim"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api-id",
            "domainName": "portal.example",
            "domainPrefix": "portal",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "Mozilla/5.0",
            },
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "routeKey": format!("{method} {route_path}"),
            "stage": "$default",
            "time": "26/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1795682400000u64,
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = serde_json::json!(cookies);
    }
    if let Some(body) = body {
        event["body"] = serde_json::json!(body);
    }
    event
}

/// The `Set-Cookie` attributes of both page cookies (`__Host-` prefix rules).
const HOST_COOKIE_ATTRIBUTES: &str = "; Path=/; Secure; HttpOnly; SameSite=Lax";

/// Payload 2.0 has no multi-value headers: API Gateway joins repeated `headers` with commas,
/// which would fold two `Set-Cookie` values into one unusable line. A page's cookies must leave
/// the function as the response's `cookies` array, one intact entry per cookie, which is what
/// lambda_http's adapter does with the app's `Set-Cookie` headers. On the way in, API Gateway
/// moves the browser's cookies out of `headers` into the event's `cookies`; the adapter joins
/// them back into the one `Cookie` header the pages read. Staff sign-in shows both.
#[tokio::test]
async fn page_cookies_cross_api_gateway_payload_2_0_intact() {
    use crate::support::browser::{attribute_after, encode};
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse;

    let fixture = setup().await;
    let app = App::new(fixture.portal.clone(), Some(Function::Pages));
    let route = "/a/{account}/staff-sign-in";

    // The sign-in page starts a flow: its cookie comes back in `cookies`.
    let page = invoke(&app, &page_event("GET", route, &[], &[], None)).await;
    assert_eq!(page["statusCode"], 200, "{page}");
    assert!(page["headers"].get("set-cookie").is_none(), "{page}");
    let cookies = page["cookies"].as_array().unwrap();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let flow_cookie = cookies[0].as_str().unwrap();
    assert!(
        flow_cookie.starts_with("__Host-portal-flow="),
        "{flow_cookie}"
    );
    assert!(
        flow_cookie.contains(&format!("{HOST_COOKIE_ATTRIBUTES}; Max-Age=")),
        "{flow_cookie}"
    );
    let flow = flow_cookie.split(';').next().unwrap();
    let html = page["body"].as_str().unwrap();
    let csrf = attribute_after(html, "name=\"csrf\" value=\"").expect("a csrf field");

    // The event's `cookies` reach the app as one `Cookie` header (a request's cookies joined
    // with "; ", the browser's own form), whatever else the browser sends.
    let form = encode(&[
        ("csrf", &csrf),
        ("username", "owner"),
        ("password", "Sw1m-Sch00l!x"),
    ]);
    let post = |cookies: &[&str]| -> serde_json::Value {
        page_event(
            "POST",
            route,
            cookies,
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("origin", "https://portal.example"),
                ("sec-fetch-site", "same-origin"),
            ],
            Some(&form),
        )
    };
    let with_cookies = ["theme=dark", flow, "_ga=GA1.1.123"];
    let request = lambda_http::request::from_str(&post(&with_cookies).to_string()).unwrap();
    assert_eq!(
        request.headers().get_all("cookie").iter().count(),
        1,
        "one Cookie header"
    );
    assert_eq!(
        request.headers()["cookie"],
        format!("theme=dark; {flow}; _ga=GA1.1.123").as_str()
    );
    // Without the flow cookie the same form is refused: the app did read it from `cookies`.
    let refused = invoke(&app, &post(&["theme=dark"])).await;
    assert_eq!(refused["statusCode"], 403, "{refused}");

    // Signed in: 303 with two cookies, each its own entry of `cookies`, none in `headers`.
    let signed_in = invoke(&app, &post(&with_cookies)).await;
    assert_eq!(signed_in["statusCode"], 303, "{signed_in}");
    assert!(
        signed_in["headers"].get("set-cookie").is_none(),
        "{signed_in}"
    );
    assert_eq!(signed_in["multiValueHeaders"], serde_json::json!({}));
    let response: ApiGatewayV2httpResponse = serde_json::from_value(signed_in.clone()).unwrap();
    assert_eq!(response.headers["location"], "/a/swim/staff-home");
    assert_eq!(response.cookies.len(), 2, "{:?}", response.cookies);
    let session = response
        .cookies
        .iter()
        .find(|c| c.starts_with("__Host-portal-session="))
        .expect("the session cookie");
    let token = session
        .strip_prefix("__Host-portal-session=")
        .and_then(|rest| rest.strip_suffix(HOST_COOKIE_ATTRIBUTES))
        .unwrap_or_else(|| {
            panic!("a browser-session cookie with the __Host- attributes: {session}")
        });
    assert!(
        !token.is_empty() && !token.contains([',', ';', ' ']),
        "{session}"
    );
    assert!(
        response.cookies.contains(&format!(
            "__Host-portal-flow={HOST_COOKIE_ATTRIBUTES}; Max-Age=0"
        )),
        "the flow cookie removed: {:?}",
        response.cookies
    );

    // The session cookie works on the next page (again through `cookies`).
    let session_pair = format!("__Host-portal-session={token}");
    let home = invoke(
        &app,
        &page_event(
            "GET",
            "/a/{account}/staff-home",
            &[&session_pair],
            &[],
            None,
        ),
    )
    .await;
    assert_eq!(home["statusCode"], 200, "{home}");
    assert!(home["body"].as_str().unwrap().contains("Olive"), "{home}");
}

/// Behind the front door the function reads CloudFront's origin-verify value from Secrets
/// Manager (moto here) and answers only the requests that carry it: the API's own domain is
/// public, and a client going around CloudFront must not get around the WAF.
#[tokio::test]
async fn behind_the_front_door_only_requests_with_the_origin_header_are_served() {
    use crate::support::aws::{sdk_config, unique};
    use portal_http::origin::ORIGIN_VERIFY_HEADER;

    let config = sdk_config().await;
    let value = format!("verify-{}", unique("v"));
    let arn = aws_sdk_secretsmanager::Client::new(&config)
        .create_secret()
        .name(unique("origin-verify"))
        .secret_string(&value)
        .send()
        .await
        .expect("CreateSecret")
        .arn()
        .unwrap()
        .to_owned();
    let guard = portal_lambda::origin_guard(&config, Some(arn))
        .await
        .expect("the secret is read")
        .expect("a guard");
    assert!(
        portal_lambda::origin_guard(&config, None)
            .await
            .unwrap()
            .is_none(),
        "no ARN (dev): no guard"
    );
    let missing = portal_lambda::origin_guard(&config, Some(unique("no-such-secret"))).await;
    assert!(
        missing.is_err(),
        "an unreadable secret fails init, never runs unguarded"
    );

    let fixture = setup().await;
    let app = App::new(fixture.portal.clone(), Some(Function::Login)).with_origin_guard(guard);
    let text =
        fixture.fill(&std::fs::read_to_string(format!("{EVENTS}/login/get-session.json")).unwrap());
    let mut event: serde_json::Value = serde_json::from_str(&text).unwrap();
    for (header, expected) in [
        (None, 403),
        (Some("verify-wrong"), 403),
        (Some(value.as_str()), 200),
    ] {
        let headers = event["headers"].as_object_mut().unwrap();
        headers.remove(ORIGIN_VERIFY_HEADER);
        if let Some(h) = header {
            headers.insert(ORIGIN_VERIFY_HEADER.into(), h.into());
        }
        let response = invoke(&app, &event).await;
        assert_eq!(response["statusCode"], expected, "{header:?}: {response}");
        if expected == 403 {
            let body: serde_json::Value =
                serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
            assert_eq!(body["code"], "forbidden");
        }
    }
}

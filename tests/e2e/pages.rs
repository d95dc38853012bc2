//! The hosted pages over HTTP on both stores: the headers and cookies of PAGES.md, CSRF and
//! cross-site refusals that change nothing, staff sign-in with the terms and the
//! missing-settings warning, reset from the mailed link (the token gone from the address),
//! password changes, the lockout in words, sessions' idle rule, theme and static files.
//! (Sign-up and policies: `pages_signup.rs`; family, switcher, invitations: `pages_family.rs`;
//! the same flows in a real browser: `tests/browser`.)

use serde_json::json;

use crate::both_stores;
use crate::signup::sign_up;
use crate::support::app::{Backend, OWNER_PASSWORD, TestApp};
use crate::support::browser::{Browser, PageReply};

both_stores!(
    pages_carry_the_security_headers_and_host_cookies,
    staff_sign_in_leads_through_the_terms_to_the_home_with_its_warning,
    posts_without_the_right_csrf_token_or_from_another_site_change_nothing,
    a_mailed_reset_link_lands_without_its_token_and_resets_once,
    change_password_ends_every_session_for_staff_and_guardians,
    the_lockout_is_said_in_words_on_the_sign_in_page,
    page_sessions_follow_the_idle_and_stay_signed_in_rules,
    theme_and_static_files_follow_the_branding_rules,
);

/// Form fields or headers as (name, value) pairs.
type Fields<'a> = Vec<(&'a str, &'a str)>;

const GUARDIAN_PASSWORD: &str = "Gu4rdian-Pw!x";
const NEW_PASSWORD: &str = "N3w-Secret!pw";
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn header<'r>(reply: &'r PageReply, name: &str) -> &'r str {
    reply
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[track_caller]
fn assert_page_headers(reply: &PageReply) {
    assert_eq!(header(reply, "content-security-policy"), CSP);
    assert_eq!(header(reply, "referrer-policy"), "no-referrer");
    assert_eq!(header(reply, "x-content-type-options"), "nosniff");
    assert_eq!(header(reply, "cache-control"), "no-store");
}

#[track_caller]
fn assert_host_cookie(cookie: &str, name: &str) {
    assert!(cookie.starts_with(&format!("{name}=")), "{cookie}");
    for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(
            cookie.split("; ").any(|a| a == attribute),
            "{cookie} lacks {attribute}"
        );
    }
    assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
}

fn cookie_named<'r>(reply: &'r PageReply, name: &str) -> Option<&'r str> {
    reply
        .set_cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(String::as_str)
}

/// Signs the owner in through the staff page; returns the reply of the POST.
async fn staff_sign_in(b: &mut Browser<'_>, stay: bool) -> PageReply {
    b.get("staff-sign-in").await.expect(200);
    let mut fields = vec![("username", "owner"), ("password", OWNER_PASSWORD)];
    if stay {
        fields.push(("stay_signed_in", "yes"));
    }
    b.post("staff-sign-in", &fields).await
}

/// A guardian (signed up through the API) signed in through the page.
async fn guardian_signed_in<'a>(app: &'a TestApp, email: &str) -> Browser<'a> {
    sign_up(app, email).await;
    let mut b = Browser::new(app);
    b.get("sign-in").await.expect(200);
    b.post(
        "sign-in",
        &[("email", email), ("password", GUARDIAN_PASSWORD)],
    )
    .await
    .expect_redirect("/family");
    b
}

async fn without_validation(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.patch_tenant(json!({"email_validation_required": false}))
        .await;
    app
}

async fn pages_carry_the_security_headers_and_host_cookies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut b = Browser::new(&app);
    for page in [
        "sign-in",
        "staff-sign-in",
        "forgot-password",
        "reset-password",
    ] {
        let reply = b.get(page).await;
        reply.expect(200);
        assert_page_headers(&reply);
        assert_eq!(header(&reply, "content-type"), "text/html; charset=utf-8");
        assert!(reply.html.starts_with("<!DOCTYPE html><html lang=\"en\">"));
        assert!(
            reply.text().contains("swim swim school"),
            "the business name"
        );
        assert!(!reply.html.contains("<script"), "no script on {page}");
        assert!(!reply.html.contains("style="), "no inline style on {page}");
    }
    // The flow cookie before sign-in: sealed, host-only, an hour.
    let reply = Browser::new(&app).get("sign-in").await;
    let flow = cookie_named(&reply, "__Host-portal-flow").expect("a flow cookie");
    assert_host_cookie(flow, "__Host-portal-flow");
    assert!(flow.contains("Max-Age=3600"), "{flow}");
    // The session cookie after sign-in: a browser-session cookie unless "stay signed in".
    let reply = staff_sign_in(&mut b, false).await;
    assert_page_headers(&reply);
    let session = cookie_named(&reply, "__Host-portal-session").expect("a session cookie");
    assert_host_cookie(session, "__Host-portal-session");
    assert!(!session.contains("Max-Age"), "{session}");
    assert!(
        cookie_named(&reply, "__Host-portal-flow").is_some_and(|c| c.contains("Max-Age=0")),
        "the flow ends at sign-in"
    );
    let reply = staff_sign_in(&mut Browser::new(&app), true).await;
    let session = cookie_named(&reply, "__Host-portal-session").unwrap();
    assert!(session.contains("Max-Age=34560000"), "{session}");
    // Unknown pages and accounts answer HTML too, with the same headers.
    let reply = Browser::new(&app).get_path("/a/nobody-here/sign-in").await;
    reply.expect(404);
    assert_page_headers(&reply);
}

async fn staff_sign_in_leads_through_the_terms_to_the_home_with_its_warning(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut b = Browser::new(&app);
    b.get("staff-sign-in").await.expect(200);
    let wrong = b
        .post(
            "staff-sign-in",
            &[("username", "owner"), ("password", "Wrong-Pass1!")],
        )
        .await;
    wrong.expect(401);
    assert!(wrong.text().contains("username or password is not correct"));
    assert!(
        wrong.html.contains("role=\"alert\""),
        "an announced summary"
    );
    assert!(
        wrong.html.contains("value=\"owner\""),
        "the username is kept"
    );
    assert!(!wrong.html.contains("Wrong-Pass1!"), "never the password");

    staff_sign_in(&mut b, false).await.expect_redirect("/terms");
    // The home is not reachable before the terms.
    b.get("staff-home").await.expect_redirect("/terms");
    let terms = b.get("terms").await;
    terms.expect(200);
    assert!(terms.text().contains("2026-01"), "{}", terms.text());
    assert!(
        !terms.html.contains("checked"),
        "the newsletter choice starts unticked"
    );
    b.post("terms", &[("version", "1999-01")]).await.expect(409);
    b.post("terms", &[("version", "2026-01")])
        .await
        .expect_redirect("/staff-home");
    let home = b.get("staff-home").await;
    home.expect(200);
    let text = home.text();
    assert!(text.contains("Welcome, Olive"), "{text}");
    for setting in ["Business email", "Location email", "Location phone"] {
        assert!(text.contains(setting), "{setting} missing from {text}");
    }
    let owner = app.owner_token().await;
    assert!(
        app.audit_actions(&owner)
            .await
            .contains(&"terms.accepted".to_owned())
    );
    app.patch(
        &app.at("office/settings"),
        Some(&owner),
        json!({"business_email": "desk@swim.test", "location_email": "pool@swim.test",
               "location_phone": "+15555550100"}),
    )
    .await
    .expect(200);
    let home = b.get("staff-home").await;
    assert!(!home.text().contains("Some business settings are missing"));
    // Signing out ends the session on the server.
    b.post("sign-out", &[])
        .await
        .expect_redirect("/staff-sign-in");
    b.get("staff-home").await.expect_redirect("/staff-sign-in");
}

async fn posts_without_the_right_csrf_token_or_from_another_site_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut b = Browser::new(&app);
    staff_sign_in(&mut b, false).await.expect_redirect("/terms");
    let terms = b.get("terms").await;
    let csrf = b.csrf.clone().expect("a token on the terms page");
    assert!(terms.html.contains(&csrf));
    let session = b.cookies["__Host-portal-session"].clone();
    let cookie = format!("__Host-portal-session={session}");
    let same_origin = ("sec-fetch-site", "same-origin");

    // Another session's token (a second sign-in of the same person).
    let mut other = Browser::new(&app);
    staff_sign_in(&mut other, false).await;
    other.get("terms").await;
    let foreign = other.csrf.clone().unwrap();
    assert_ne!(foreign, csrf);

    let attempts: Vec<(&str, Fields, Fields)> = vec![
        ("no token", vec![], vec![same_origin, ("cookie", &cookie)]),
        (
            "wrong token",
            vec![("csrf", "AAAA")],
            vec![same_origin, ("cookie", &cookie)],
        ),
        (
            "another session's token",
            vec![("csrf", &foreign)],
            vec![same_origin, ("cookie", &cookie)],
        ),
        (
            "cross-site with the right token",
            vec![("csrf", &csrf)],
            vec![("sec-fetch-site", "cross-site"), ("cookie", &cookie)],
        ),
        (
            "no fetch metadata, foreign origin",
            vec![("csrf", &csrf)],
            vec![("origin", "https://evil.test"), ("cookie", &cookie)],
        ),
        (
            "no fetch metadata, no origin",
            vec![("csrf", &csrf)],
            vec![("cookie", &cookie)],
        ),
    ];
    for (what, mut fields, headers) in attempts {
        fields.push(("version", "2026-01"));
        let reply = b.post_raw("terms", &fields, &headers).await;
        assert_eq!(reply.status.as_u16(), 403, "{what}: {}", reply.html);
        assert_page_headers(&reply);
        // Nothing changed: the terms are still owed.
        b.get("staff-home").await.expect_redirect("/terms");
        let r = b.post_raw("sign-out", &fields, &headers).await;
        assert_eq!(r.status.as_u16(), 403, "{what} on sign-out");
        b.get("terms").await.expect(200);
    }
    // A body above the API's limit is refused unread.
    let padding = "x".repeat(20 * 1024);
    b.post_raw(
        "terms",
        &[
            ("csrf", &csrf),
            ("version", "2026-01"),
            ("padding", &padding),
        ],
        &[same_origin, ("cookie", &cookie)],
    )
    .await
    .expect(413);
    b.get("staff-home").await.expect_redirect("/terms");
    // A pre-session form needs its flow: a POST with no flow cookie is refused.
    let mut fresh = Browser::new(&app);
    let reply = fresh
        .post_raw(
            "staff-sign-in",
            &[
                ("csrf", &csrf),
                ("username", "owner"),
                ("password", OWNER_PASSWORD),
            ],
            &[same_origin],
        )
        .await;
    reply.expect(403);
    assert!(cookie_named(&reply, "__Host-portal-session").is_none());
    // The right token from this site, with the origin named instead of fetch metadata: accepted.
    b.post_raw(
        "terms",
        &[("csrf", &csrf), ("version", "2026-01")],
        &[("origin", "https://portal.test"), ("cookie", &cookie)],
    )
    .await
    .expect_redirect("/staff-home");
}

async fn a_mailed_reset_link_lands_without_its_token_and_resets_once(backend: Backend) {
    let app = without_validation(backend).await;
    sign_up(&app, "gina@guard.test").await;
    let mut b = Browser::new(&app);
    b.get("forgot-password").await.expect(200);
    let sent = b
        .post("forgot-password", &[("email", "gina@guard.test")])
        .await;
    sent.expect_redirect("/forgot-password");
    let page = b.follow(sent).await;
    assert!(
        page.text()
            .contains("a link to reset the password is on its way")
    );
    // The same answer for an address with no account.
    let other = b
        .post("forgot-password", &[("email", "nobody@guard.test")])
        .await;
    assert_eq!(other.location(), Some("/a/swim/forgot-password?sent=1"));

    let mail = app.messages_to("gina@guard.test").await;
    let body = mail.last().expect("a reset mail")["body"]
        .as_str()
        .unwrap()
        .to_owned();
    let link = body
        .split_whitespace()
        .find(|w| w.contains("/reset-password?token="))
        .expect("a link")
        .trim_start_matches("https://portal.test")
        .to_owned();
    let landing = b.get_path(&link).await;
    let location = landing.expect_redirect("/reset-password");
    assert_eq!(
        location, "/a/swim/reset-password",
        "the token leaves the address"
    );
    let form = b.get("reset-password").await;
    form.expect(200);
    assert!(
        !form.html.contains("token"),
        "the page never shows the token"
    );
    // Refusals keep the link usable.
    b.post(
        "reset-password",
        &[
            ("new_password", NEW_PASSWORD),
            ("new_password_confirmation", "Other-Pass1!"),
        ],
    )
    .await
    .expect(422);
    let weak = b
        .post(
            "reset-password",
            &[
                ("new_password", "short"),
                ("new_password_confirmation", "short"),
            ],
        )
        .await;
    weak.expect(422);
    assert!(
        weak.text().contains("at least 8 characters"),
        "{}",
        weak.text()
    );
    b.post(
        "reset-password",
        &[
            ("new_password", NEW_PASSWORD),
            ("new_password_confirmation", NEW_PASSWORD),
        ],
    )
    .await
    .expect_redirect("/reset-password");
    // Used: the same link now says so.
    let mut again = Browser::new(&app);
    again
        .get_path(&link)
        .await
        .expect_redirect("/reset-password");
    let used = again.get("reset-password").await;
    used.expect(400);
    assert!(used.text().contains("not valid any more"));
    // The new password signs in.
    let mut b = Browser::new(&app);
    b.get("sign-in").await;
    b.post(
        "sign-in",
        &[("email", "gina@guard.test"), ("password", NEW_PASSWORD)],
    )
    .await
    .expect_redirect("/family");
}

async fn change_password_ends_every_session_for_staff_and_guardians(backend: Backend) {
    let app = without_validation(backend).await;
    // A guardian, signed in twice (two devices).
    let mut b = guardian_signed_in(&app, "cara@guard.test").await;
    let mut second = Browser::new(&app);
    second.get("sign-in").await;
    second
        .post(
            "sign-in",
            &[
                ("email", "cara@guard.test"),
                ("password", GUARDIAN_PASSWORD),
            ],
        )
        .await
        .expect_redirect("/family");
    b.get("change-password").await.expect(200);
    let wrong = b
        .post(
            "change-password",
            &[
                ("current_password", "Not-It-1!"),
                ("new_password", NEW_PASSWORD),
                ("new_password_confirmation", NEW_PASSWORD),
            ],
        )
        .await;
    wrong.expect(403);
    assert!(wrong.text().contains("current password is not correct"));
    b.post(
        "change-password",
        &[
            ("current_password", GUARDIAN_PASSWORD),
            ("new_password", NEW_PASSWORD),
            ("new_password_confirmation", NEW_PASSWORD),
        ],
    )
    .await
    .expect_redirect("/sign-in");
    second
        .get("change-password")
        .await
        .expect_redirect("/sign-in");
    let mail = app.messages_to("cara@guard.test").await;
    let notice = mail.last().expect("a change notice")["body"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !notice.contains("token="),
        "a notice carries no link: {notice}"
    );
    app.post(
        &app.at("portal/login"),
        None,
        json!({"email": "cara@guard.test", "password": NEW_PASSWORD}),
    )
    .await
    .expect(200);

    // Staff: the same page, the same ending.
    let mut s = Browser::new(&app);
    staff_sign_in(&mut s, false).await;
    s.get("terms").await;
    s.post("terms", &[("version", "2026-01")]).await;
    s.get("change-password").await.expect(200);
    s.post(
        "change-password",
        &[
            ("current_password", OWNER_PASSWORD),
            ("new_password", NEW_PASSWORD),
            ("new_password_confirmation", NEW_PASSWORD),
        ],
    )
    .await
    .expect_redirect("/staff-sign-in");
    s.get("staff-home").await.expect_redirect("/staff-sign-in");
    app.staff_login("owner", NEW_PASSWORD).await.expect(200);
}

async fn the_lockout_is_said_in_words_on_the_sign_in_page(backend: Backend) {
    let app = without_validation(backend).await;
    sign_up(&app, "lena@guard.test").await;
    let mut b = Browser::new(&app);
    b.get("sign-in").await;
    for _ in 0..5 {
        b.post(
            "sign-in",
            &[("email", "lena@guard.test"), ("password", "Wrong-Pass1!")],
        )
        .await
        .expect(401);
    }
    let locked = b
        .post(
            "sign-in",
            &[
                ("email", "lena@guard.test"),
                ("password", GUARDIAN_PASSWORD),
            ],
        )
        .await;
    locked.expect(429);
    assert!(
        locked.text().contains("locked for 15 minutes"),
        "{}",
        locked.text()
    );
}

async fn page_sessions_follow_the_idle_and_stay_signed_in_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut short = Browser::new(&app);
    staff_sign_in(&mut short, false).await;
    let mut long = Browser::new(&app);
    staff_sign_in(&mut long, true).await;
    short.get("terms").await.expect(200);
    // Reading a page is not activity; an hour without a submitted form ends the session.
    app.advance_clock(3601).await;
    let ended = short.get("terms").await;
    assert_eq!(ended.location(), Some("/a/swim/staff-sign-in?ended=1"));
    assert!(
        cookie_named(&ended, "__Host-portal-session").is_some_and(|c| c.contains("Max-Age=0")),
        "the dead cookie is removed"
    );
    let page = short.get("staff-sign-in?ended=1").await;
    assert!(page.text().contains("Your session has ended"));
    long.get("terms").await.expect(200);
    app.advance_clock(5 * 24 * 3600).await;
    long.get("terms").await.expect(200);
}

async fn theme_and_static_files_follow_the_branding_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut b = Browser::new(&app);
    let theme = b.get("theme.css").await;
    theme.expect(200);
    assert_eq!(header(&theme, "content-type"), "text/css; charset=utf-8");
    assert!(theme.html.contains("--primary: #1d4f91"));
    let owner = app.owner_token().await;
    // A pair below 4.5:1 is refused and the theme stays.
    app.patch(
        &app.at("office/settings"),
        Some(&owner),
        json!({"branding": {"primary_color": "#777777", "accent_color": "#888888"}}),
    )
    .await
    .expect(422);
    assert!(b.get("theme.css").await.html.contains("--primary: #1d4f91"));
    app.patch(
        &app.at("office/settings"),
        Some(&owner),
        json!({"branding": {"primary_color": "#004400", "accent_color": "#ffffff"}}),
    )
    .await
    .expect(200);
    assert!(
        b.get("theme.css")
            .await
            .html
            .contains("--primary: #004400; --accent: #ffffff")
    );
    // The stylesheet under its hashed name, cached for a year; any other name is not served.
    let page = b.get("sign-in").await;
    let href = crate::support::browser::attribute_after(&page.html, "rel=\"stylesheet\" href=\"")
        .expect("a stylesheet");
    assert!(href.contains("/assets/portal."), "{href}");
    let css = b.get_path(&href).await;
    css.expect(200);
    assert_eq!(
        header(&css, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    b.get("assets/portal.css").await.expect(404);
    // A logo on another origin is not shown (the CSP allows images from this origin only).
    app.patch(
        &app.at("office/settings"),
        Some(&owner),
        json!({"branding": {"logo_url": "https://cdn.elsewhere.test/logo.png"}}),
    )
    .await
    .expect(200);
    assert!(!b.get("sign-in").await.html.contains("<img"));
    app.patch(
        &app.at("office/settings"),
        Some(&owner),
        json!({"branding": {"logo_url": "https://portal.test/logos/swim.png"}}),
    )
    .await
    .expect(200);
    let page = b.get("sign-in").await;
    assert!(
        page.html
            .contains("<img src=\"https://portal.test/logos/swim.png\" alt=\"swim swim school\">"),
        "{}",
        page.html
    );
}

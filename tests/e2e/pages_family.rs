//! The family and invitation pages over HTTP on both stores: a primary inviting by the page,
//! the mailed link landing without its token and accepted with a new login (18+ box included)
//! or an existing one, a used link refused, the 18+ step on the family page, the switcher,
//! resend, cancel and revoke from the family page, the gates and refusals in words.

use serde_json::json;

use crate::both_stores;
use crate::secondary::{SECONDARY_PASSWORD, family_ready, invite, secondary};
use crate::signup::{GUARDIAN_PASSWORD, signup_body};
use crate::support::app::{Backend, OWNER_PASSWORD, TestApp};
use crate::support::browser::{Browser, PageReply};

both_stores!(
    a_primary_invites_by_the_page_and_a_new_login_accepts_by_the_link,
    a_used_link_is_refused_in_words,
    the_age_confirmation_is_asked_on_the_family_page,
    an_existing_login_accepts_with_its_password_and_switches_families,
    resend_cancel_and_revoke_from_the_family_page,
    policies_pending_and_view_only_are_said_in_words,
    the_family_page_sends_strangers_and_staff_away,
);

/// A guardian signed in through the `sign-in` page.
async fn signed_in<'a>(app: &'a TestApp, email: &str, password: &str) -> Browser<'a> {
    let mut b = Browser::new(app);
    b.get("sign-in").await.expect(200);
    b.post("sign-in", &[("email", email), ("password", password)])
        .await
        .expect_redirect("/family");
    b
}

/// The path (and query) of the last invitation link mailed to `email`.
async fn mailed_link(app: &TestApp, email: &str) -> String {
    let messages = app.messages_to(email).await;
    let body = messages.last().expect("an invitation email")["body"]
        .as_str()
        .unwrap()
        .to_owned();
    let origin = "https://portal.test";
    let at = body
        .find(&format!("{origin}/a/swim/invitation?token="))
        .expect("an invitation link");
    body[at + origin.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// Opens a mailed link: a `303` to the page without the token, then the page.
async fn land(b: &mut Browser<'_>, link: &str) -> PageReply {
    let landed = b.get_path(link).await;
    let location = landed.expect_redirect("/invitation");
    assert!(!location.contains("token"), "{location}");
    b.follow(landed).await
}

fn has_notice(reply: &PageReply) -> bool {
    reply.html.contains("class=\"notice\"")
}

/// The invitation ids of the primary's list, by email.
async fn invitation_id(app: &TestApp, primary: &str, email: &str) -> String {
    let list = app.get(&app.at("portal/invitations"), Some(primary)).await;
    list.expect(200)["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["email"] == email)
        .expect("a pending invitation")["invitation_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn a_primary_invites_by_the_page_and_a_new_login_accepts_by_the_link(backend: Backend) {
    let (app, _, _, _) = family_ready(backend).await;
    let mut p = signed_in(&app, "prime@guard.test", GUARDIAN_PASSWORD).await;
    let page = p.get("family").await;
    page.expect(200);
    let text = page.text();
    for words in [
        "Guard Family",
        "Gwen Guard",
        "You are the primary guardian",
        "full access",
        "Invitations",
        "No invitations are waiting",
        "Nobody else has access",
        "Change password",
        "Sign out",
    ] {
        assert!(text.contains(words), "{words} in {text}");
    }
    assert!(page.html.contains("<label for=\"f-email\">Email</label>"));
    assert!(!page.html.contains("<script") && !page.html.contains("style="));
    // A malformed address is said in words, with the API's status; nothing is sent.
    let bad = p
        .post("family/invitations", &[("email", "not-an-email")])
        .await;
    bad.expect(422);
    assert!(
        bad.text()
            .contains("Enter an email address like name@example.com.")
    );
    assert!(bad.html.contains("value=\"not-an-email\""));
    assert!(app.messages_to("not-an-email").await.is_empty());
    // Invited by the page.
    let sent = p
        .post("family/invitations", &[("email", "Sam@Guard.test")])
        .await;
    assert!(sent.expect_redirect("/family").ends_with("?notice=invited"));
    let page = p.follow(sent).await;
    page.expect(200);
    assert!(page.text().contains("The invitation was sent."));
    assert!(page.text().contains("Sam@Guard.test"));
    assert!(page.text().contains("Resend") && page.text().contains("Cancel"));

    // The mailed link lands without its token, as often as it is opened.
    let link = mailed_link(&app, "Sam@Guard.test").await;
    let mut s = Browser::new(&app);
    for _ in 0..2 {
        let shown = land(&mut s, &link).await;
        shown.expect(200);
        let text = shown.text();
        assert!(
            text.contains(
                "Gwen Guard invited you to view the Guard Family account at swim swim school"
            ),
            "{text}"
        );
        assert!(text.contains("Create your login") && text.contains("Sam@Guard.test"));
        for label in [
            "First name",
            "Last name",
            "Password",
            "Confirm password",
            "I confirm that I am 18 or older",
        ] {
            assert!(shown.html.contains(&format!(">{label}</label>")), "{label}");
        }
    }
    // Refusals keep the link: two passwords that differ, a weak one, no name.
    let mismatch = s
        .post(
            "invitation",
            &[
                ("first_name", "Sam"),
                ("last_name", "Second"),
                ("password", SECONDARY_PASSWORD),
                ("password_confirmation", "Other-Pw-123!"),
            ],
        )
        .await;
    mismatch.expect(422);
    assert!(mismatch.text().contains("The two passwords do not match."));
    assert!(mismatch.html.contains("value=\"Sam\""));
    assert!(
        !mismatch.html.contains(SECONDARY_PASSWORD),
        "passwords never echoed"
    );
    let weak = s
        .post(
            "invitation",
            &[
                ("first_name", "Sam"),
                ("last_name", "Second"),
                ("password", "weak"),
                ("password_confirmation", "weak"),
            ],
        )
        .await;
    weak.expect(422);
    assert!(
        weak.text().contains("The password needs:"),
        "{}",
        weak.text()
    );
    let nameless = s
        .post(
            "invitation",
            &[
                ("first_name", ""),
                ("last_name", "Second"),
                ("password", SECONDARY_PASSWORD),
                ("password_confirmation", SECONDARY_PASSWORD),
            ],
        )
        .await;
    nameless.expect(422);
    assert!(nameless.text().contains("Enter this, it is required."));
    // Accepted with a new login and the 18+ box: the family page, view only.
    let accepted = s
        .post(
            "invitation",
            &[
                ("first_name", "Sam"),
                ("last_name", "Second"),
                ("password", SECONDARY_PASSWORD),
                ("password_confirmation", SECONDARY_PASSWORD),
                ("age_confirmed", "yes"),
            ],
        )
        .await;
    assert!(
        accepted
            .expect_redirect("/family")
            .ends_with("?notice=accepted")
    );
    assert!(
        accepted
            .set_cookies
            .iter()
            .any(|c| c.starts_with("__Host-portal-session="))
    );
    let page = s.follow(accepted).await;
    page.expect(200);
    let text = page.text();
    assert!(
        text.contains("Guard Family") && text.contains("view only"),
        "{text}"
    );
    assert!(text.contains("You accepted the invitation."));
    assert!(text.contains("Sam Second") && text.contains("Gwen Guard"));
    assert!(!text.contains("Invitations") && !text.contains("Revoke access"));
    // The primary sees the new secondary user and no pending invitation.
    let page = p.get("family").await;
    let text = page.text();
    assert!(
        text.contains("Sam Second") && text.contains("Revoke access"),
        "{text}"
    );
    assert!(text.contains("No invitations are waiting"));
    // The new login signs in through the page like any guardian.
    signed_in(&app, "sam@guard.test", SECONDARY_PASSWORD).await;
}

async fn a_used_link_is_refused_in_words(backend: Backend) {
    let (app, primary, _, _) = family_ready(backend).await;
    invite(&app, &primary, "sam@guard.test").await;
    let link = mailed_link(&app, "sam@guard.test").await;
    // Two browsers open the link; the first accepts.
    let mut first = Browser::new(&app);
    let mut second = Browser::new(&app);
    land(&mut first, &link).await.expect(200);
    land(&mut second, &link).await.expect(200);
    let fields = [
        ("first_name", "Sam"),
        ("last_name", "Second"),
        ("password", SECONDARY_PASSWORD),
        ("password_confirmation", SECONDARY_PASSWORD),
    ];
    first
        .post("invitation", &fields)
        .await
        .expect_redirect("/family");
    // The second accept of the same link is refused, in words.
    let refused = second.post("invitation", &fields).await;
    refused.expect(400);
    assert!(
        refused.text().contains("This link is not valid any more"),
        "{}",
        refused.text()
    );
    // Opening the link again says the same.
    let again = land(&mut Browser::new(&app), &link).await;
    again.expect(400);
    assert!(again.text().contains("This link is not valid any more"));
    // An expired link says so.
    invite(&app, &primary, "late@guard.test").await;
    let late = mailed_link(&app, "late@guard.test").await;
    app.advance_clock(8 * 24 * 60 * 60).await;
    let expired = land(&mut Browser::new(&app), &late).await;
    expired.expect(410);
    assert!(expired.text().contains("This link has expired."));
    // The page without a link.
    let none = Browser::new(&app).get("invitation").await;
    none.expect(200);
    assert!(
        none.text()
            .contains("Open the invitation link from your email")
    );
}

async fn the_age_confirmation_is_asked_on_the_family_page(backend: Backend) {
    let (app, primary, _, _) = family_ready(backend).await;
    invite(&app, &primary, "sam@guard.test").await;
    let link = mailed_link(&app, "sam@guard.test").await;
    let mut s = Browser::new(&app);
    land(&mut s, &link).await.expect(200);
    let accepted = s
        .post(
            "invitation",
            &[
                ("first_name", "Sam"),
                ("last_name", "Second"),
                ("password", SECONDARY_PASSWORD),
                ("password_confirmation", SECONDARY_PASSWORD),
            ],
        )
        .await;
    let page = s.follow(accepted).await;
    page.expect(200);
    let text = page.text();
    assert!(text.contains("Confirm your age"), "{text}");
    assert!(
        !text.contains("Guard Family"),
        "no family before the confirmation"
    );
    assert!(
        page.html
            .contains(">I confirm that I am 18 or older</label>")
    );
    let unticked = s.post("family/age-confirmation", &[]).await;
    unticked.expect(422);
    assert!(
        unticked
            .text()
            .contains("Tick the box to confirm that you are 18 or older.")
    );
    let confirmed = s
        .post("family/age-confirmation", &[("age_confirmed", "yes")])
        .await;
    assert!(
        confirmed
            .expect_redirect("/family")
            .ends_with("?notice=age_confirmed")
    );
    let page = s.follow(confirmed).await;
    page.expect(200);
    assert!(page.text().contains("Thank you for confirming your age."));
    assert!(page.text().contains("Guard Family") && page.text().contains("view only"));
}

async fn an_existing_login_accepts_with_its_password_and_switches_families(backend: Backend) {
    let (app, primary, family_id, _) = family_ready(backend).await;
    let mut body = signup_body("olga@guard.test", None);
    body["guardian"]["last_name"] = json!("Other");
    let own = app
        .post(&app.at("portal/signup"), None, body)
        .await
        .expect(201)
        .clone();
    let own_id = own["family_id"].as_str().unwrap().to_owned();
    invite(&app, &primary, "olga@guard.test").await;
    let link = mailed_link(&app, "olga@guard.test").await;
    let mut o = Browser::new(&app);
    let shown = land(&mut o, &link).await;
    shown.expect(200);
    assert!(shown.text().contains("Accept with your login"));
    assert!(
        shown
            .text()
            .contains("olga@guard.test already has a login here")
    );
    assert!(!shown.html.contains(">First name</label>"));
    assert!(shown.html.contains(">Password</label>"));
    // A wrong password is refused next to its field; the link still works.
    let wrong = o.post("invitation", &[("password", "Wrong-Pw-123!")]).await;
    wrong.expect(401);
    assert!(
        wrong
            .text()
            .contains("That is not the password of this login.")
    );
    let accepted = o
        .post("invitation", &[("password", GUARDIAN_PASSWORD)])
        .await;
    accepted.expect_redirect("/family");
    let page = o.follow(accepted).await;
    page.expect(200);
    let text = page.text();
    assert!(
        text.contains("Guard Family") && text.contains("view only"),
        "{text}"
    );
    // The switcher lists her own family.
    assert!(text.contains("Your other families") && text.contains("Switch to Other Family"));
    let switched = o.post("family/switch", &[("family_id", &own_id)]).await;
    assert!(
        switched
            .expect_redirect("/family")
            .ends_with("?notice=switched")
    );
    assert!(
        switched
            .set_cookies
            .iter()
            .any(|c| c.starts_with("__Host-portal-session="))
    );
    let page = o.follow(switched).await;
    page.expect(200);
    let text = page.text();
    assert!(text.contains("You switched to this family."));
    assert!(text.contains("Other Family") && text.contains("You are the primary guardian"));
    assert!(text.contains("Switch to Guard Family"), "{text}");
    // Back again; a family she is not in is refused in words.
    o.post("family/switch", &[("family_id", &family_id)])
        .await
        .expect_redirect("/family");
    let page = o.get("family").await;
    assert!(page.text().contains("You have view-only access."));
    let refused = o
        .post("family/switch", &[("family_id", "AAAAAAAAAAAAAAAAAAAAAA")])
        .await;
    refused.expect(403);
    assert!(refused.text().contains("You do not have access to this."));
    let refused = o
        .post("family/switch", &[("family_id", "no such id!")])
        .await;
    refused.expect(403);
}

async fn resend_cancel_and_revoke_from_the_family_page(backend: Backend) {
    let (app, primary, _, _) = family_ready(backend).await;
    let mut p = signed_in(&app, "prime@guard.test", GUARDIAN_PASSWORD).await;
    p.get("family").await.expect(200);
    for email in ["ann@guard.test", "bob@guard.test"] {
        p.post("family/invitations", &[("email", email)])
            .await
            .expect_redirect("/family");
    }
    let ann = invitation_id(&app, &primary, "ann@guard.test").await;
    let bob = invitation_id(&app, &primary, "bob@guard.test").await;
    let old_link = mailed_link(&app, "ann@guard.test").await;
    // Resend: a new link, the old one stops working.
    p.get("family").await.expect(200);
    let resent = p
        .post(&format!("family/invitations/{ann}/resend"), &[])
        .await;
    assert!(
        resent
            .expect_redirect("/family")
            .ends_with("?notice=resent")
    );
    let page = p.follow(resent).await;
    assert!(page.text().contains("A new invitation link was sent"));
    let new_link = mailed_link(&app, "ann@guard.test").await;
    assert_ne!(old_link, new_link);
    land(&mut Browser::new(&app), &old_link).await.expect(400);
    land(&mut Browser::new(&app), &new_link).await.expect(200);
    // Cancel: gone from the page, its link dead.
    let bob_link = mailed_link(&app, "bob@guard.test").await;
    let cancelled = p
        .post(&format!("family/invitations/{bob}/cancel"), &[])
        .await;
    assert!(
        cancelled
            .expect_redirect("/family")
            .ends_with("?notice=cancelled")
    );
    let page = p.follow(cancelled).await;
    assert!(page.text().contains("The invitation was cancelled"));
    assert!(!page.text().contains("bob@guard.test") && page.text().contains("ann@guard.test"));
    land(&mut Browser::new(&app), &bob_link).await.expect(400);
    // Cancelling it again: it no longer exists, said in words.
    let again = p
        .post(&format!("family/invitations/{bob}/cancel"), &[])
        .await;
    again.expect(404);
    assert!(again.text().contains("That no longer exists."));
    // Revoke: the secondary user's next family page says so.
    let (sam_id, _) = secondary(&app, &primary, "sam@guard.test").await;
    let mut s = signed_in(&app, "sam@guard.test", SECONDARY_PASSWORD).await;
    s.get("family").await.expect(200);
    let page = p.get("family").await;
    assert!(page.text().contains("Sam Second"));
    let revoked = p
        .post(&format!("family/secondary-users/{sam_id}/revoke"), &[])
        .await;
    assert!(
        revoked
            .expect_redirect("/family")
            .ends_with("?notice=revoked")
    );
    let page = p.follow(revoked).await;
    assert!(page.text().contains("Access was revoked."));
    assert!(!page.text().contains("Sam Second") && page.text().contains("Nobody else has access"));
    assert!(
        app.messages_to("sam@guard.test").await.len() >= 2,
        "the secondary user is told"
    );
    let gone = s.get("family").await;
    gone.expect(403);
    assert!(
        gone.text()
            .contains("Your access to this family was removed.")
    );
    assert!(gone.text().contains("Sign out"));
    // Only known notices are shown.
    let page = p.get("family?notice=%3Cb%3Ehi%3C%2Fb%3E").await;
    page.expect(200);
    assert!(!has_notice(&page) && !page.html.contains("<b>hi"));
}

async fn policies_pending_and_view_only_are_said_in_words(backend: Backend) {
    let (app, primary, _, _) = family_ready(backend).await;
    secondary(&app, &primary, "sam@guard.test").await;
    let mut s = signed_in(&app, "sam@guard.test", SECONDARY_PASSWORD).await;
    s.get("family").await.expect(200);
    // A secondary user's write: view only, with the API's status.
    let refused = s
        .post("family/invitations", &[("email", "x@guard.test")])
        .await;
    refused.expect(403);
    assert!(
        refused
            .text()
            .contains("Your access to this family is view only.")
    );
    assert!(app.messages_to("x@guard.test").await.is_empty());
    // A new required policy: the primary is led to the policies, and cannot invite.
    let owner = app.owner_token().await;
    app.create_policy(&owner, "New rules", true).await;
    let mut p = Browser::new(&app);
    p.get("sign-in").await.expect(200);
    p.post(
        "sign-in",
        &[
            ("email", "prime@guard.test"),
            ("password", GUARDIAN_PASSWORD),
        ],
    )
    .await
    .expect_redirect("/policies");
    let page = p.get("family").await;
    page.expect(200);
    assert!(page.html.contains("href=\"/a/swim/policies\""));
    assert!(page.text().contains("Review and accept the policies"));
    let refused = p
        .post("family/invitations", &[("email", "y@guard.test")])
        .await;
    refused.expect(409);
    assert!(
        refused
            .text()
            .contains("Accept the family's policies first.")
    );
    // The secondary user waits for the primary, told why.
    let waiting = s.get("family").await;
    waiting.expect(403);
    assert!(
        waiting
            .text()
            .contains("The family's primary guardian has policies to accept")
    );
}

async fn the_family_page_sends_strangers_and_staff_away(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut b = Browser::new(&app);
    let location = b.get("family").await.expect_redirect("/sign-in");
    assert!(location.ends_with("?ended=1"));
    // A POST without any session changes nothing and goes to sign in as well.
    b.post("family/invitations", &[("email", "x@guard.test")])
        .await
        .expect_redirect("/sign-in");
    let mut staff = Browser::new(&app);
    staff.get("staff-sign-in").await.expect(200);
    staff
        .post(
            "staff-sign-in",
            &[("username", "owner"), ("password", OWNER_PASSWORD)],
        )
        .await
        .expect(303);
    staff.get("family").await.expect_redirect("/staff-home");
}

//! The sign-up wizard and the policies step as pages over HTTP, on both stores: the whole
//! wizard with email validation (code from the outbox) ending on the policies and then the
//! family; a refused step in words next to its fields, with the earlier answers kept (also
//! through "Back"); sign-up switched off; and the create refused for an email that became a
//! family's meanwhile.

use serde_json::json;

use crate::both_stores;
use crate::secondary::{SECONDARY_PASSWORD, family_ready, secondary};
use crate::signup::sign_up;
use crate::support::app::{Backend, TestApp, six_digit_code};
use crate::support::browser::{Browser, PageReply};

both_stores!(
    the_validated_wizard_ends_on_the_policies_then_the_family,
    a_refused_step_says_why_and_keeps_the_earlier_answers,
    sign_up_switched_off_shows_the_message_and_no_form,
    the_create_answers_email_in_use_for_a_taken_email,
    an_existing_login_signs_up_with_its_password_and_secondaries_only_read_policies,
);

const PASSWORD: &str = "Wiz4rd-Pass!w";
const FLOW: &str = "__Host-portal-flow";
const SESSION: &str = "__Host-portal-session";

const GUARDIAN: &[(&str, &str)] = &[
    ("step", "guardian"),
    ("first_name", "Wendy"),
    ("last_name", "Waters"),
    ("relationship", "Parent"),
    ("email_type", "work"),
    ("email_opt_in", "yes"),
    ("phone1", "(555) 123-4567"),
    ("phone1_type", "mobile"),
    ("phone1_sms", "yes"),
    ("phone2", ""),
    ("phone2_type", "mobile"),
];

const ADDRESS: &[(&str, &str)] = &[
    ("step", "address"),
    ("line1", "1 Pool Lane"),
    ("line2", ""),
    ("city", "Springfield"),
    ("region", "IL"),
    ("postal_code", "62701"),
    ("country", "US"),
    ("referral_source", "A friend"),
];

/// Posts a step that is accepted (`303` back to the wizard) and reads the next one.
async fn through(b: &mut Browser<'_>, fields: &[(&str, &str)]) -> PageReply {
    b.post("sign-up", fields).await.expect_redirect("/sign-up");
    let next = b.get("sign-up").await;
    next.expect(200);
    next
}

async fn without_validation(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.patch_tenant(json!({"email_validation_required": false}))
        .await;
    app
}

/// A visitor taken through the wizard (validation off) up to the review step.
async fn at_review<'a>(app: &'a TestApp, email: &str) -> Browser<'a> {
    let mut b = Browser::new(app);
    b.get("sign-up").await.expect(200);
    through(&mut b, &[("step", "email"), ("email", email)]).await;
    through(&mut b, GUARDIAN).await;
    through(
        &mut b,
        &[
            ("step", "password"),
            ("password", PASSWORD),
            ("password_confirmation", PASSWORD),
        ],
    )
    .await;
    let review = through(&mut b, ADDRESS).await;
    assert!(
        review.text().contains("Check your answers"),
        "{}",
        review.text()
    );
    b
}

async fn the_validated_wizard_ends_on_the_policies_then_the_family(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.patch_tenant(json!({"email_validation_required": true}))
        .await;
    let owner = app.owner_token().await;
    let policy = app.create_policy(&owner, "Pool rules", true).await;
    let email = "wendy@waters.test";
    let mut b = Browser::new(&app);

    // Email, then the code it was sent.
    let first = b.get("sign-up").await;
    first.expect(200);
    let text = first.text();
    assert!(text.contains("Create an account: step 1 of 6"), "{text}");
    assert!(first.html.contains("<label for=\"f-email\">Email</label>"));
    let code_page = through(&mut b, &[("step", "email"), ("email", email)]).await;
    let text = code_page.text();
    assert!(text.contains("Confirm your email"), "{text}");
    assert!(text.contains(email), "{text}");
    assert!(code_page.html.contains(">Code</label>"));
    let mail = app.messages_to(email).await;
    let code = six_digit_code(mail.last().expect("a code")["body"].as_str().unwrap())
        .expect("a 6-digit code");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = b
        .post("sign-up", &[("step", "code"), ("code", wrong)])
        .await;
    refused.expect(400);
    assert!(refused.text().contains("That code is not correct."));
    // "Send a new code": the old one stops working.
    b.post(
        "sign-up",
        &[("step", "code"), ("code", ""), ("resend", "1")],
    )
    .await
    .expect_redirect("/sign-up");
    let resent_path = b.path("sign-up?sent=1");
    let resent = b.get_path(&resent_path).await;
    assert!(resent.text().contains("A new code is on its way"));
    let mail = app.messages_to(email).await;
    assert_eq!(mail.len(), 2);
    let code = six_digit_code(mail[1]["body"].as_str().unwrap()).unwrap();

    let guardian = through(&mut b, &[("step", "code"), ("code", code.as_str())]).await;
    let text = guardian.text();
    assert!(text.contains("About you"), "{text}");
    for label in [
        "First name",
        "Last name",
        "Relationship to the students",
        "Email type",
        "Phone number",
        "Phone type",
        "Send me text messages",
    ] {
        assert!(text.contains(label), "{label} on {text}");
    }
    let password = through(&mut b, GUARDIAN).await;
    assert!(password.text().contains("At least 8 characters"));
    through(
        &mut b,
        &[
            ("step", "password"),
            ("password", PASSWORD),
            ("password_confirmation", PASSWORD),
        ],
    )
    .await;
    let review = through(&mut b, ADDRESS).await;
    let text = review.text();
    for answer in [
        email,
        "Wendy",
        "Waters",
        "Parent",
        "Work",
        "(555) 123-4567 (Mobile), text messages: Yes",
        "1 Pool Lane, Springfield, IL, 62701, US",
        "A friend",
    ] {
        assert!(text.contains(answer), "{answer} on {text}");
    }
    assert!(
        !review.html.contains(PASSWORD),
        "the password is never shown"
    );
    let flow = b.cookies.get(FLOW).expect("the flow cookie");
    assert!(flow.len() < 4000, "the draft fits a cookie: {}", flow.len());
    assert!(!flow.contains("Wendy"), "sealed");

    // Without the 18+ confirmation: refused next to the box.
    let refused = b.post("sign-up", &[("step", "review")]).await;
    refused.expect(422);
    assert!(
        refused
            .text()
            .contains("Confirm that you are 18 or older to create an account.")
    );
    assert!(refused.html.contains("id=\"f-age_confirmed-error\""));
    let created = b
        .post("sign-up", &[("step", "review"), ("age_confirmed", "yes")])
        .await;
    created.expect_redirect("/policies");
    assert!(b.cookies.contains_key(SESSION), "signed in");
    assert!(!b.cookies.contains_key(FLOW), "the flow ended");

    // The policies step: its text in a keyboard-reachable box, one box per version to accept.
    let page = b.follow(created).await;
    page.expect(200);
    let text = page.text();
    assert!(text.contains("Pool rules"), "{text}");
    assert!(text.contains("I accept Pool rules"), "{text}");
    assert!(
        page.html
            .contains("class=\"policy-body\" tabindex=\"0\" role=\"region\"")
    );
    let none = b.post("policies", &[]).await;
    none.expect(422);
    assert!(none.text().contains("Tick \"I accept\""));
    let version_field = format!("version.{policy}");
    let accept_field = format!("accept.{policy}");
    let accepted = b
        .post(
            "policies",
            &[
                ("policy", policy.as_str()),
                (version_field.as_str(), "1"),
                (accept_field.as_str(), "yes"),
            ],
        )
        .await;
    accepted.expect_redirect("/family");
    let done = b.get("policies").await;
    done.expect(200);
    assert!(done.text().contains("Finish setup"));

    // The family the API sees: created from the web, its setup complete.
    let login = app
        .post(
            &app.at("portal/login"),
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    let body = login.expect(200);
    assert_eq!(body["setup_complete"], true);
    assert_eq!(body["guardian"]["first_name"], "Wendy");
    assert_eq!(body["pending_policies"], json!([]));
}

async fn a_refused_step_says_why_and_keeps_the_earlier_answers(backend: Backend) {
    let app = without_validation(backend).await;
    app.patch_tenant(json!({"custom_fields": [
        {"key": "medical", "label": "Medical notes", "required": true}
    ]}))
    .await;
    let email = "gale@family.test";
    let mut b = Browser::new(&app);
    b.get("sign-up").await.expect(200);
    let guardian = through(&mut b, &[("step", "email"), ("email", email)]).await;
    assert!(
        guardian.text().contains("step 2 of 6"),
        "{}",
        guardian.text()
    );

    // A last name missing, a phone that is no number, no phone type: each next to its field.
    let refused = b
        .post(
            "sign-up",
            &[
                ("step", "guardian"),
                ("first_name", "Gale"),
                ("last_name", " "),
                ("relationship", "Grandparent"),
                ("email_type", "home"),
                ("phone1", "12"),
                ("phone1_type", "mobile"),
            ],
        )
        .await;
    refused.expect(422);
    let text = refused.text();
    assert!(text.contains("There is a problem"), "{text}");
    assert!(text.contains("Enter this, it is required."), "{text}");
    assert!(
        text.contains("Enter a phone number with its area code"),
        "{text}"
    );
    assert!(refused.html.contains("id=\"f-last_name-error\""));
    assert!(refused.html.contains("id=\"f-phone1-error\""));
    assert!(
        refused.html.contains("value=\"Gale\""),
        "what was typed stays"
    );
    assert!(refused.html.contains("value=\"Grandparent\""));
    // No phone at all: web sign-ups need one.
    let refused = b
        .post(
            "sign-up",
            &[
                ("step", "guardian"),
                ("first_name", "Gale"),
                ("last_name", "Wind"),
                ("relationship", "Grandparent"),
                ("email_type", "home"),
                ("phone1", ""),
                ("phone2", ""),
            ],
        )
        .await;
    refused.expect(422);
    assert!(refused.text().contains("Enter at least one phone number."));
    // The second row alone becomes phone 1.
    through(
        &mut b,
        &[
            ("step", "guardian"),
            ("first_name", "Gale"),
            ("last_name", "Wind"),
            ("relationship", "Grandparent"),
            ("email_type", "home"),
            ("phone1", ""),
            ("phone2", "555-987-6543"),
            ("phone2_type", "home"),
        ],
    )
    .await;

    // A weak password, then a mismatched confirmation.
    let weak = b
        .post(
            "sign-up",
            &[
                ("step", "password"),
                ("password", "short"),
                ("password_confirmation", "short"),
            ],
        )
        .await;
    weak.expect(422);
    assert!(
        weak.text().contains("The password needs:"),
        "{}",
        weak.text()
    );
    assert!(!weak.html.contains("value=\"short\""), "never echoed");
    let mismatch = b
        .post(
            "sign-up",
            &[
                ("step", "password"),
                ("password", PASSWORD),
                ("password_confirmation", "Other-Pass1!x"),
            ],
        )
        .await;
    mismatch.expect(422);
    assert!(mismatch.text().contains("The two passwords do not match."));

    // Back (with what was typed on the password step) keeps every earlier answer.
    b.post(
        "sign-up",
        &[("step", "password"), ("password", ""), ("back", "1")],
    )
    .await
    .expect_redirect("/sign-up");
    let again = b.get("sign-up").await;
    again.expect(200);
    for kept in [
        "value=\"Gale\"",
        "value=\"Wind\"",
        "value=\"Grandparent\"",
        "value=\"555-987-6543\"",
    ] {
        assert!(again.html.contains(kept), "{kept} kept");
    }
    through(
        &mut b,
        &[
            ("step", "guardian"),
            ("first_name", "Gale"),
            ("last_name", "Wind"),
            ("relationship", "Grandparent"),
            ("email_type", "home"),
            ("phone1", "555-987-6543"),
            ("phone1_type", "home"),
        ],
    )
    .await;
    through(
        &mut b,
        &[
            ("step", "password"),
            ("password", PASSWORD),
            ("password_confirmation", PASSWORD),
        ],
    )
    .await;
    // Address: the city missing; then the custom field the tenant requires.
    let refused = b
        .post(
            "sign-up",
            &[
                ("step", "address"),
                ("line1", "2 Shore Road"),
                ("city", ""),
                ("region", "IL"),
                ("postal_code", "62702"),
                ("country", "US"),
            ],
        )
        .await;
    refused.expect(422);
    assert!(refused.html.contains("id=\"f-city-error\""));
    assert!(refused.html.contains("value=\"2 Shore Road\""));
    let custom = through(
        &mut b,
        &[
            ("step", "address"),
            ("line1", "2 Shore Road"),
            ("city", "Springfield"),
            ("region", "IL"),
            ("postal_code", "62702"),
            ("country", "US"),
        ],
    )
    .await;
    assert!(custom.text().contains("Medical notes"), "{}", custom.text());
    let refused = b
        .post(
            "sign-up",
            &[("step", "custom"), ("custom_fields.medical", "  ")],
        )
        .await;
    refused.expect(422);
    assert!(
        refused
            .html
            .contains("id=\"f-custom_fields-medical-error\"")
    );
    // A step not reached yet cannot be skipped to.
    b.post("sign-up", &[("step", "review"), ("age_confirmed", "yes")])
        .await
        .expect_redirect("/sign-up");
    let still = b.get("sign-up").await;
    assert!(still.text().contains("A few more questions"));
    let review = through(
        &mut b,
        &[("step", "custom"), ("custom_fields.medical", "None")],
    )
    .await;
    let text = review.text();
    for answer in [
        email,
        "Gale",
        "Wind",
        "555-987-6543 (Home), text messages: No",
        "2 Shore Road, Springfield",
        "Medical notes",
        "None",
    ] {
        assert!(text.contains(answer), "{answer} on {text}");
    }
    // No required policy: straight to the family.
    b.post("sign-up", &[("step", "review"), ("age_confirmed", "yes")])
        .await
        .expect_redirect("/family");
}

async fn sign_up_switched_off_shows_the_message_and_no_form(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut b = Browser::new(&app);
    let open = b.get("sign-in").await;
    assert!(open.html.contains("/a/swim/sign-up"), "linked while open");
    app.patch_tenant(json!({"customer_signup_enabled": false}))
        .await;
    let page = b.get("sign-up").await;
    page.expect(403);
    assert!(
        page.text()
            .contains("Online sign-up is not available for this business."),
        "{}",
        page.text()
    );
    assert!(!page.html.contains("<form"), "no form");
    let sign_in = b.get("sign-in").await;
    assert!(!sign_in.html.contains("/a/swim/sign-up"), "not linked");
    // A form from before it was switched off changes nothing.
    let post = b
        .post(
            "sign-up",
            &[("step", "email"), ("email", "late@family.test")],
        )
        .await;
    post.expect(403);
    assert!(post.text().contains("Online sign-up is not available"));
    assert!(app.messages_to("late@family.test").await.is_empty());
}

async fn the_create_answers_email_in_use_for_a_taken_email(backend: Backend) {
    let app = without_validation(backend).await;
    // Taken before: refused at the email step already.
    sign_up(&app, "first@family.test").await;
    let mut b = Browser::new(&app);
    b.get("sign-up").await.expect(200);
    let refused = b
        .post(
            "sign-up",
            &[("step", "email"), ("email", "FIRST@family.test")],
        )
        .await;
    refused.expect(409);
    assert!(
        refused
            .text()
            .contains("This email already belongs to a family.")
    );
    assert!(refused.html.contains("id=\"f-email-error\""));

    // Taken while the visitor filled in the wizard: the create answers it.
    let email = "race@family.test";
    let mut b = at_review(&app, email).await;
    sign_up(&app, email).await;
    let refused = b
        .post("sign-up", &[("step", "review"), ("age_confirmed", "yes")])
        .await;
    refused.expect(409);
    let text = refused.text();
    assert!(
        text.contains("This email already belongs to a family."),
        "{text}"
    );
    assert!(
        text.contains("enter that login's current password"),
        "{text}"
    );
    assert!(!b.cookies.contains_key(SESSION), "no session");
    assert!(b.cookies.contains_key(FLOW), "the answers are kept");
    assert!(text.contains("Wendy"), "{text}");
}

async fn an_existing_login_signs_up_with_its_password_and_secondaries_only_read_policies(
    backend: Backend,
) {
    let (app, primary, _, policy) = family_ready(backend).await;
    let email = "sam@second.test";
    secondary(&app, &primary, email).await;

    // Without a session the policies page sends to sign-in.
    let mut b = Browser::new(&app);
    b.get("policies").await.expect_redirect("/sign-in");

    // The secondary (view-only) user reads the policies, accepts none.
    b.get("sign-in").await.expect(200);
    b.post(
        "sign-in",
        &[("email", email), ("password", SECONDARY_PASSWORD)],
    )
    .await
    .expect_redirect("/family");
    let page = b.get("policies").await;
    page.expect(200);
    let text = page.text();
    assert!(text.contains("Waiver"), "{text}");
    assert!(
        text.contains("Your access to this family is view only."),
        "{text}"
    );
    assert!(!page.html.contains("name=\"accept."), "no box to tick");
    let accept_field = format!("accept.{policy}");
    let version_field = format!("version.{policy}");
    let refused = b
        .post(
            "policies",
            &[
                ("policy", policy.as_str()),
                (version_field.as_str(), "1"),
                (accept_field.as_str(), "yes"),
            ],
        )
        .await;
    refused.expect(403);
    assert!(
        refused
            .text()
            .contains("Your access to this family is view only.")
    );

    // The same email signs up as the primary of a new family only with that login's password.
    let mut b = at_review(&app, email).await;
    let wrong = b
        .post("sign-up", &[("step", "review"), ("age_confirmed", "yes")])
        .await;
    wrong.expect(409);
    assert!(wrong.text().contains("enter that login's current password"));
    through(
        &mut b,
        &[
            ("step", "password"),
            ("password", SECONDARY_PASSWORD),
            ("password_confirmation", SECONDARY_PASSWORD),
        ],
    )
    .await;
    through(&mut b, ADDRESS).await;
    let created = b
        .post("sign-up", &[("step", "review"), ("age_confirmed", "yes")])
        .await;
    created.expect_redirect("/policies");
    let page = b.follow(created).await;
    page.expect(200);
    assert!(page.text().contains("I accept Waiver"), "{}", page.text());
}

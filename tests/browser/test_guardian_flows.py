"""Guardian flows through the hosted pages, each in every mode (desktop, nojs, mobile):
sign-up with the emailed code and a required policy, sign-in and the family switcher, forgot
and reset from the mailed link, invitations accepted with a new and an existing login, change
password, and the lockout message. Every page a flow visits passes axe at least once.

The people a flow needs besides the one it drives (an inviting primary, a second family) are
made through the JSON API, which runs the same domain code; the pages are driven by label and
role only, by form submission, so the same steps work with JavaScript off.
"""

from __future__ import annotations

import re
import urllib.parse

from playwright.sync_api import expect

from harness import (
    OWNER_PASSWORD,
    api,
    check_a11y as _axe,
    code_in,
    latest_mail,
    link_in,
    page_info,
    screenshot,
)

PASSWORD = "Tadpole-Gala9!"
NEW_PASSWORD = "Butterfly-Lane7#"
WRONG_PASSWORD = "Not-The-One-1!"

# Where a signed-in guardian lands; "family?notice=..." included.
FAMILY_URL = re.compile(r"/family(\?.*)?$")


# ---------------------------------------------------------------------------------------------
# The JSON API, for the people around a flow.

def call(method: str, path: str, body=None, *, token: str | None = None, expect_status=None):
    """One JSON request with an optional bearer token; the decoded answer (None when empty)."""
    return api(method, path, body, expect=expect_status, token=token)


def api_guardian(account: str, email: str, first: str, last: str,
                 password: str = PASSWORD) -> dict:
    """Signs a family up through the API (the emailed code when validation is on); returns the
    sign-up answer (token, family_id, guardian_id...)."""
    api("POST", f"/a/{account}/portal/signup/email", {"email": email}, expect=(202, 204))
    body = {
        "client": "web",
        "age_confirmed": True,
        "guardian": {"first_name": first, "last_name": last, "relationship": "parent"},
        "email": {"address": email, "type": "home", "opt_in": False},
        "phones": [{"number": "(555) 123-4567", "type": "mobile", "sms_opt_in": False}],
        "password": password,
        "password_confirmation": password,
        "address": {"line1": "1 Pool Lane", "city": "Springfield", "region": "Somewhere",
                    "postal_code": "12345", "country": "US"},
    }
    tenant = api("GET", f"/a/{account}")
    if tenant["email_validation_required"]:
        code = code_in(latest_mail(email)["body"])
        verified = api("POST", f"/a/{account}/portal/signup/email/verify",
                       {"email": email, "code": code})
        body["email_verification_token"] = verified["email_verification_token"]
    return api("POST", f"/a/{account}/portal/signup", body, expect=201)


def long_email(local: str, account: str) -> str:
    """A long address with no place to break a line (real ones are like it): the pages must
    still fit a 375 px phone. Unique per tenant, as the outbox is shared."""
    return f"{local}@{account.replace('-', '')}.example"


def token_of(link: str) -> str:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["token"][0]


def required_policy(tenant: dict, title: str = "Pool safety") -> dict:
    """A required policy, created by the owner (who accepts the terms first)."""
    account = tenant["account"]
    login = api("POST", f"/a/{account}/staff/login",
                {"username": tenant["owner"]["username"], "password": OWNER_PASSWORD})
    token = login["token"]
    if not login["terms"]["accepted"]:
        call("POST", f"/a/{account}/staff/terms/accept",
             {"version": login["terms"]["current_version"]}, token=token)
    return call("POST", f"/a/{account}/office/policies",
                {"title": title, "body": "Walk, do not run, on the pool deck.", "required": True},
                token=token, expect_status=201)


# ---------------------------------------------------------------------------------------------
# Page steps.

def check_a11y(page) -> None:
    """axe (harness.check_a11y), and on the phone: nothing wider than its 375 px, so the page
    never scrolls sideways (WCAG 1.4.10). Compared with the configured viewport, not
    window.innerWidth: a mobile browser widens its layout viewport to overflowing content.
    (A plain read of the layout, no timer: safe where JS runs, as the phone mode does.)"""
    _axe(page)
    if page_info(page).mode == "mobile":
        width = page.evaluate("() => document.documentElement.scrollWidth")
        allowed = page.viewport_size["width"]
        assert width <= allowed, f"{page.url} is {width} px wide on a {allowed} px phone"

def button(page, name: str):
    return page.get_by_role("button", name=name, exact=True)


def label(page, text: str):
    return page.get_by_label(text, exact=True)


def alert(page):
    return page.get_by_role("alert")


def open_sign_in(page, base_url: str, account: str, *, a11y: bool = False,
                 shot: bool = False) -> None:
    page.goto(f"{base_url}/a/{account}/sign-in")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    if a11y:
        check_a11y(page)
    if shot:
        screenshot(page, "sign-in")


def submit_sign_in(page, email: str, password: str) -> None:
    label(page, "Email").fill(email)
    label(page, "Password").fill(password)
    button(page, "Sign in").click()


def sign_in(page, base_url: str, account: str, email: str, password: str, **kw) -> None:
    open_sign_in(page, base_url, account, **kw)
    submit_sign_in(page, email, password)
    expect(page).to_have_url(FAMILY_URL)


def access(page):
    """The "Your access:" value on the family page."""
    return page.locator("main p", has_text="Your access:").locator("strong")


def heading(page):
    return page.get_by_role("heading", level=1)


# ---------------------------------------------------------------------------------------------
# 1. Sign-up with email validation on, through the policies step.

def test_sign_up_with_code_and_policies(page, mode, tenant, base_url):
    account = tenant["account"]
    api("PATCH", f"/_dev/tenants/{account}",
        {"customer_signup_enabled": True, "email_validation_required": True})
    policy = required_policy(tenant)
    email = long_email("georgina.featherstonehaugh", account)

    # Step 1: the email.
    page.goto(f"{base_url}/a/{account}/sign-up")
    expect(heading(page)).to_have_text("Create an account")
    expect(page.get_by_text("step 1 of 6")).to_be_visible()
    check_a11y(page)
    screenshot(page, "sign-up-email")
    label(page, "Email").fill(email)
    button(page, "Continue").click()

    # Step 2: the emailed code.
    expect(heading(page)).to_have_text("Confirm your email")
    check_a11y(page)
    label(page, "Code").fill(code_in(latest_mail(email)["body"]))
    button(page, "Continue").click()

    # Step 3: about the guardian.
    expect(heading(page)).to_have_text("About you")
    check_a11y(page)
    screenshot(page, "sign-up-guardian")
    label(page, "First name").fill("Gina")
    label(page, "Last name").fill("Guardian")
    label(page, "Relationship to the students").fill("parent")
    page.get_by_label("Phone number", exact=True).first.fill("(555) 123-4567")
    page.get_by_label("Send me text messages", exact=True).first.check()
    button(page, "Continue").click()

    # Step 4: the password, refused once (the confirmation does not match), then fixed.
    expect(heading(page)).to_have_text("Choose a password")
    check_a11y(page)
    label(page, "Password").fill(PASSWORD)
    label(page, "Confirm password").fill(PASSWORD + "x")
    button(page, "Continue").click()
    expect(alert(page)).to_contain_text("There is a problem")
    expect(alert(page)).to_contain_text("The two passwords do not match.")
    expect(heading(page)).to_have_text("Choose a password")
    expect(label(page, "Confirm password")).to_have_attribute("aria-invalid", "true")
    check_a11y(page)
    label(page, "Password").fill(PASSWORD)
    label(page, "Confirm password").fill(PASSWORD)
    button(page, "Continue").click()

    # Step 5: the address.
    expect(heading(page)).to_have_text("Your address")
    check_a11y(page)
    label(page, "Address line 1").fill("1 Pool Lane")
    label(page, "Town or city").fill("Springfield")
    label(page, "County, state or region").fill("Somewhere")
    label(page, "Postal code").fill("12345")
    label(page, "Country").fill("US")
    button(page, "Continue").click()

    # Step 6: review and the 18+ confirmation.
    expect(heading(page)).to_have_text("Check your answers")
    expect(page.locator("dl.review")).to_contain_text(email)
    check_a11y(page)
    label(page, "I confirm that I am 18 or older").check()
    button(page, "Create account").click()

    # The policies step: the required policy, accepted.
    expect(page).to_have_url(re.compile(r"/policies$"))
    expect(heading(page)).to_have_text("Family policies")
    expect(page.get_by_role("region", name=policy["title"])).to_be_visible()
    check_a11y(page)
    screenshot(page, "policies")
    label(page, f"I accept {policy['title']}").check()
    button(page, "Accept").click()

    # The family page: the new family, its primary guardian.
    expect(page).to_have_url(FAMILY_URL)
    expect(page.get_by_text("You are the primary guardian (full access).")).to_be_visible()
    expect(access(page)).to_have_text("full access")
    expect(page.get_by_text("Gina Guardian")).to_be_visible()
    expect(page.get_by_text("Accept the family's policies first.")).to_have_count(0)
    check_a11y(page)


# ---------------------------------------------------------------------------------------------
# 2. Sign-in and the family switcher.

def test_sign_in_and_switch_family(page, mode, tenant, base_url):
    account = tenant["account"]
    # Gus is the primary of his own family and a secondary (view only) of Paula's.
    gus_email = f"gus@{account}.test"
    api_guardian(account, gus_email, "Gus", "Grey")
    paula = api_guardian(account, f"paula@{account}.test", "Paula", "Pike")
    call("POST", f"/a/{account}/portal/invitations", {"email": gus_email},
         token=paula["token"], expect_status=201)
    link = link_in(latest_mail(gus_email)["body"], "invitation")
    call("POST", f"/a/{account}/portal/invitations/accept",
         {"token": token_of(link), "password": PASSWORD, "age_confirmed": True})

    sign_in(page, base_url, account, gus_email, PASSWORD, a11y=True, shot=True)
    expect(page.get_by_text("You are the primary guardian (full access).")).to_be_visible()
    expect(access(page)).to_have_text("full access")
    expect(page.get_by_role("heading", name="Your other families")).to_be_visible()
    check_a11y(page)

    switch = page.get_by_role("button", name=re.compile(r"^Switch to "))
    expect(switch).to_have_count(1)
    switch.click()

    expect(page).to_have_url(re.compile(r"/family\?notice=switched$"))
    expect(page.get_by_role("status")).to_contain_text("You switched to this family.")
    expect(page.get_by_text("You have view-only access.")).to_be_visible()
    expect(access(page)).to_have_text("view only")
    expect(page.get_by_text("Paula Pike")).to_be_visible()
    # View only: none of the primary's parts.
    expect(button(page, "Send invitation")).to_have_count(0)
    # And back again is offered.
    expect(page.get_by_role("button", name=re.compile(r"^Switch to "))).to_have_count(1)
    check_a11y(page)


# ---------------------------------------------------------------------------------------------
# 3. Forgot password and reset from the mailed link.

def test_forgot_and_reset_from_mailed_link(page, mode, tenant, base_url):
    account = tenant["account"]
    email = f"rita@{account}.test"
    api_guardian(account, email, "Rita", "Reset")

    open_sign_in(page, base_url, account, a11y=True)
    page.get_by_role("link", name="Forgot your password?").click()
    expect(heading(page)).to_have_text("Forgot your password?")
    check_a11y(page)
    label(page, "Email").fill(email)
    button(page, "Send reset link").click()
    expect(page.get_by_role("status")).to_contain_text("a link to reset the password is on its way")
    check_a11y(page)

    link = link_in(latest_mail(email)["body"], "reset-password")
    page.goto(link)
    assert "token=" not in page.url, page.url
    expect(page).to_have_url(re.compile(r"/reset-password$"))
    expect(heading(page)).to_have_text("Choose a new password")
    check_a11y(page)
    label(page, "New password").fill(NEW_PASSWORD)
    label(page, "Confirm new password").fill(NEW_PASSWORD)
    button(page, "Set new password").click()

    expect(page.get_by_role("status")).to_contain_text("Your password has been changed")
    check_a11y(page)
    page.get_by_role("link", name="Sign in", exact=True).click()
    expect(heading(page)).to_have_text("Sign in")
    submit_sign_in(page, email, NEW_PASSWORD)
    expect(page).to_have_url(FAMILY_URL)
    expect(access(page)).to_have_text("full access")
    check_a11y(page)


# ---------------------------------------------------------------------------------------------
# 4. Invitations: accepted with a new login and with an existing one.

def invite_from_family_page(page, base_url, account, primary_email, invitee_email, *,
                            a11y: bool, shot: bool = False) -> str:
    """The primary signs in and invites from the family page; returns the mailed link."""
    sign_in(page, base_url, account, primary_email, PASSWORD, a11y=a11y)
    if a11y:
        check_a11y(page)
    expect(page.get_by_text("No invitations are waiting for an answer.")).to_be_visible()
    label(page, "Email").fill(invitee_email)
    button(page, "Send invitation").click()
    expect(page).to_have_url(re.compile(r"/family\?notice=invited$"))
    expect(page.get_by_role("status")).to_contain_text("The invitation was sent.")
    pending = page.locator("li", has_text=invitee_email)
    expect(pending).to_be_visible()
    expect(pending.get_by_role("button", name="Resend")).to_be_visible()
    expect(pending.get_by_role("button", name="Cancel")).to_be_visible()
    if a11y:
        check_a11y(page)
    if shot:
        screenshot(page, "family")
    return link_in(latest_mail(invitee_email)["body"], "invitation")


def test_invitation_accept_with_new_login(page, new_page, mode, tenant, base_url):
    account = tenant["account"]
    primary_email = f"pam@{account}.test"
    invitee_email = long_email("nina.featherstonehaughsmythe", account)
    api_guardian(account, primary_email, "Pam", "Primary")
    link = invite_from_family_page(page, base_url, account, primary_email, invitee_email,
                                   a11y=True, shot=True)

    invitee = new_page(mode)
    invitee.goto(link)
    assert "token=" not in invitee.url, invitee.url
    expect(heading(invitee)).to_have_text("Invitation to a family account")
    expect(invitee.get_by_role("heading", name="Create your login")).to_be_visible()
    check_a11y(invitee)
    label(invitee, "First name").fill("Nina")
    label(invitee, "Last name").fill("Newcomer")
    label(invitee, "Password").fill(PASSWORD)
    label(invitee, "Confirm password").fill(PASSWORD)
    label(invitee, "I confirm that I am 18 or older").check()
    button(invitee, "Accept the invitation").click()

    expect(invitee).to_have_url(re.compile(r"/family\?notice=accepted$"))
    expect(invitee.get_by_role("status")).to_contain_text("You accepted the invitation.")
    expect(invitee.get_by_text("You have view-only access.")).to_be_visible()
    expect(access(invitee)).to_have_text("view only")
    expect(invitee.get_by_text("Pam Primary")).to_be_visible()
    check_a11y(invitee)

    # The primary now sees Nina among the people with view-only access.
    page.reload()
    expect(page.get_by_text(invitee_email)).to_be_visible()
    expect(page.get_by_role("button", name="Revoke access")).to_have_count(1)


def test_invitation_accept_with_existing_login(page, new_page, mode, tenant, base_url):
    account = tenant["account"]
    primary_email = f"pam@{account}.test"
    invitee_email = f"ed@{account}.test"
    api_guardian(account, primary_email, "Pam", "Primary")
    api_guardian(account, invitee_email, "Ed", "Existing")
    link = invite_from_family_page(page, base_url, account, primary_email, invitee_email,
                                   a11y=False)

    invitee = new_page(mode)
    invitee.goto(link)
    assert "token=" not in invitee.url, invitee.url
    expect(invitee.get_by_role("heading", name="Accept with your login")).to_be_visible()
    expect(label(invitee, "First name")).to_have_count(0)
    expect(label(invitee, "Confirm password")).to_have_count(0)
    check_a11y(invitee)
    # A wrong password is refused in words and does not use the link up.
    label(invitee, "Password").fill(WRONG_PASSWORD)
    label(invitee, "I confirm that I am 18 or older").check()
    button(invitee, "Accept the invitation").click()
    expect(alert(invitee)).to_contain_text("That is not the password of this login.")
    expect(label(invitee, "Password")).to_have_attribute("aria-invalid", "true")
    expect(label(invitee, "I confirm that I am 18 or older")).to_be_checked()
    check_a11y(invitee)
    label(invitee, "Password").fill(PASSWORD)
    button(invitee, "Accept the invitation").click()

    expect(invitee).to_have_url(re.compile(r"/family\?notice=accepted$"))
    expect(invitee.get_by_role("status")).to_contain_text("You accepted the invitation.")
    expect(invitee.get_by_text("You have view-only access.")).to_be_visible()
    expect(access(invitee)).to_have_text("view only")
    expect(invitee.get_by_text("Pam Primary")).to_be_visible()
    # Ed's own family is one switch away.
    expect(invitee.get_by_role("button", name=re.compile(r"^Switch to "))).to_have_count(1)
    check_a11y(invitee)


# ---------------------------------------------------------------------------------------------
# 5. Change password, signed out, sign in with the new one.

def test_change_password_then_sign_in(page, mode, tenant, base_url):
    account = tenant["account"]
    email = f"cody@{account}.test"
    api_guardian(account, email, "Cody", "Change")

    sign_in(page, base_url, account, email, PASSWORD, a11y=True)
    check_a11y(page)
    page.get_by_role("link", name="Change password").click()
    expect(heading(page)).to_have_text("Change password")
    check_a11y(page)
    label(page, "Current password").fill(PASSWORD)
    label(page, "New password").fill(NEW_PASSWORD)
    label(page, "Confirm new password").fill(NEW_PASSWORD)
    button(page, "Change password").click()

    # Every session ended, this one too: back to sign in, told why.
    expect(page).to_have_url(re.compile(r"/sign-in\?changed=1$"))
    expect(page.get_by_role("status")).to_contain_text("Your password has been changed.")
    check_a11y(page)
    page.goto(f"{base_url}/a/{account}/family")
    expect(page).to_have_url(re.compile(r"/sign-in"))

    # The old password no longer works; the new one does.
    submit_sign_in(page, email, PASSWORD)
    expect(alert(page)).to_contain_text("The email, username or password is not correct.")
    submit_sign_in(page, email, NEW_PASSWORD)
    expect(page).to_have_url(FAMILY_URL)
    expect(access(page)).to_have_text("full access")


# ---------------------------------------------------------------------------------------------
# 6. The lockout message.

def test_lockout_after_five_wrong_passwords(page, mode, tenant, base_url):
    account = tenant["account"]
    email = f"lou@{account}.test"
    api_guardian(account, email, "Lou", "Locked")

    open_sign_in(page, base_url, account, a11y=True)
    for attempt in range(5):
        submit_sign_in(page, email, WRONG_PASSWORD)
        expect(alert(page)).to_contain_text("The email, username or password is not correct.")
        if attempt == 0:
            check_a11y(page)
        # The email stays typed in; the password never comes back.
        expect(label(page, "Email")).to_have_value(email)
        expect(label(page, "Password")).to_have_value("")

    # The sixth attempt, even with the right password, is locked out.
    submit_sign_in(page, email, PASSWORD)
    expect(alert(page)).to_contain_text("locked for 15 minutes")
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    check_a11y(page)

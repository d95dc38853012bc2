"""Staff in a real browser: sign-in, the Terms & Conditions step (newsletter unticked), the home
page with the missing-settings warning, change password, sign out, and the reset of a staff
member's forgotten password from the mailed link. Each flow runs as desktop, without JavaScript
and at 375 px; every page is checked by axe and guarded against CSP violations."""

import re

from playwright.sync_api import expect

from harness import api, check_a11y, create_tenant, latest_mail, link_in, screenshot

NEW_PASSWORD = "N3w-Owner!pw"


def sign_in(page, base_url, account, username, password):
    page.goto(f"{base_url}/a/{account}/staff-sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_staff_sign_in_terms_and_the_missing_settings_warning(page, base_url, account):
    # A readable business name: this flow's screenshots are the README's.
    tenant = create_tenant(account, business_name="Splash Swim School")
    page.goto(f"{base_url}/a/{account}/staff-sign-in")
    expect(page.get_by_text(tenant["business_name"])).to_be_visible()
    check_a11y(page)
    screenshot(page, "staff-sign-in")

    # A wrong password: said in words, announced, the username kept.
    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password", exact=True).fill("Not-The-Pass1!")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not correct")
    expect(page.get_by_label("Username")).to_have_value("owner")
    check_a11y(page)

    page.get_by_label("Password", exact=True).fill(tenant["owner"]["password"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/terms$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Terms & Conditions")
    newsletter = page.get_by_label("Send me the newsletter")
    expect(newsletter).not_to_be_checked()
    check_a11y(page)
    screenshot(page, "terms")
    page.get_by_role("button", name="Accept the terms").click()

    page.wait_for_url(re.compile(r"/staff-home$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Olive")
    warning = page.get_by_role("region", name="Some business settings are missing")
    for setting in ("Business email", "Location email", "Location phone"):
        expect(warning).to_contain_text(setting)
    check_a11y(page)
    screenshot(page, "staff-home")

    # Signed out: the home sends the visitor back to sign in.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/staff-sign-in\?signed_out=1$"))
    expect(page.get_by_role("status")).to_contain_text("signed out")
    page.goto(f"{base_url}/a/{account}/staff-home")
    expect(page).to_have_url(re.compile(r"/staff-sign-in\?ended=1$"))


def test_staff_change_password_signs_everyone_out(page, base_url, tenant):
    account = tenant["account"]
    sign_in(page, base_url, account, "owner", tenant["owner"]["password"])
    page.wait_for_url(re.compile(r"/terms$"))
    page.get_by_role("button", name="Accept the terms").click()
    page.wait_for_url(re.compile(r"/staff-home$"))
    page.get_by_role("link", name="Change password").click()
    page.wait_for_url(re.compile(r"/change-password$"))
    check_a11y(page)

    page.get_by_label("Current password").fill(tenant["owner"]["password"])
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill("Something-Else1!")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match")
    check_a11y(page)

    page.get_by_label("Current password").fill(tenant["owner"]["password"])
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url(re.compile(r"/staff-sign-in\?changed=1$"))
    expect(page.get_by_role("status")).to_contain_text("password has been changed")

    sign_in(page, base_url, account, "owner", NEW_PASSWORD)
    page.wait_for_url(re.compile(r"/staff-home$"))


def test_a_staff_member_resets_a_forgotten_password_from_the_mail(page, base_url, tenant):
    account = tenant["account"]
    owner = api("POST", f"/a/{account}/staff/login",
                {"username": "owner", "password": tenant["owner"]["password"]})["token"]
    _accept_terms(account, owner)
    _create_staff(account, owner, "fred", "fred@desk.test", "Fr0nt-Desk!x")

    page.goto(f"{base_url}/a/{account}/staff-sign-in")
    page.get_by_role("link", name="Forgot your password?").click()
    page.wait_for_url(re.compile(r"/forgot-password\?for=staff$"))
    check_a11y(page)
    page.get_by_label("Username").fill("fred")
    page.get_by_role("button", name="Send reset link").click()
    expect(page.get_by_role("status")).to_contain_text("on its way")

    link = link_in(latest_mail("fred@desk.test")["body"], "reset-password")
    page.goto(link)
    # Landing keeps the token in the flow and drops it from the address (and history).
    page.wait_for_url(re.compile(r"/reset-password$"))
    assert "token=" not in page.url
    check_a11y(page)
    page.get_by_label("New password", exact=True).fill("N3w-Desk!pw")
    page.get_by_label("Confirm new password").fill("N3w-Desk!pw")
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_role("status")).to_contain_text("password has been changed")
    page.get_by_role("link", name="Sign in").click()

    sign_in(page, base_url, account, "fred", "N3w-Desk!pw")
    page.wait_for_url(re.compile(r"/terms$"))


def _accept_terms(account, token):
    api("POST", f"/a/{account}/staff/terms/accept", {"version": "2026-01"}, token=token)


def _create_staff(account, token, username, email, password):
    api("POST", f"/a/{account}/office/staff", {
        "username": username, "first_name": "Fred", "last_name": "Desk", "email": email,
        "password": password, "advanced_permissions": {"families": "view"},
    }, token=token)

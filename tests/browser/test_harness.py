"""Self-tests of the browser harness: they need no portal page, only Chromium, a tiny local
site (http.server on 127.0.0.1) and portal-local's dev API."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import expect

from harness import (
    CHROMIUM,
    SCREENSHOTS,
    PageGuard,
    api,
    axe_violations,
    check_a11y,
    clear_outbox,
    code_in,
    create_tenant,
    is_csp_violation,
    latest_mail,
    link_in,
    outbox,
    screenshot,
    unique_account,
)

# The pages' own policy, as the portal will send it.
STRICT_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
              "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
GOOD = '<html lang="en"><head><title>t</title></head><body><main><h1>Hi</h1></main></body></html>'
BAD = ('<html lang="en"><head><title>t</title></head><body><main><h1>Hi</h1>'
       '<form method="post"><input name="q"></form></main></body></html>')

SITE = {
    # path: (status, content type, body, extra headers)
    "/good": (200, "text/html; charset=utf-8", GOOD, [("Content-Security-Policy", STRICT_CSP)]),
    "/bad": (200, "text/html; charset=utf-8", BAD, [("Content-Security-Policy", STRICT_CSP)]),
    "/inline-script": (
        200, "text/html; charset=utf-8",
        '<!doctype html><html lang="en"><head><title>t</title></head><body>'
        '<script>document.title = "ran"</script></body></html>',
        [("Content-Security-Policy", "default-src 'none'")],
    ),
    "/inline-style": (
        200, "text/html; charset=utf-8",
        '<!doctype html><html lang="en"><head><title>t</title>'
        '<link rel="stylesheet" href="/site.css"></head><body><main>'
        '<p style="color: red">styled</p></main></body></html>',
        [("Content-Security-Policy", STRICT_CSP)],
    ),
    "/throws": (
        200, "text/html; charset=utf-8",
        '<!doctype html><html lang="en"><head><title>t</title>'
        '<script src="/throw.js"></script></head><body></body></html>',
        [("Content-Security-Policy", STRICT_CSP)],
    ),
    "/modes": (
        200, "text/html; charset=utf-8",
        '<!doctype html><html lang="en"><head><title>no js</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="stylesheet" href="/site.css"><script src="/mark.js" defer></script></head>'
        '<body><main><h1>Modes</h1><p>A page served by the harness self-test.</p></main></body></html>',
        [("Content-Security-Policy", STRICT_CSP)],
    ),
    "/form": (
        200, "text/html; charset=utf-8",
        '<!doctype html><html lang="en"><head><title>form</title></head><body><main><h1>Form</h1>'
        '<form method="post" action="/submitted"><label for="name">Name</label>'
        '<input id="name" name="name" autocomplete="name" required>'
        '<label><input type="checkbox" name="agree" value="yes"> I agree</label>'
        '<button type="submit">Send</button></form></main></body></html>',
        [("Content-Security-Policy", STRICT_CSP)],
    ),
    "/site.css": (200, "text/css", "body { font-family: sans-serif; margin: 2rem; color: #222 }", []),
    "/mark.js": (200, "text/javascript", 'document.title = "js ran";', []),
    "/throw.js": (200, "text/javascript", 'throw new Error("boom from throw.js");', []),
    "/set-cookie": (
        200, "text/html; charset=utf-8", "<title>set</title>set",
        [("Set-Cookie", "__Host-x=1; Secure; HttpOnly; SameSite=Lax; Path=/")],
    ),
}


class Site:
    def __init__(self):
        self.hits: Counter = Counter()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                site.hits[path] += 1
                if path == "/echo-cookie":
                    entry = (200, "text/html; charset=utf-8",
                             "<title>echo</title><pre>" + (self.headers.get("Cookie") or "") + "</pre>", [])
                else:
                    entry = SITE.get(path, (404, "text/plain", "not found", []))
                status, ctype, body, headers = entry
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                path = self.path.split("?", 1)[0]
                site.hits[path] += 1
                length = int(self.headers.get("Content-Length") or 0)
                fields = self.rfile.read(length).decode()
                data = (f'<!doctype html><html lang="en"><head><title>submitted</title></head>'
                        f'<body><main><h1>Thanks</h1><p id="posted">{html.escape(fields)}</p>'
                        f'</main></body></html>').encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Security-Policy", STRICT_CSP)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def site():
    with Site() as s:
        yield s


# --- the browser ------------------------------------------------------------------------------

def test_browser_is_debian_chromium(browser):
    out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, check=True).stdout
    version = re.search(r"\d+\.\d+\.\d+\.\d+", out).group(0)
    assert CHROMIUM == "/usr/bin/chromium"
    assert browser.version == version, (browser.version, out)


def test_modes(page, mode, site):
    page.goto(site.url + "/modes")
    page.wait_for_load_state("load")
    assert page.title() == ("no js" if mode == "nojs" else "js ran")
    width = page.viewport_size["width"]
    assert width == (375 if mode == "mobile" else 1280)
    # Read from the DOM (no timers needed, so this also works with JS off).
    assert page.evaluate("window.innerWidth") == width
    assert page.evaluate("navigator.maxTouchPoints > 0") == (mode == "mobile")
    path = screenshot(page, "harness modes")
    assert path == SCREENSHOTS / f"harness-modes-{mode}.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_forms_work_in_every_mode(page, mode, site):
    """Playwright's fill/check/click and expect() work with JavaScript off too: a plain form
    POST, then the answer page (checked by axe as it stands, without a second request)."""
    page.goto(site.url + "/form")
    page.get_by_label("Name").fill("Ada")
    page.get_by_label("I agree").check()
    page.get_by_role("button", name="Send").click()
    page.wait_for_url("**/submitted")
    expect(page.locator("#posted")).to_have_text("name=Ada&agree=yes")
    posts = site.hits["/submitted"]
    check_a11y(page)
    assert site.hits["/submitted"] == posts


# --- the CSP guard ----------------------------------------------------------------------------

@pytest.mark.parametrize("js, path", [(True, "/inline-script"), (True, "/inline-style"),
                                      (False, "/inline-style")])
def test_csp_guard_records_violations(browser, site, js, path):
    context = browser.new_context(java_script_enabled=js)
    try:
        page = context.new_page()
        guard = PageGuard.attach(page)
        page.goto(site.url + path)
        page.wait_for_load_state("load")
        page.wait_for_timeout(100)
        assert guard.csp_violations(), guard.console
        assert all(is_csp_violation(v) for v in guard.csp_violations())
        assert "Content Security Policy" in guard.csp_violations()[0]
        with pytest.raises(AssertionError, match="CSP violation"):
            guard.check()
        if path == "/inline-script":
            assert page.title() == "t"  # and the script was really blocked
    finally:
        context.close()


def test_csp_guard_records_page_errors(browser, site):
    context = browser.new_context()
    try:
        page = context.new_page()
        guard = PageGuard.attach(page)
        page.goto(site.url + "/throws")
        page.wait_for_load_state("load")
        page.wait_for_timeout(100)
        assert guard.errors and "boom from throw.js" in guard.errors[0], guard.errors
        assert not guard.csp_violations()
        with pytest.raises(AssertionError, match="page error"):
            guard.check()
    finally:
        context.close()


@pytest.mark.modes("desktop")
def test_demo_guard_failure(page, site):
    """Only run by test_guard_fails_a_test, in a child pytest: must fail through the guard."""
    if os.environ.get("HARNESS_GUARD_DEMO") != "1":
        pytest.skip("run by test_guard_fails_a_test")
    page.goto(site.url + "/inline-script")
    page.wait_for_load_state("load")
    page.wait_for_timeout(100)


def test_guard_fails_a_test():
    """The `page` fixture's guard turns a passing test body into a failure on a CSP violation."""
    here = Path(__file__)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", f"{here}::test_demo_guard_failure", "-q",
         "-p", "no:cacheprovider", "-W", "ignore"],
        cwd=here.parent, env={**os.environ, "HARNESS_GUARD_DEMO": "1"},
        capture_output=True, text=True, timeout=120,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "1 failed" in out and "Content Security Policy" in out, out


# --- accessibility ----------------------------------------------------------------------------

def test_axe_finds_unlabelled_input(page, site):
    page.goto(site.url + "/bad")
    assert "label" in [v["id"] for v in axe_violations(page)]
    with pytest.raises(AssertionError) as failure:
        check_a11y(page)
    message = str(failure.value)
    assert "- label (critical)" in message and "at input" in message, message


def test_axe_passes_a_good_page(page, site):
    page.goto(site.url + "/good")
    check_a11y(page)  # and the guard (after the test) sees no CSP violation from axe


@pytest.mark.modes("nojs")
def test_axe_without_js_replays_the_page_without_asking_the_server(page, site):
    page.goto(site.url + "/bad")
    before = site.hits["/bad"]
    assert [v["id"] for v in axe_violations(page)] == ["label"]
    assert site.hits["/bad"] == before


# --- cookies ----------------------------------------------------------------------------------

@pytest.mark.modes("desktop", "nojs")
def test_secure_host_cookie_over_http_loopback(page, site):
    """Chromium stores `__Host-x=1; Secure; HttpOnly` set by http://127.0.0.1 and sends it back."""
    page.goto(site.url + "/set-cookie")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["__Host-x"]["secure"] and cookies["__Host-x"]["httpOnly"], cookies
    page.goto(site.url + "/echo-cookie")
    assert page.inner_text("pre") == "__Host-x=1"


# --- portal-local -----------------------------------------------------------------------------

def test_create_tenant_and_read_it_back(tenant, base_url):
    assert base_url.startswith("http://127.0.0.1:")
    public = api("GET", f"/a/{tenant['account']}")
    assert public["account"] == tenant["account"]
    assert public["business_name"] == tenant["business_name"]


def test_create_tenant_with_settings():
    account = unique_account("settings")
    create_tenant(account, business_name="Settings Swim", customer_signup_enabled=False)
    public = api("GET", f"/a/{account}")
    assert public["business_name"] == "Settings Swim"
    assert public["customer_signup_enabled"] is False


def test_outbox_helpers():
    clear_outbox()
    assert outbox() == []
    with pytest.raises(AssertionError, match="no email to nobody@x.test"):
        latest_mail("nobody@x.test", timeout=0.2)


def test_mail_parsers(base_url):
    body = (f"Hello,\n\nreset it at {base_url}/a/swim-1/reset-password?token=AbC_d-9.x%2B\n"
            f"(ignore {base_url}/a/swim-1/sign-in)\nYour code: 042917. Order 1234567.")
    assert link_in(body, "reset-password") == f"{base_url}/a/swim-1/reset-password?token=AbC_d-9.x%2B"
    assert link_in(body, "reset").endswith("token=AbC_d-9.x%2B")
    assert code_in(body) == "042917"
    invite = f'<a href="{base_url}/a/gym/invitation?token=t0k">join</a>'
    assert link_in(invite, "invitation") == f"{base_url}/a/gym/invitation?token=t0k"
    with pytest.raises(AssertionError):
        link_in(body, "invitation")
    with pytest.raises(AssertionError):
        link_in("https://elsewhere.test/a/gym/invitation?token=t0k", "invitation")
    with pytest.raises(AssertionError):
        code_in("123456 and 654321")
    # An account name ending in six digits (unique_account's hex can be all digits) is no code.
    assert code_in("Your validation code for swim-197723 swim school is 048774.\n"
                   "— swim-197723 swim school, owner@swim-197723.test") == "048774"


def test_unique_account_names():
    names = {unique_account("A very long test name: with, punctuation!! and more") for _ in range(50)}
    names |= {unique_account("123 starts with digits"), unique_account("")}
    assert len(names) == 52
    for name in names:
        assert re.fullmatch(r"[a-z][a-z0-9-]{1,29}", name), name
        assert not name.endswith("-") and "--" not in name, name

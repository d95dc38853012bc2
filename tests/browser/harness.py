"""Helpers for the browser tests: the dev API of portal-local, mail parsing, accessibility
checks, the CSP guard and screenshots. conftest.py turns them into fixtures and re-exports them,
so a test can `from harness import ...` (or `from conftest import ...`).

Nothing here needs more than the standard library, Playwright and axe-playwright-python.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
import urllib.error
import urllib.request
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR") or ROOT / "target" / "screenshots")
CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"

# Chromium runs as root here (CI too), which needs --no-sandbox.
CHROMIUM_ARGS = ["--no-sandbox"]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 667}
# The three ways a flow runs: a desktop browser, the same without JavaScript (every page must
# work as plain HTML forms), and a phone.
MODES: dict[str, dict] = {
    "desktop": {"viewport": DESKTOP},
    "nojs": {"viewport": DESKTOP, "java_script_enabled": False},
    "mobile": {"viewport": PHONE, "is_mobile": True, "has_touch": True},
}

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

OWNER_PASSWORD = "Sw1m-Sch00l!x"


# ---------------------------------------------------------------------------------------------
# Pages the harness made: their mode, whether JavaScript runs in them.

@dataclass
class PageInfo:
    mode: str
    js: bool


_pages: "weakref.WeakKeyDictionary[object, PageInfo]" = weakref.WeakKeyDictionary()


def remember_page(page, mode: str, js: bool) -> None:
    _pages[page] = PageInfo(mode, js)


def page_info(page) -> PageInfo:
    """The mode of a page made by the harness; a page made otherwise counts as desktop with JS."""
    return _pages.get(page, PageInfo("desktop", True))


# ---------------------------------------------------------------------------------------------
# The CSP guard.

CSP_MARKERS = ("content security policy", "content-security-policy", "refused to")


def is_csp_violation(text: str) -> bool:
    """Chromium reports a CSP violation in the console whether or not the page runs JavaScript:
    "Executing inline script violates the following Content Security Policy directive ..."
    (Chromium 156), "Refused to load the stylesheet ... because it violates ..." (older ones)."""
    lowered = text.lower()
    return any(m in lowered for m in CSP_MARKERS)


@dataclass
class PageGuard:
    """Collects a page's console messages, page errors (uncaught exceptions) and main-document
    responses. `problems()` lists the CSP violations and page errors; the `page` fixture fails
    its test when there are any (see conftest.pytest_runtest_call)."""

    page: object
    console: list = field(default_factory=list)  # (type, text, url)
    errors: list = field(default_factory=list)  # str
    ignored: list = field(default_factory=list)  # console messages during our own axe runs
    documents: list = field(default_factory=list)  # (url, status, headers) of main documents
    paused: int = 0

    @classmethod
    def attach(cls, page) -> "PageGuard":
        guard = cls(page)
        page.on("console", guard._on_console)
        page.on("pageerror", guard._on_pageerror)
        page.on("response", guard._on_response)
        return guard

    def _on_console(self, msg) -> None:
        loc = msg.location or {}
        entry = (msg.type, msg.text, loc.get("url", ""))
        (self.ignored if self.paused else self.console).append(entry)

    def _on_pageerror(self, error) -> None:
        self.errors.append(f"{getattr(error, 'name', '')}: {getattr(error, 'message', error)}")

    def _on_response(self, response) -> None:
        if response.request.is_navigation_request() and response.frame == self.page.main_frame:
            self.documents.append((response.url, response.status, dict(response.headers)))

    def csp_violations(self) -> list[str]:
        return [text for (_type, text, _url) in self.console if is_csp_violation(text)]

    def problems(self) -> list[str]:
        return [f"CSP violation: {t}" for t in self.csp_violations()] + [
            f"page error: {e}" for e in self.errors
        ]

    def check(self) -> None:
        problems = self.problems()
        if problems:
            raise AssertionError(
                f"{len(problems)} problem(s) on {self.page.url}:\n  " + "\n  ".join(problems)
            )

    def last_document_headers(self) -> dict:
        return self.documents[-1][2] if self.documents else {}


_guards: "weakref.WeakKeyDictionary[object, PageGuard]" = weakref.WeakKeyDictionary()


def guard_page(page) -> PageGuard:
    """The guard of a page, attaching one on first use."""
    guard = _guards.get(page)
    if guard is None:
        guard = _guards[page] = PageGuard.attach(page)
    return guard


# ---------------------------------------------------------------------------------------------
# Accessibility.

def axe_violations(page, *, context=None, disable: tuple[str, ...] = ()) -> list[dict]:
    """Runs axe-core (WCAG 2.0/2.1 A and AA, WCAG 2.2 AA rules) on what the page shows now and
    returns its violations.

    Why not bypass_csp: the pages' CSP (`script-src 'self'`) does not stop axe, because
    Playwright's page.evaluate runs through the DevTools protocol (Runtime.evaluate), which a
    page's CSP does not govern. So with JavaScript on, axe runs in the live page itself, under
    its real CSP, and the context never needs bypass_csp=True (which would hide the violations
    the CSP guard is there to catch). The guard is paused while axe runs, so that anything axe
    itself might trip is never blamed on the page.

    With JavaScript off, axe cannot run in the page: evaluate still works, but timers never
    fire, so axe.run() never settles (and evaluate has no timeout). Then the page's DOM, which
    with JS off is exactly the HTML the server sent, is replayed in a separate JavaScript-enabled
    context: same URL, same cookies (storage_state), same viewport, the same CSP header plus
    `script-src 'none'`, the page's own scripts aborted, and the document served from the
    snapshot by a route, so the server sees no second request (a page that answered a POST is
    checked as it was). Stylesheets and images load from the server as before.
    """
    options: dict = {"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]}
    if disable:
        options["rules"] = {rule: {"enabled": False} for rule in disable}
    if page_info(page).js:
        guard = _guards.get(page)
        if guard:
            guard.paused += 1
        try:
            return Axe().run(page, context=context, options=options).response["violations"]
        finally:
            if guard:
                guard.paused -= 1
    return _axe_on_snapshot(page, context, options)


def _axe_on_snapshot(page, context, options) -> list[dict]:
    html = page.content()
    url = page.url.split("#", 1)[0]
    guard = _guards.get(page)
    csp = (guard.last_document_headers() if guard else {}).get("content-security-policy")
    headers = {"content-security-policy": (csp + ", " if csp else "") + "script-src 'none'"}
    browser = page.context.browser
    ctx = browser.new_context(
        storage_state=page.context.storage_state(),
        viewport=page.viewport_size,
        java_script_enabled=True,
    )
    served = False

    def route(route):
        nonlocal served
        req = route.request
        if not served and req.is_navigation_request() and req.url.split("#", 1)[0] == url:
            served = True
            route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html,
                          headers=headers)
        elif req.resource_type == "script" or req.is_navigation_request():
            route.abort()
        else:
            route.continue_()

    try:
        ctx.route("**/*", route)
        snap = ctx.new_page()
        snap.goto(url, wait_until="load")
        return Axe().run(snap, context=context, options=options).response["violations"]
    finally:
        ctx.close()


def format_violations(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v.get('impact')}): {v.get('help')} [{v.get('helpUrl', '')}]")
        for node in v.get("nodes", []):
            target = " ".join(str(t) for t in node.get("target", []))
            lines.append(f"    at {target}: {node.get('html', '')[:160]}")
    return "\n".join(lines)


def check_a11y(page, *, context=None, disable: tuple[str, ...] = ()) -> None:
    """Fails (AssertionError) listing every axe violation: rule id, impact, target nodes.
    `context` narrows axe to part of the page (an axe context, e.g. "main");
    `disable` turns off rules by id, for a documented exception."""
    violations = axe_violations(page, context=context, disable=disable)
    if violations:
        raise AssertionError(
            f"{len(violations)} accessibility violation(s) on {page.url} "
            f"({page_info(page).mode}):\n{format_violations(violations)}"
        )


# ---------------------------------------------------------------------------------------------
# Screenshots.

def screenshot(page, name: str) -> Path:
    """Writes target/screenshots/<name>-<mode>.png (the full page) and returns its path."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "page"
    path = SCREENSHOTS / f"{safe}-{page_info(page).mode}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


# ---------------------------------------------------------------------------------------------
# portal-local's dev API.

def base_url() -> str:
    url = os.environ.get("PORTAL_BASE_URL")
    if not url:
        raise RuntimeError("PORTAL_BASE_URL is not set: run the browser tests with scripts/test-browser")
    return url.rstrip("/")


class ApiError(AssertionError):
    def __init__(self, method: str, url: str, status: int, body: str):
        super().__init__(f"{method} {url} -> {status}: {body[:2000]}")
        self.status, self.body = status, body


def api(method: str, path: str, body=None, *, expect: int | tuple[int, ...] | None = None,
        token: str | None = None):
    """One request to portal-local (path relative to PORTAL_BASE_URL), with a bearer `token` if
    given; returns the decoded JSON (None for an empty body). Raises ApiError on an unexpected
    status (default: any non-2xx)."""
    url = base_url() + path
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode(errors="replace")
    ok = (status in ((expect,) if isinstance(expect, int) else expect)) if expect else 200 <= status < 300
    if not ok:
        raise ApiError(method, url, status, text)
    return json.loads(text) if text.strip() else None


_ACCOUNT = re.compile(r"^[a-z][a-z0-9-]{1,29}$")


def unique_account(hint: str = "t") -> str:
    """A fresh account name: lower-case letters, digits and '-', starting with a letter, at most
    30 characters, e.g. `sign-in-works-3f9a2c`."""
    slug = re.sub(r"[^a-z0-9]+", "-", hint.lower()).strip("-")
    slug = re.sub(r"^[^a-z]+", "", slug) or "t"
    name = f"{slug[:23].rstrip('-')}-{secrets.token_hex(3)}"
    assert _ACCOUNT.match(name), name
    return name


def create_tenant(account: str | None = None, *, business_name: str | None = None,
                  owner: dict | None = None, **settings) -> dict:
    """POST /_dev/tenants (201). Keyword arguments other than business_name and owner are the
    tenant's settings (e.g. customer_signup_enabled=False, sms_enabled=True, sms_credits=10).
    Returns {"account", "business_name", "owner": {...with the password}, "owner_staff_id"}."""
    account = account or unique_account()
    business_name = business_name or f"{account} swim school"
    owner = {
        "username": "owner",
        "password": OWNER_PASSWORD,
        "first_name": "Olive",
        "last_name": "Owner",
        "email": f"owner@{account}.test",
        **(owner or {}),
    }
    body = {"account": account, "business_name": business_name, "owner": owner}
    if settings:
        body["settings"] = settings
    created = api("POST", "/_dev/tenants", body, expect=201)
    return {"account": account, "business_name": business_name, "owner": owner,
            "owner_staff_id": created.get("owner_staff_id")}


def outbox() -> list[dict]:
    """Every message portal-local has 'sent': {"channel", "to", "subject", "body", "sent_at"}
    (and "html" for mail that has one), oldest first."""
    return api("GET", "/_dev/outbox")["messages"]


def clear_outbox() -> None:
    api("DELETE", "/_dev/outbox", expect=204)


def latest_mail(to: str, *, channel: str | None = "email", timeout: float = 5.0) -> dict:
    """The newest message to `to` (mail by default; channel="sms" or None for any), waiting up
    to `timeout` seconds for one to arrive."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in outbox()
                 if m.get("to") == to and (channel is None or m.get("channel") == channel)]
        if found:
            return found[-1]
        if time.monotonic() >= deadline:
            seen = sorted({(m.get("channel"), m.get("to")) for m in outbox()})
            raise AssertionError(f"no {channel or 'message'} to {to} in the outbox; it has: {seen}")
        time.sleep(0.1)


LINK_KINDS = {"reset": "reset-password", "reset-password": "reset-password",
              "invitation": "invitation", "invite": "invitation"}


def link_in(body: str, kind: str) -> str:
    """The one `<base>/a/<account>/reset-password?token=...` (kind "reset-password" or "reset")
    or `.../invitation?token=...` (kind "invitation") link in a message body."""
    path = LINK_KINDS[kind]
    pattern = re.compile(
        re.escape(base_url()) + r"/a/[a-z0-9][a-z0-9-]*/" + re.escape(path) + r"\?token=[^\s\"'<>)\]]+"
    )
    links = sorted(set(pattern.findall(body)))
    if len(links) != 1:
        raise AssertionError(f"expected one {path} link to {base_url()} in the message, found {links}:\n{body}")
    return links[0].rstrip(".,;")


def code_in(body: str) -> str:
    """The only 6-digit number in a message body that stands alone: digits joined to a name by
    a letter, digit, '_' or '-' (an account like `swim-197723`, which unique_account makes
    about one time in seventeen, and mail names the business by it) are not a code."""
    codes = sorted(set(re.findall(r"(?<![\w-])\d{6}(?![\w-])", body)))
    if len(codes) != 1:
        raise AssertionError(f"expected one 6-digit code in the message, found {codes}:\n{body}")
    return codes[0]

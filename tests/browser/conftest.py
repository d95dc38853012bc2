"""Fixtures for the browser tests (run them with scripts/test-browser).

- `base_url`: portal-local's address (PORTAL_BASE_URL, set by scripts/test-browser).
- `browser`: one headless Debian Chromium (/usr/bin/chromium) for the session.
- `mode`: "desktop" (1280x800), "nojs" (the same with JavaScript off) or "mobile" (375x667,
  touch). A test that uses `page` or `mode` runs once per mode; `@pytest.mark.modes("desktop")`
  narrows that.
- `page`: a fresh context and page in that mode, watched by the CSP guard: the test fails if
  the page logged a CSP violation or threw an uncaught error. `new_page(mode=...)` makes more
  (another person in the same flow, say), guarded the same way.
- `account`: a fresh account name for this test; `tenant`: a tenant created under it.

Helpers (from harness.py, re-exported here): check_a11y(page), screenshot(page, name),
create_tenant(account, **settings), outbox(), clear_outbox(), latest_mail(to), link_in(body,
kind), code_in(body), api(method, path, body), unique_account(hint).

Accessibility: check_a11y runs axe-core in the live page through page.evaluate, which the
page's CSP does not govern, so no context ever uses bypass_csp=True and the guard still sees
every violation; for JavaScript-off pages it replays the page's DOM in a separate
JavaScript-enabled context. harness.axe_violations explains both.

Secure cookies: Chromium counts http://127.0.0.1 as a secure context, so it stores a
`__Host-...; Secure` cookie set by portal-local over plain HTTP and sends it back; no flag is
needed (test_harness.py checks this stays true).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from harness import (  # noqa: F401  (re-exported for the tests)
    CHROMIUM,
    CHROMIUM_ARGS,
    MODES,
    OWNER_PASSWORD,
    PageGuard,
    api,
    axe_violations,
    base_url as _base_url,
    check_a11y,
    clear_outbox,
    code_in,
    create_tenant,
    guard_page,
    is_csp_violation,
    latest_mail,
    link_in,
    outbox,
    remember_page,
    screenshot,
    unique_account,
)

ALL_MODES = list(MODES)
_GUARDS = pytest.StashKey[list]()


def pytest_generate_tests(metafunc):
    if "mode" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("modes")
        modes = list(marker.args) if marker else ALL_MODES
        unknown = set(modes) - set(MODES)
        if unknown:
            raise pytest.UsageError(f"unknown mode(s) {sorted(unknown)}; known: {ALL_MODES}")
        metafunc.parametrize("mode", modes)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After a test body passes, fail it if a guarded page saw a CSP violation or a page error."""
    result = yield
    problems = []
    for guard in item.stash.get(_GUARDS, []):
        problems += [f"{guard.page.url}: {p}" for p in guard.problems()]
    if problems:
        raise AssertionError("the browser reported:\n  " + "\n  ".join(problems))
    return result


@pytest.fixture(scope="session")
def base_url() -> str:
    return _base_url()


@pytest.fixture(scope="session")
def playwright():
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright):
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def new_page(browser, request):
    """new_page(mode="desktop", **context_options) -> a guarded page in a fresh context."""
    contexts = []
    guards = request.node.stash.setdefault(_GUARDS, [])

    def make(mode: str = "desktop", **options):
        settings = {**MODES[mode], **options}
        context = browser.new_context(**settings)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        remember_page(page, mode, settings.get("java_script_enabled", True))
        guards.append(guard_page(page))
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page, mode):
    return new_page(mode)


@pytest.fixture
def account(request) -> str:
    return unique_account(request.node.originalname or request.node.name)


@pytest.fixture
def tenant(account) -> dict:
    return create_tenant(account)

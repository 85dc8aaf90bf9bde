"""The ``zuora`` connection form in a real browser: Airflow's UI in Debian's headless Chromium.

A real ``airflow api-server`` (SQLite, temporary AIRFLOW_HOME, 127.0.0.1) and the emulator: log
in, Admin > Connections > Add Connection, pick "Zuora", check what the form shows (labels,
placeholders, descriptions, the Environment dropdown, the masked secret), fill it in, save, read
the connection back with the CLI, edit it without touching the secret, then
``airflow connections test`` it against the emulator. The browser reaches only loopback: every
request of the page goes through a route that refuses any other host.

Screenshots of the form go to the test's tmp dir; ``ZUORA_UPDATE_SCREENSHOT=1`` also rewrites
``docs/connection-form.png`` (the form as the README shows it, filled with example values).
Needs ``playwright`` (the Python package) and Debian's Chromium, ``chromium`` on the PATH (``make
browser`` installs it; never ``playwright install``), or ``ZUORA_CHROMIUM=/path``. Without them the
test is skipped, or fails under ``CI=true``.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_provider_zuora.environments import ENVIRONMENTS
from airflow_provider_zuora.get_provider_info import get_provider_info
from airflow_provider_zuora.testing.emulator import ZuoraEmulator
from tests.stack.airflow_stack import AIRFLOW, REPO, AirflowStack

try:
    from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright
except ImportError as err:  # the `chromium` fixture reports it
    PLAYWRIGHT_MISSING: str | None = str(err)
else:
    PLAYWRIGHT_MISSING = None

pytestmark = [pytest.mark.production, pytest.mark.stack]

CHROMIUM = os.environ.get("ZUORA_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOT = REPO / "docs" / "connection-form.png"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# Any HTTP(S) a child process sends off loopback goes to a dead loopback proxy instead.
NO_INTERNET = {
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost,::1",
}
CONN_ID = "zuora_ui"
TIMEOUT_MS = 30_000


def _conn_type() -> dict[str, Any]:
    (conn,) = get_provider_info()["connection-types"]
    return conn


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Headless Debian Chromium through playwright; missing: a failure under CI=true, else a skip."""
    problem = None
    if PLAYWRIGHT_MISSING:
        problem = f"the playwright package is not installed ({PLAYWRIGHT_MISSING}); pip install playwright"
    elif not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        problem = f"no Chromium at {CHROMIUM}: apt-get install chromium, or set ZUORA_CHROMIUM"
    if problem:
        message = f"THE CONNECTION FORM BROWSER TEST DID NOT RUN: {problem}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def airflow_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:
    """A migrated SQLite DB and ``airflow api-server`` on 127.0.0.1, connection tests enabled."""
    env = {"AIRFLOW__CORE__TEST_CONNECTION": "Enabled", "COLUMNS": "200", **NO_INTERNET}
    stack = AirflowStack(tmp_path_factory.mktemp("airflow-ui"), env)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def page(chromium: Browser, airflow_ui: AirflowStack) -> Iterator[Page]:
    """A tall page (no scrolled dialog) whose requests may reach loopback only."""
    context = chromium.new_context(viewport={"width": 1400, "height": 2000})
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS // 2)  # a busy 2-core machine: 5 s is tight
    refused: list[str] = []

    def loopback_only(route: Any) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.route("**/*", loopback_only)
    try:
        yield context.new_page()
    finally:
        context.close()
    assert refused == [], f"the UI tried to leave loopback: {refused}"


# ---------------------------------------------------------------- helpers
def _url(stack: AirflowStack) -> str:
    return f"http://127.0.0.1:{stack.port}"


def _log_in(page: Page, stack: AirflowStack) -> None:
    passwords = json.loads((stack.home / "simple_auth_manager_passwords.json.generated").read_text())
    page.goto(f"{_url(stack)}/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(passwords["admin"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Admin")).to_be_visible()


def _open_connections(page: Page) -> None:
    page.get_by_role("button", name="Admin").click()
    page.get_by_role("menuitem", name="Connections").click()
    expect(page.get_by_role("button", name="Add Connection")).to_be_visible()


def _add_zuora_dialog(page: Page, conn_id: str) -> Locator:
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Connection ID").fill(conn_id)
    dialog.get_by_role("combobox", name="Connection Type").fill("Zuora")
    page.get_by_role("option", name="Zuora", exact=True).click()
    expect(dialog.locator('input[name="host"]')).to_be_visible()
    return dialog


def _section(dialog: Locator, title: str) -> None:
    """Open one section of the form (opening one closes the others; a click on an open one closes it)."""
    button = dialog.get_by_role("button", name=title, exact=True)
    if button.get_attribute("aria-expanded") != "true":
        button.click()
    expect(button).to_have_attribute("aria-expanded", "true")


def _extra(dialog: Locator, name: str) -> Locator:
    """The form row of extra field ``name``: its label, input and description."""
    return dialog.get_by_role("group").filter(has=dialog.page.locator(f'[name="element_{name}"]')).last


def _extra_input(dialog: Locator, name: str) -> Locator:
    return dialog.locator(f'input[name="element_{name}"]')


def _pick_environment(page: Page, dialog: Locator, name: str) -> list[str]:
    """Choose ``name`` in the Environment dropdown; the texts of all its options."""
    _extra(dialog, "environment").get_by_role("combobox").click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible()
    texts = options.all_inner_texts()
    display = _conn_type()["conn-fields"]["environment"]["schema"]["values_display"]
    page.get_by_role("option", name=display[name], exact=True).click()
    return texts


def _stored(stack: AirflowStack, conn_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The connection as ``airflow connections get -o json`` prints it, and its extra as stored.

    The CLI prints every value as a string (``extra_dejson`` too); ``get_uri`` holds the
    stored extra JSON, with its types.
    """
    (conn,) = stack.cli_json("connections", "get", conn_id)
    extra = json.loads(parse_qs(conn["get_uri"].split("?", 1)[1])["__extra__"][0])
    return conn, extra


_HOOK_PROBE = """
import json, os, sys
from airflow_provider_zuora.hooks.zuora import ZuoraHook
hook = ZuoraHook(sys.argv[1])
cfg = hook.config
ok, message = hook.test_connection()
print("RESULT " + json.dumps({
    "base_url": cfg.base_url, "client_id": cfg.client_id,
    "secret_matches": cfg.client_secret == os.environ["EXPECTED_SECRET"],
    "entity_ids": cfg.entity_ids, "org_ids": cfg.org_ids, "timeout": cfg.timeout,
    "max_attempts": cfg.max_attempts, "ui_url_template": cfg.ui_url_template,
    "ok": ok, "message": message,
}))
"""


def _hook_in_airflow(stack: AirflowStack, conn_id: str, secret: str) -> dict[str, Any]:
    """What ZuoraHook reads from the metadata DB, and its test_connection(), in a child process."""
    env = {**stack.env, "_AIRFLOW_PROCESS_CONTEXT": "server", "EXPECTED_SECRET": secret}  # DB, not SDK
    cmd = [sys.executable, "-c", _HOOK_PROBE, conn_id]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert out.returncode == 0 and lines, out.stdout[-2000:] + out.stderr[-3000:]
    return dict(json.loads(lines[-1].removeprefix("RESULT ")))


def _connections_test(stack: AirflowStack, conn_id: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AIRFLOW, "connections", "test", conn_id], env=stack.env, capture_output=True, text=True, timeout=120
    )


# ---------------------------------------------------------------- what the form shows
def _check_standard_fields(dialog: Locator) -> None:
    behaviour = _conn_type()["ui-field-behaviour"]
    titles, placeholders = behaviour["relabeling"], behaviour["placeholders"]
    for name in ("host", "login", "password"):
        field = dialog.get_by_label(titles[name], exact=True)
        expect(field).to_have_attribute("name", name)
        expect(field).to_have_attribute("placeholder", placeholders[name])
        expect(field).to_have_value("")
    expect(dialog.locator('input[name="password"]')).to_have_attribute("type", "password")
    for hidden in behaviour["hidden-fields"]:  # schema and port
        expect(dialog.locator(f'[name="{hidden}"]')).to_have_count(0)


def _check_extra_fields(dialog: Locator) -> None:
    for name, spec in _conn_type()["conn-fields"].items():
        row = _extra(dialog, name)
        expect(row.locator("label")).to_have_text(spec["label"])
        expect(row.get_by_text(spec["description"], exact=True)).to_be_visible()
        if name != "environment":  # no defaults: every field starts empty
            expect(_extra_input(dialog, name)).to_have_value("")
    expect(_extra(dialog, "environment").get_by_text("Select Value")).to_be_visible()


# ---------------------------------------------------------------- screenshots
def _dialog_shots(page: Page, dialog: Locator, stem: Path) -> tuple[bytes, bytes]:
    """The dialog with Standard Fields open, then its part from Extra Fields down with those open;
    written as ``<stem>-standard.png`` and ``-extra.png``, plus full-page screenshots of both."""
    page.mouse.move(0, 0)  # no hover highlight
    _section(dialog, "Standard Fields")
    expect(dialog.locator('input[name="host"]')).to_be_visible()
    standard = dialog.screenshot(path=f"{stem}-standard.png", animations="disabled")
    page.screenshot(path=f"{stem}-standard-page.png", full_page=True, animations="disabled")
    _section(dialog, "Extra Fields")
    expect(_extra_input(dialog, "org_ids")).to_be_visible()
    expect(dialog.locator('input[name="host"]')).to_be_hidden()
    page.mouse.move(0, 0)
    page.screenshot(path=f"{stem}-extra-page.png", full_page=True, animations="disabled")
    box = dialog.bounding_box()
    top = dialog.get_by_role("button", name="Extra Fields", exact=True).bounding_box()
    assert box and top
    bottom = box["y"] + box["height"]
    clip = {"x": box["x"], "y": top["y"] - 1, "width": box["width"], "height": bottom - top["y"] + 1}
    extra = page.screenshot(path=f"{stem}-extra.png", clip=clip, animations="disabled")
    return standard, extra


def _compose(page: Page, standard: bytes, extra: bytes, path: Path) -> None:
    """One PNG: the dialog, and below it its Extra Fields part, as two cards on a grey ground."""

    def card(png: bytes, pad_top: int) -> str:
        data = base64.b64encode(png).decode()
        return (
            f'<div style="background:#fff;border-radius:10px;overflow:hidden;padding-top:{pad_top}px;'
            f'box-shadow:0 2px 8px rgba(0,0,0,.25)"><img style="display:block" src="data:image/png;'
            f'base64,{data}"></div>'
        )

    page.set_viewport_size({"width": 1000, "height": 600})
    page.set_content(
        '<body style="margin:0"><div id="shot" style="display:flex;flex-direction:column;gap:20px;'
        f'padding:20px;width:fit-content;background:#d4d8de">{card(standard, 0)}{card(extra, 14)}</div>'
        "</body>"
    )
    page.locator("#shot").screenshot(path=str(path), animations="disabled")


def _docs_screenshot(page: Page, out: Path) -> None:
    """The README's picture: a new form filled with example values (never saved)."""
    dialog = _add_zuora_dialog(page, "zuora_default")
    dialog.locator('input[name="login"]').fill("my-oauth-client-id")
    dialog.locator('input[name="password"]').fill("my-oauth-client-secret")
    _section(dialog, "Extra Fields")
    _pick_environment(page, dialog, "US Cloud 2 API Sandbox")
    standard, extra = _dialog_shots(page, dialog, out / "docs")
    _compose(page, standard, extra, out / "connection-form.png")
    SCREENSHOT.write_bytes((out / "connection-form.png").read_bytes())


# ---------------------------------------------------------------- the test
def test_the_connection_form_in_a_browser(
    page: Page, airflow_ui: AirflowStack, zuora_emulator: ZuoraEmulator, tmp_path: Path
) -> None:
    stack, emulator = airflow_ui, zuora_emulator
    secret = emulator.backend.config.client_secret
    _log_in(page, stack)
    _open_connections(page)

    # -- what the new form shows
    dialog = _add_zuora_dialog(page, CONN_ID)
    _check_standard_fields(dialog)
    dialog.locator('input[name="host"]').fill(emulator.base_url)
    dialog.locator('input[name="login"]').fill(emulator.client_id)
    dialog.locator('input[name="password"]').fill(secret)
    expect(dialog.locator('input[name="password"]')).to_have_attribute("type", "password")

    _section(dialog, "Extra Fields")
    _check_extra_fields(dialog)
    options = _pick_environment(page, dialog, "EU API Sandbox")  # the REST endpoint wins over it
    assert options == [f"{name} ({host.removeprefix('https://')})" for name, host in ENVIRONMENTS.items()]
    _extra_input(dialog, "org_ids").fill("O-1,O-2")
    _extra_input(dialog, "timeout").fill("12.5")
    _extra_input(dialog, "max_attempts").fill("3")
    # entity_ids and ui_url_template stay untouched
    _dialog_shots(page, dialog, tmp_path / "filled")

    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    row = page.get_by_role("row").filter(has_text=CONN_ID)
    expect(row).to_be_visible()

    # -- what was stored: every field, typed; untouched ones as null
    conn, extra = _stored(stack, CONN_ID)
    assert (conn["conn_type"], conn["host"], conn["login"], conn["password"]) == (
        "zuora",
        emulator.base_url,
        emulator.client_id,
        secret,
    )
    assert extra == {
        "environment": "EU API Sandbox",
        "entity_ids": None,
        "org_ids": "O-1,O-2",
        "timeout": 12.5,
        "max_attempts": 3,
        "ui_url_template": None,
    }
    assert type(extra["max_attempts"]) is int and type(extra["timeout"]) is float
    assert set(conn["extra_dejson"]) == set(extra)

    # -- the edit form: the secret masked; saved untouched, it is kept
    row.get_by_role("button", name="Edit Connection").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator('input[name="host"]')).to_have_value(emulator.base_url)
    password = dialog.locator('input[name="password"]')
    expect(password).to_have_attribute("type", "password")
    assert password.input_value() in ("***", ""), "the edit form must not show the client secret"
    assert secret not in dialog.inner_html()
    _section(dialog, "Extra Fields")
    expect(_extra_input(dialog, "org_ids")).to_have_value("O-1,O-2")
    expect(_extra_input(dialog, "timeout")).to_have_value("12.5")
    _extra_input(dialog, "entity_ids").fill("E-1")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()

    conn, extra = _stored(stack, CONN_ID)
    assert conn["password"] == secret
    assert extra == {
        "environment": "EU API Sandbox",
        "entity_ids": "E-1",
        "org_ids": "O-1,O-2",
        "timeout": 12.5,
        "max_attempts": 3,
        "ui_url_template": None,
    }

    # -- the hook reads it (REST endpoint over Environment) and its test reaches the emulator
    seen = _hook_in_airflow(stack, CONN_ID, secret)
    assert seen == {
        "base_url": emulator.base_url,
        "client_id": emulator.client_id,
        "secret_matches": True,
        "entity_ids": "E-1",
        "org_ids": "O-1,O-2",
        "timeout": 12.5,
        "max_attempts": 3,
        "ui_url_template": None,
        "ok": True,
        "message": f"Connected to Zuora at {emulator.base_url}: token issued, workflows readable",
    }
    emulator.backend.clear_request_log()
    out = _connections_test(stack, CONN_ID)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Connection success!" in out.stdout
    assert secret not in out.stdout + out.stderr
    assert emulator.backend.requests("POST", "/oauth/token")
    (listing,) = emulator.backend.requests("GET", "/workflows")
    headers = {k.lower(): v for k, v in listing.headers.items()}
    assert (headers["zuora-entity-ids"], headers["zuora-org-ids"]) == ("E-1", "O-1,O-2")

    if os.environ.get("ZUORA_UPDATE_SCREENSHOT") == "1":
        _docs_screenshot(page, tmp_path)

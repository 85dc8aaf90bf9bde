"""The ``zuora`` connection form on every Airflow: the hook's form methods and what Airflow shows.

Airflow 3.2+ builds the form from the provider metadata (``conn-fields``, ``ui-field-behaviour``)
and never calls the hook's methods. Airflow 3.0 and 3.1 call ``ZuoraHook.get_ui_field_behaviour()``
and ``get_connection_form_widgets()``, but only once ``from wtforms import ...`` succeeds; the
api-server's connection-meta endpoint of 3.1 stands in MagicMocks for a missing wtforms/FAB, that of
3.0 does not (so 3.0 without wtforms shows the plain form). What Airflow sees is read in a child
process (ProvidersManager is a singleton, and the endpoint code patches ``sys.modules``), and each
expectation is chosen by what that process finds, not by version strings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from airflow_provider_zuora.environments import ENVIRONMENTS
from airflow_provider_zuora.get_provider_info import get_provider_info
from airflow_provider_zuora.hooks.zuora import ZuoraHook
from tests.helpers import modules_added

FIELD_CLASSES = {
    "environment": "StringField",
    "entity_ids": "StringField",
    "org_ids": "StringField",
    "timeout": "IntegerField",
    "max_attempts": "IntegerField",
    "ui_url_template": "StringField",
}


def _conn_type() -> dict[str, Any]:
    (conn,) = get_provider_info()["connection-types"]
    return conn


def _fields() -> dict[str, Any]:
    return _conn_type()["conn-fields"]


def _expected_behaviour() -> dict[str, Any]:
    behaviour = _conn_type()["ui-field-behaviour"]
    return {
        "hidden_fields": behaviour["hidden-fields"],
        "relabeling": behaviour["relabeling"],
        "placeholders": behaviour["placeholders"],
    }


# ---------------------------------------------------------------- the hook's methods, in process
def test_ui_field_behaviour_is_the_metadata_s() -> None:
    assert ZuoraHook.get_ui_field_behaviour() == _expected_behaviour()
    assert set(ZuoraHook.get_ui_field_behaviour()["hidden_fields"]) == {"schema", "port"}


def test_both_methods_are_on_the_class_itself() -> None:
    """Airflow 3.0/3.1 look them up in ``hook_class.__dict__`` (inherited ones are skipped)."""
    assert "get_ui_field_behaviour" in ZuoraHook.__dict__
    assert "get_connection_form_widgets" in ZuoraHook.__dict__


@pytest.mark.parametrize("missing", ["wtforms", "wtforms.validators"])
def test_form_widgets_without_wtforms_are_empty(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # import raises ImportError, as when not installed
    assert ZuoraHook.get_connection_form_widgets() == {}


def test_importing_the_hook_imports_no_form_library() -> None:
    roots = ("wtforms", "flask_appbuilder", "flask_babel", "flask")
    added = modules_added(
        "import airflow_provider_zuora.hooks.zuora",
        after="import airflow_provider_zuora._compat",
        roots=roots,
    )
    assert added == []


def _check_unbound_fields(widgets: dict[str, Any]) -> None:
    fields = _fields()
    assert list(widgets) == list(fields)
    for name, field in widgets.items():
        spec = fields[name]
        assert type(field).__name__ == "UnboundField", name
        assert field.field_class.__name__ == FIELD_CLASSES[name]
        assert str(field.args[0]) == spec["label"]
        assert field.kwargs["description"] == spec["description"]
        assert field.kwargs["default"] == spec["schema"].get("default")
        assert type(field.kwargs["validators"][0]).__name__ == "Optional", name
    (any_of,) = widgets["environment"].kwargs["validators"][1:]
    assert list(any_of.values) == list(ENVIRONMENTS)


def test_form_widgets_without_fab_use_wtforms_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("wtforms")
    for name in ("flask_appbuilder", "flask_appbuilder.fieldwidgets", "flask_babel"):
        monkeypatch.setitem(sys.modules, name, None)
    widgets = ZuoraHook.get_connection_form_widgets()
    _check_unbound_fields(widgets)
    assert all(field.kwargs["widget"] is None for field in widgets.values())
    assert all(type(field.args[0]) is str for field in widgets.values())


class _FormData(dict):
    def getlist(self, key: str) -> list[str]:
        return [self[key]] if key in self else []


def test_form_widgets_with_wtforms_and_fab_match_the_metadata() -> None:
    pytest.importorskip("wtforms")
    pytest.importorskip("flask_appbuilder")
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from wtforms import Form

    widgets = ZuoraHook.get_connection_form_widgets()
    _check_unbound_fields(widgets)
    assert all(isinstance(field.kwargs["widget"], BS3TextFieldWidget) for field in widgets.values())

    form_class = type("ZuoraForm", (Form,), dict(widgets))
    assert form_class().data == dict.fromkeys(_fields())  # no defaults: untouched fields are None
    good = form_class(formdata=_FormData(environment="EU API Sandbox", timeout="30", max_attempts="3"))
    assert good.validate(), good.errors
    assert (good.data["environment"], good.data["timeout"], good.data["max_attempts"]) == (
        "EU API Sandbox",
        30,
        3,
    )
    assert form_class(formdata=_FormData(environment="", timeout="")).validate()
    bad = form_class(formdata=_FormData(environment="Mars Production", timeout="soon"))
    assert not bad.validate()
    assert set(bad.errors) == {"environment", "timeout"}


# ---------------------------------------------------------------- what Airflow sees (child process)
_PROBE = r"""
import importlib.util, json, sys

def found(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False

facts = {"wtforms": found("wtforms"), "fab": found("flask_appbuilder")}


def describe(info):
    field = info.field
    if isinstance(field, dict):  # 3.2+: conn-fields, already in the API's format
        schema = field["schema"]
        return {"source": "metadata", "name": info.field_name, "label": schema.get("title"),
                "description": field.get("description"), "enum": schema.get("enum"),
                "default": field.get("value")}
    validators = field.kwargs.get("validators", [])  # 3.0/3.1: the hook's wtforms fields
    return {"source": "hook", "name": info.field_name, "class": field.field_class.__name__,
            "label": str(field.args[0]), "description": field.kwargs.get("description"),
            "enum": next((list(v.values) for v in validators if hasattr(v, "values")), None),
            "default": field.kwargs.get("default")}

from airflow_provider_zuora.hooks.zuora import ZuoraHook

calls = []  # which of the hook's form methods Airflow calls (kept in the class __dict__)
for method in ("get_ui_field_behaviour", "get_connection_form_widgets"):
    def traced(cls, _method=method, _real=getattr(ZuoraHook, method)):
        calls.append(_method)
        return _real()
    setattr(ZuoraHook, method, classmethod(traced))

from airflow.providers_manager import ProvidersManager
facts["metadata_path"] = hasattr(ProvidersManager, "_load_ui_metadata")
if sys.argv[1] == "providers_manager":
    pm = ProvidersManager()
    hook = pm.hooks.get("zuora")
    facts["hook"] = None if hook is None else [hook.hook_class_name, hook.hook_name, hook.connection_type]
    facts["behaviour"] = pm.field_behaviours.get("zuora")
    widgets = {}
    for key, info in pm.connection_form_widgets.items():
        if "__zuora__" in key:
            widgets[key] = describe(info)
    facts["widgets"] = widgets
else:  # the code behind the api-server's connection hook-meta endpoint, which the form reads
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
    metas = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "zuora"]
    facts["meta"] = [m.model_dump(mode="json") for m in metas]
    facts["mocked"] = type(sys.modules.get("wtforms")).__name__ == "MagicMock"
facts["calls"] = sorted(set(calls))
print("RESULT:" + json.dumps(facts, default=str))
"""


def _probe(mode: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, mode],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT:")]
    assert lines, out.stdout[-2000:] + out.stderr[-2000:]
    return json.loads(lines[-1].removeprefix("RESULT:"))


@pytest.fixture(scope="module")
def seen_by_providers_manager() -> dict[str, Any]:
    return _probe("providers_manager")


@pytest.fixture(scope="module")
def seen_by_the_ui() -> dict[str, Any]:
    return _probe("ui")


def test_airflow_discovers_the_zuora_hook(seen_by_providers_manager: dict[str, Any]) -> None:
    assert seen_by_providers_manager["hook"] == [
        "airflow_provider_zuora.hooks.zuora.ZuoraHook",
        "Zuora",
        "zuora",
    ]


def test_providers_manager_field_behaviour(seen_by_providers_manager: dict[str, Any]) -> None:
    seen = seen_by_providers_manager
    if seen["metadata_path"] or seen["wtforms"]:  # 3.2+ from the metadata; 3.0/3.1 from the hook
        assert seen["behaviour"] == _expected_behaviour()
        assert set(seen["behaviour"]["hidden_fields"]) == {"schema", "port"}
        assert seen["behaviour"]["relabeling"] == {
            "login": "Client ID",
            "password": "Client Secret",
            "host": "REST endpoint",
        }
    else:  # 3.0/3.1 without wtforms: ProvidersManager stops at its own `from wtforms import`
        assert seen["behaviour"] is None


def test_providers_manager_form_widgets(seen_by_providers_manager: dict[str, Any]) -> None:
    seen, fields = seen_by_providers_manager, _fields()
    if not (seen["metadata_path"] or seen["wtforms"]):
        assert seen["widgets"] == {}
        return
    assert list(seen["widgets"]) == [f"extra__zuora__{name}" for name in fields]
    source = "metadata" if seen["metadata_path"] else "hook"
    for key, widget in seen["widgets"].items():
        name = key.removeprefix("extra__zuora__")
        spec = fields[name]
        assert widget["source"] == source, key
        assert widget["name"] == name  # the UI stores the value as the extra of this very name
        assert (widget["label"], widget["description"]) == (spec["label"], spec["description"])
        assert widget["default"] == spec["schema"].get("default")
        if source == "hook":
            assert widget["class"] == FIELD_CLASSES[name]
    assert seen["widgets"]["extra__zuora__environment"]["enum"] == list(ENVIRONMENTS)


@pytest.mark.parametrize("mode", ["providers_manager", "ui"])
def test_which_airflow_calls_the_hook_form_methods(
    mode: str, seen_by_providers_manager: dict[str, Any], seen_by_the_ui: dict[str, Any]
) -> None:
    seen = seen_by_providers_manager if mode == "providers_manager" else seen_by_the_ui
    both = ["get_connection_form_widgets", "get_ui_field_behaviour"]
    if seen["metadata_path"]:  # 3.2+: the metadata, never the deprecated methods (no warning)
        assert seen["calls"] == []
    elif seen["wtforms"] or seen.get("mocked"):  # 3.0/3.1 once `from wtforms import` works
        assert seen["calls"] == both
    else:  # 3.0/3.1 without wtforms
        assert seen["calls"] == []


def test_what_the_connection_form_shows(seen_by_the_ui: dict[str, Any]) -> None:
    seen, fields = seen_by_the_ui, _fields()
    (meta,) = seen["meta"]
    assert (meta["hook_class_name"], meta["hook_name"]) == (
        "airflow_provider_zuora.hooks.zuora.ZuoraHook",
        "Zuora",
    )
    if not (seen["metadata_path"] or seen["wtforms"] or seen["mocked"]):
        # 3.0 without wtforms: the endpoint mocks only what is installed, ProvidersManager's own
        # `from wtforms import` fails, and the form is the plain one (extras edited as JSON).
        assert meta["standard_fields"] is None
        assert meta["extra_fields"] is None
        return
    standard = meta["standard_fields"]
    assert standard["url_schema"]["hidden"] is True
    assert standard["port"]["hidden"] is True
    placeholders = _conn_type()["ui-field-behaviour"]["placeholders"]
    for name, title in {"host": "REST endpoint", "login": "Client ID", "password": "Client Secret"}.items():
        assert standard[name]["hidden"] is False
        assert (standard[name]["title"], standard[name]["placeholder"]) == (title, placeholders[name])

    extra = meta["extra_fields"]
    assert list(extra) == list(fields)
    for name, param in extra.items():
        spec = fields[name]
        assert param["schema"]["title"] == spec["label"], name
        assert param["description"] == spec["description"], name
        assert "null" in param["schema"]["type"], name  # every extra may stay empty
        assert param["value"] == spec["schema"].get("default"), name
    assert extra["environment"]["schema"]["enum"] == list(ENVIRONMENTS)  # shown as a dropdown
    display = fields["environment"]["schema"]["values_display"]  # each option shows its host
    if seen["metadata_path"]:  # 3.2+ passes the schema on (the browser test sees the options)
        assert extra["environment"]["schema"].get("values_display", display) == display
    assert {n for n in ("timeout", "max_attempts") if "string" in extra[n]["schema"]["type"]} == set()


def test_an_untouched_form_is_a_connection_without_extras(seen_by_the_ui: dict[str, Any]) -> None:
    """The form stores every extra field, untouched ones as their ``value`` (null: no defaults);
    the hook reads that exactly as a connection without extras."""
    from airflow_provider_zuora.hooks._config import config_from_connection

    (meta,) = seen_by_the_ui["meta"]
    if meta["extra_fields"] is None:
        pytest.skip("this Airflow shows no extra fields (the plain form): nothing is stored")
    untouched = {name: param["value"] for name, param in meta["extra_fields"].items()}
    assert untouched == dict.fromkeys(_fields())

    class Conn:
        conn_id, host, schema, port, login, password = "z", "https://rest.zuora.com", None, None, "i", "s"

        def __init__(self, extra: dict[str, Any]) -> None:
            self.extra_dejson = extra

    assert config_from_connection(Conn(untouched)) == config_from_connection(Conn({}))

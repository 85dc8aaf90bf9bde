"""Provider metadata: valid for Airflow, discovered by Airflow, cheap to import."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import jsonschema
import pytest

from airflow_provider_zuora.environments import ENVIRONMENTS, environment_host
from airflow_provider_zuora.get_provider_info import get_provider_info
from tests.helpers import modules_added
from tests.stack.airflow_stack import parse_cli_json

AIRFLOW = Path(sys.executable).with_name("airflow")


def _schema() -> dict:
    import airflow

    return json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())


def test_provider_info_validates_against_airflow_schema() -> None:
    jsonschema.validate(get_provider_info(), _schema())


def test_package_name_is_the_installed_distribution_and_entry_point_points_here() -> None:
    info = get_provider_info()
    dist = metadata.distribution(info["package-name"])
    eps = [ep for ep in dist.entry_points if ep.group == "apache_airflow_provider"]
    assert [ep.value for ep in eps] == ["airflow_provider_zuora.get_provider_info:get_provider_info"]
    assert info["versions"] == [dist.version]


def test_connection_type_declares_the_form() -> None:
    (conn,) = get_provider_info()["connection-types"]
    assert conn["connection-type"] == "zuora"
    assert conn["hook-class-name"] == "airflow_provider_zuora.hooks.zuora.ZuoraHook"
    assert conn["hook-name"] == "Zuora"
    behaviour = conn["ui-field-behaviour"]
    assert set(behaviour["hidden-fields"]) == {"schema", "port"}
    assert behaviour["relabeling"] == {
        "login": "Client ID",
        "password": "Client Secret",
        "host": "REST endpoint",
    }
    fields = conn["conn-fields"]
    assert {"environment", "entity_ids", "org_ids", "timeout"} <= set(fields)
    assert fields["environment"]["schema"]["enum"] == list(ENVIRONMENTS)
    for name, field in fields.items():
        assert field["label"], name
        assert "type" in field["schema"], name


@pytest.mark.parametrize(
    ("name", "host"),
    [
        ("EU API Sandbox", "https://rest.sandbox.eu.zuora.com"),
        ("eu-api-sandbox", "https://rest.sandbox.eu.zuora.com"),
        ("US Developer & Central Sandbox", "https://rest.test.zuora.com"),
        ("us_cloud_2_production", "https://rest.zuora.com"),
        ("Mars Production", None),
    ],
)
def test_environment_names_and_slugs_resolve(name: str, host: str | None) -> None:
    assert environment_host(name) == host


def test_every_environment_host_is_https_and_distinct() -> None:
    hosts = list(ENVIRONMENTS.values())
    assert len(set(hosts)) == len(hosts)
    assert all(h.startswith("https://rest.") and h.endswith(".zuora.com") for h in hosts)


def test_importing_metadata_pulls_in_no_hook_and_no_http_library() -> None:
    imports = "from airflow_provider_zuora.get_provider_info import get_provider_info; get_provider_info()"
    added = modules_added(imports, roots=("requests", "httpx", "airflow", ".hooks"))
    assert added == []


def test_airflow_cli_discovers_the_provider() -> None:
    env = {**os.environ}
    out = subprocess.run(
        [str(AIRFLOW), "providers", "get", "airflow-provider-zuora", "--full", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    (found,) = parse_cli_json(out.stdout)
    assert found["package-name"] == "airflow-provider-zuora"
    assert found["connection-types"][0]["connection-type"] == "zuora"


def _conn_type() -> dict:
    (conn,) = get_provider_info()["connection-types"]
    return conn


def test_connection_type_validates_against_the_provider_yaml_schema() -> None:
    """Airflow 3.2+ documents ``conn-fields`` in provider.yaml.schema.json (older ones do not)."""
    import airflow

    path = Path(airflow.__file__).parent / "provider.yaml.schema.json"
    item = json.loads(path.read_text())["properties"]["connection-types"]["items"] if path.exists() else {}
    if "conn-fields" not in item.get("properties", {}):
        pytest.skip("this Airflow's provider.yaml schema has no conn-fields")
    jsonschema.validate(_conn_type(), item)


def test_no_field_has_a_default_so_an_untouched_one_is_stored_as_null() -> None:
    """Airflow's form stores every field; with a default it would pin today's default in the DB."""
    for name, field in _conn_type()["conn-fields"].items():
        assert "default" not in field["schema"], name
        assert "null" in field["schema"]["type"], name


def test_the_form_names_the_hook_s_defaults() -> None:
    from airflow_provider_zuora.hooks._config import (
        DEFAULT_MAX_ATTEMPTS,
        DEFAULT_TIMEOUT,
        DEFAULT_UI_URL_TEMPLATE,
    )

    fields = _conn_type()["conn-fields"]
    assert fields["timeout"]["description"].endswith(f"(empty: {DEFAULT_TIMEOUT:g}).")
    assert fields["max_attempts"]["description"].endswith(f"(empty: {DEFAULT_MAX_ATTEMPTS}).")
    assert f"Empty: {DEFAULT_UI_URL_TEMPLATE} (unverified)." in fields["ui_url_template"]["description"]


def test_the_url_template_description_names_every_placeholder_the_hook_fills() -> None:
    from airflow_provider_zuora.hooks._config import ZuoraConfig

    filled: dict[str, object] = {}

    class Spy(str):
        def format(self, *args: object, **kwargs: object) -> str:
            filled.update(kwargs)
            return ""

    ZuoraConfig("c", "https://rest.zuora.com", "id", "s", ui_url_template=Spy("x")).ui_url(1)
    description = _conn_type()["conn-fields"]["ui_url_template"]["description"]
    placeholders = dict.fromkeys(re.findall(r"\{(\w+)\}", description))
    assert list(placeholders) == ["host", "base_url", "instance_id"]
    assert set(placeholders) == set(filled)


def test_rest_endpoint_and_environment_each_say_or_the_other() -> None:
    conn = _conn_type()
    behaviour, environment = conn["ui-field-behaviour"], conn["conn-fields"]["environment"]
    host = behaviour["placeholders"]["host"]  # a standard field has no description: the placeholder
    assert host.startswith("https://") and "or empty to use Environment" in host
    assert "http:// only on loopback" in host  # what resolve_base_url enforces
    assert environment["label"] == "Environment (or REST endpoint)"
    assert "used when REST endpoint (Standard Fields) is empty" in environment["description"]
    assert conn["conn-fields"]["entity_ids"]["label"] == "Entity IDs"  # the header takes ids


def test_the_environment_dropdown_shows_each_host() -> None:
    schema = _conn_type()["conn-fields"]["environment"]["schema"]
    assert schema["enum"] == list(ENVIRONMENTS)  # the stored value stays the name
    assert schema["values_display"] == {
        name: f"{name} ({host.removeprefix('https://')})" for name, host in ENVIRONMENTS.items()
    }

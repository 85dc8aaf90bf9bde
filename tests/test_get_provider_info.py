"""Provider metadata: valid for Airflow, discovered by Airflow, cheap to import."""

from __future__ import annotations

import json
import os
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

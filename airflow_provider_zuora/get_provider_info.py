"""Provider metadata: what Airflow discovers through the ``apache_airflow_provider`` entry point.

Imports nothing heavy (no hook, no requests, no httpx): every Airflow process that lists
providers calls it.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_zuora import __version__
from airflow_provider_zuora.environments import ENVIRONMENTS

INTEGRATION = "Zuora Workflow"
_STR = ["string", "null"]


def get_provider_info() -> dict[str, Any]:
    """Return the provider info dict (validated by Airflow's provider_info.schema.json)."""
    return {
        "package-name": "airflow-provider-zuora",
        "name": "Zuora",
        "description": "Run Zuora workflows from Airflow, wait for them and see why they failed.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://developer.zuora.com/v1-api-reference/api/tag/Workflows/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {"integration-name": INTEGRATION, "python-modules": ["airflow_provider_zuora.hooks.zuora"]}
        ],
        "operators": [
            {"integration-name": INTEGRATION, "python-modules": ["airflow_provider_zuora.operators.workflow"]}
        ],
        "sensors": [
            {"integration-name": INTEGRATION, "python-modules": ["airflow_provider_zuora.sensors.workflow"]}
        ],
        "triggers": [
            {"integration-name": INTEGRATION, "python-modules": ["airflow_provider_zuora.triggers.workflow"]}
        ],
        "extra-links": ["airflow_provider_zuora.links.ZuoraWorkflowInstanceLink"],
        "connection-types": [
            {
                "connection-type": "zuora",
                "hook-class-name": "airflow_provider_zuora.hooks.zuora.ZuoraHook",
                "hook-name": "Zuora",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {
                        "login": "Client ID",
                        "password": "Client Secret",
                        "host": "REST endpoint",
                    },
                    "placeholders": {
                        "login": "OAuth client ID",
                        "password": "OAuth client secret",
                        "host": "https://rest.zuora.com, or empty to use Environment "
                        "(http:// only on loopback)",
                        "extra": '{"environment": "US Cloud 2 API Sandbox"}',
                    },
                },
                # No field has a default: Airflow's form stores every field, an untouched one as null,
                # which the hook reads as absent, so the hook's own defaults apply (the descriptions
                # name them; tests/test_get_provider_info.py checks them against hooks/_config.py).
                "conn-fields": {
                    "environment": {
                        "label": "Environment (or REST endpoint)",
                        "description": "A named Zuora REST host, used when REST endpoint (Standard Fields) "
                        "is empty; a REST endpoint, when set, wins.",
                        "schema": {
                            "type": _STR,
                            "enum": list(ENVIRONMENTS),
                            "values_display": {
                                name: f"{name} ({host.removeprefix('https://')})"
                                for name, host in ENVIRONMENTS.items()
                            },
                        },
                    },
                    "entity_ids": {
                        "label": "Entity IDs",
                        "description": "Zuora-Entity-Ids header, sent as typed (Multi-entity tenants only).",
                        "schema": {"type": _STR},
                    },
                    "org_ids": {
                        "label": "Org IDs",
                        "description": "Zuora-Org-Ids header: comma-separated (Multi-Org tenants only).",
                        "schema": {"type": _STR},
                    },
                    "timeout": {
                        "label": "Request timeout (s)",
                        "description": "Read timeout of each HTTP request, in seconds (empty: 60).",
                        "schema": {"type": ["number", "null"]},
                    },
                    "max_attempts": {
                        "label": "Attempts per request",
                        "description": "Tries for 429/5xx/network errors, with jittered backoff between "
                        "(empty: 5).",
                        "schema": {"type": ["integer", "null"]},
                    },
                    "ui_url_template": {
                        "label": "Workflow run URL template",
                        "description": "Link to a run in Zuora's UI. Placeholders: {host} (the web UI, "
                        "e.g. https://apisandbox.zuora.com), {base_url} (the REST base URL), {instance_id}. "
                        "Empty: {host}/workflows/instances/{instance_id} (unverified).",
                        "schema": {"type": _STR},
                    },
                },
            }
        ],
    }

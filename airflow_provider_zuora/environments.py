"""Zuora's named REST hosts, for the connection form's ``environment`` dropdown.

Pure data, no imports: provider discovery and the connection form read it.
Source: the SDK's ``ZuoraEnvironment`` (see docs/zuora-api.md, "Hosts and environments").
"""

from __future__ import annotations

import re

ENVIRONMENTS: dict[str, str] = {
    "US Cloud 2 Production": "https://rest.zuora.com",
    "US Cloud 2 API Sandbox": "https://rest.apisandbox.zuora.com",
    "US Cloud 1 Production": "https://rest.na.zuora.com",
    "US Cloud 1 API Sandbox": "https://rest.sandbox.na.zuora.com",
    "US Developer & Central Sandbox": "https://rest.test.zuora.com",
    "EU Production": "https://rest.eu.zuora.com",
    "EU API Sandbox": "https://rest.sandbox.eu.zuora.com",
    "EU Developer & Central Sandbox": "https://rest.test.eu.zuora.com",
    "APAC Production": "https://rest.ap.zuora.com",
    "APAC Developer & Central Sandbox": "https://rest.test.ap.zuora.com",
}


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


_BY_SLUG = {_slug(name): host for name, host in ENVIRONMENTS.items()}


def environment_host(name: str) -> str | None:
    """Return the REST host of a named environment, or None.

    Accepts the dropdown label ("EU API Sandbox") or its slug ("eu-api-sandbox"), any case.
    """
    return _BY_SLUG.get(_slug(name))

"""The Zuora connection form for Airflow 3.0 and 3.1, which ask the hook class for it.

Airflow 3.2+ builds the form from the provider metadata (``get_provider_info``: ``conn-fields``,
``ui-field-behaviour``) and never calls these. Both are derived from that same metadata, so every
Airflow shows the same fields, labels and descriptions.
"""

from __future__ import annotations

from typing import Any


def _json_type(schema: dict[str, Any]) -> str:
    """The JSON type of a ``conn-fields`` schema, ``null`` left out (``string`` when none is given)."""
    types = schema.get("type", "string")
    return next((t for t in ([types] if isinstance(types, str) else types) if t != "null"), "string")


def ui_field_behaviour() -> dict[str, Any]:
    """Hidden, relabelled and placeholder standard fields of the form, for Airflow 3.0 and 3.1.

    Read from the provider metadata's ``ui-field-behaviour`` (what Airflow 3.2+ uses instead
    of this method), so both say the same; only the key ``hidden-fields`` is respelled.
    """
    from airflow_provider_zuora.get_provider_info import get_provider_info

    (conn,) = get_provider_info()["connection-types"]
    behaviour = conn["ui-field-behaviour"]
    return {
        "hidden_fields": list(behaviour.get("hidden-fields", [])),
        "relabeling": dict(behaviour.get("relabeling", {})),
        "placeholders": dict(behaviour.get("placeholders", {})),
    }


def connection_form_widgets() -> dict[str, Any]:
    """The form's extra fields for Airflow 3.0 and 3.1: one per ``conn-fields`` entry of the metadata.

    Needs ``wtforms``: without it this is ``{}`` and the extras are edited as JSON (Airflow 3.2+
    reads ``conn-fields`` and never calls this). Flask-AppBuilder's widgets and
    ``flask_babel`` are used when installed. Airflow 3.0/3.1 accept only String, Integer,
    Password and Boolean fields: ``environment`` is a string field with an ``any_of``
    validator, which Airflow's UI shows as a dropdown, and ``timeout`` an integer field. The UI
    stores each value as the extra of the field's own name, e.g. ``environment``; no field has a
    default, so an untouched one is stored as null, which the hook reads as absent.
    """
    try:
        from wtforms import IntegerField, PasswordField, StringField
        from wtforms.validators import Optional, any_of
    except ImportError:
        return {}
    try:
        from flask_babel import lazy_gettext
    except ImportError:
        lazy_gettext = str
    try:
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    except ImportError:
        BS3PasswordFieldWidget = BS3TextFieldWidget = None

    from airflow_provider_zuora.get_provider_info import get_provider_info

    (conn,) = get_provider_info()["connection-types"]
    widgets: dict[str, Any] = {}
    for name, spec in conn["conn-fields"].items():
        schema = spec.get("schema", {})
        validators = [Optional()]
        if "enum" in schema:
            validators.append(any_of(list(schema["enum"])))
        if schema.get("format") == "password":
            field_class, widget = PasswordField, BS3PasswordFieldWidget
        elif _json_type(schema) in ("integer", "number"):
            field_class, widget = IntegerField, BS3TextFieldWidget
        else:
            field_class, widget = StringField, BS3TextFieldWidget
        widgets[name] = field_class(
            lazy_gettext(spec["label"]),
            validators=validators,
            description=spec.get("description", ""),
            default=schema.get("default"),
            widget=None if widget is None else widget(),
        )
    return widgets

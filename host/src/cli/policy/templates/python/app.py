"""`@NAME@`: members of the groups listed in the settings get what they ask for, for at most
`max_ttl_seconds`; anyone else is not its concern (it abstains, and the rest of the chain
decides).

The component exports the `wicket:policy/evaluator` interface of world `policy` (wit/policy.wit):
class `Evaluator` below. `componentize-py -d wit -w policy bindings <dir>` writes the generated
types (`wit_world`) for an editor.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports.types import (
    AccessRequest,
    Decision,
    Decision_Abstain,
    Decision_Allow,
    Decision_Deny,
    Grant,
    Identity,
    NamespaceGrant,
)

FIELDS = ("groups", "max_ttl_seconds")


class SettingsError(Exception):
    """Settings that cannot be used; the message names the field."""


def parse_settings(text: str) -> dict:
    """The settings, checked: a misspelt or missing field is an error."""
    try:
        value = json.loads(text)
    except ValueError as error:
        raise SettingsError(f"the settings are not JSON: {error}")
    if not isinstance(value, dict):
        raise SettingsError("the settings must be an object")
    for name in value:
        if name not in FIELDS:
            raise SettingsError(f"unknown field `{name}`, expected `groups` or `max_ttl_seconds`")
    for name in FIELDS:
        if name not in value:
            raise SettingsError(f"missing field `{name}`")
    groups = value["groups"]
    if not isinstance(groups, list) or not all(isinstance(group, str) for group in groups):
        raise SettingsError("`groups` must be a list of strings")
    if not groups:
        raise SettingsError("`groups` must not be empty")
    max_ttl = value["max_ttl_seconds"]
    if isinstance(max_ttl, bool) or not isinstance(max_ttl, int) or max_ttl < 0:
        raise SettingsError("`max_ttl_seconds` must be a whole number of seconds")
    if max_ttl == 0:
        raise SettingsError("`max_ttl_seconds` must be more than zero")
    return value


def decide(settings: dict, requester: Identity, request: AccessRequest) -> Decision:
    groups = settings["groups"]
    if not any(group in requester.groups for group in groups):
        listed = ", ".join(f"`{group}`" for group in groups)
        return Decision_Abstain(f"not a member of {listed}")
    # Exactly what was asked, in each namespace, for at most `max_ttl_seconds`.
    return Decision_Allow(
        Grant(
            namespaces=[NamespaceGrant(namespace=ns, access=request.access) for ns in request.namespaces],
            cluster_rules=request.cluster_rules,
            ttl_seconds=min(request.duration_seconds, settings["max_ttl_seconds"]),
        )
    )


class Evaluator(exports.Evaluator):
    def validate_settings(self, settings: str) -> None:
        try:
            parse_settings(settings)
        except SettingsError as error:
            raise Err(f"invalid settings: {error}")

    def evaluate(self, settings: str, requester: Identity, request: AccessRequest) -> Decision:
        # Settings the host accepted are checked again: a problem here is a deny, never an allow.
        try:
            parsed = parse_settings(settings)
        except SettingsError as error:
            return Decision_Deny(f"invalid settings: {error}")
        return decide(parsed, requester, request)

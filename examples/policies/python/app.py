"""The component's exports: the `wicket:policy/evaluator` interface of world `policy`."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports.types import AccessRequest, Decision, Decision_Deny, Identity

from group_access import SettingsError, decide, parse_settings


class Evaluator(exports.Evaluator):
    def validate_settings(self, settings: str) -> None:
        try:
            parse_settings(settings)
        except SettingsError as error:
            raise Err(f"invalid settings: {error}")

    def evaluate(self, settings: str, requester: Identity, request: AccessRequest) -> Decision:
        # Settings the host accepted are checked again: a problem here is a deny, never an allow.
        try:
            entries = parse_settings(settings)
        except SettingsError as error:
            return Decision_Deny(f"invalid settings: {error}")
        return decide(entries, requester, request)

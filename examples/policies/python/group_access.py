"""The rule of `group-access` in Python: the same settings, decisions and messages as the Rust
policy in `policies/group-access` (its README states the semantics).

`parse_settings` turns the settings JSON text into `Entry` objects or raises `SettingsError`;
`decide` is the pure rule. Both work on the WIT types that `componentize-py` generates, so the
module can also be imported by plain Python for quick experiments.
"""

import json
from dataclasses import dataclass
from typing import List

from wit_world.imports.types import (
    AccessRequest,
    Access_Role,
    Access_Rules,
    Decision,
    Decision_Allow,
    Decision_Deny,
    Grant,
    Identity,
    NamespaceGrant,
    Rule,
)


class SettingsError(Exception):
    """The settings are not valid; the message says why."""


ENTRY_FIELDS = ["groups", "clusters", "namespaces", "roles", "rules", "cluster_rules", "max_ttl_seconds"]
RULE_FIELDS = ["api_groups", "resources", "verbs", "resource_names"]
DEFAULT_MAX_TTL = 3600
U64_MAX = 2**64 - 1


@dataclass
class Entry:
    """One entry of `allow`: members of `groups` may ask for this much."""

    groups: List[str]
    clusters: List[str]
    namespaces: List[str]
    roles: List[str]
    rules: List[Rule]
    cluster_rules: List[Rule]
    max_ttl_seconds: int

    def allows_cluster(self, cluster: str) -> bool:
        return any(name_matches(p, cluster) for p in self.clusters)

    def allows_namespace(self, namespace: str) -> bool:
        return any(name_matches(p, namespace) for p in self.namespaces)

    def allows_access(self, access) -> bool:
        if isinstance(access, Access_Role):
            return access.value in self.roles
        return all(is_covered_by(rule, self.rules) for rule in access.value)

    def allows_cluster_rules(self, rules: List[Rule]) -> bool:
        return all(is_covered_by(rule, self.cluster_rules) for rule in rules)


# --- settings -------------------------------------------------------------------------------


def parse_settings(text: str) -> List[Entry]:
    """Parses and checks the settings; raises `SettingsError` with the reason."""
    try:
        value = json.loads(text)
    except ValueError as error:
        raise SettingsError(f"the settings are not JSON: {error}") from None
    if not isinstance(value, dict):
        raise SettingsError("the settings must be an object with `allow`")
    check_fields(value, ["allow"])
    if "allow" not in value:
        raise SettingsError("missing field `allow`")
    if not isinstance(value["allow"], list):
        raise SettingsError("`allow` must be a list of entries")
    entries = []
    for index, item in enumerate(value["allow"]):
        try:
            entry = parse_entry(item)
            validate_entry(entry)
        except SettingsError as error:
            raise SettingsError(f"`allow[{index}]`: {error}") from None
        entries.append(entry)
    return entries


def check_fields(value: dict, known: List[str]) -> None:
    for name in value:
        if name not in known:
            expected = ", ".join(f"`{k}`" for k in known)
            raise SettingsError(f"unknown field `{name}`, expected one of {expected}")


def strings(value: dict, name: str, required: bool) -> List[str]:
    if name not in value:
        if required:
            raise SettingsError(f"missing field `{name}`")
        return []
    items = value[name]
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise SettingsError(f"`{name}` must be a list of strings")
    return items


def parse_rule(value, where: str) -> Rule:
    # Like the Rust policy, unknown fields of a rule are ignored.
    if not isinstance(value, dict):
        raise SettingsError(f"`{where}` must be an object")
    return Rule(
        api_groups=strings(value, "api_groups", True),
        resources=strings(value, "resources", True),
        verbs=strings(value, "verbs", True),
        resource_names=strings(value, "resource_names", False),
    )


def rules(value: dict, name: str) -> List[Rule]:
    items = value.get(name, [])
    if not isinstance(items, list):
        raise SettingsError(f"`{name}` must be a list of rules")
    return [parse_rule(item, f"{name}[{i}]") for i, item in enumerate(items)]


def parse_entry(value) -> Entry:
    if not isinstance(value, dict):
        raise SettingsError("an entry must be an object")
    check_fields(value, ENTRY_FIELDS)
    ttl = value.get("max_ttl_seconds", DEFAULT_MAX_TTL)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= U64_MAX:
        raise SettingsError("`max_ttl_seconds` must be a whole number of seconds")
    return Entry(
        groups=strings(value, "groups", True),
        clusters=strings(value, "clusters", True),
        namespaces=strings(value, "namespaces", False),
        roles=strings(value, "roles", False),
        rules=rules(value, "rules"),
        cluster_rules=rules(value, "cluster_rules"),
        max_ttl_seconds=ttl,
    )


def validate_entry(entry: Entry) -> None:
    if not entry.groups:
        raise SettingsError("`groups` is empty")
    for group in entry.groups:
        if not group:
            raise SettingsError(f"`groups` holds an empty name `{group}`")
    if not entry.clusters:
        raise SettingsError("`clusters` is empty")
    for pattern in entry.clusters + entry.namespaces:
        body = pattern[:-1] if pattern.endswith("*") else pattern
        if not pattern or "*" in body:
            raise SettingsError(f"`{pattern}` is not a name or a pattern (`*` only at the end)")
    if not entry.namespaces and not entry.cluster_rules:
        raise SettingsError("the entry allows neither namespaces nor cluster rules")
    if entry.namespaces and not entry.roles and not entry.rules:
        raise SettingsError("`namespaces` are listed but neither `roles` nor `rules`")
    for role in entry.roles:
        if not role or "*" in role:
            raise SettingsError(f"`roles` holds `{role}`: roles are exact names")
    for rule in entry.rules + entry.cluster_rules:
        if not rule.api_groups or not rule.resources or not rule.verbs:
            raise SettingsError(f"rule `{show_rule(rule)}` has an empty list")
    if entry.max_ttl_seconds == 0:
        raise SettingsError("`max_ttl_seconds` must be more than zero")


# --- names and rules ------------------------------------------------------------------------


def name_matches(pattern: str, name: str) -> bool:
    """`prefix*` matches names starting with `prefix`; anything else matches itself."""
    if pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    return pattern == name


def list_covers(allowed: List[str], asked: List[str]) -> bool:
    if "*" in allowed:
        return True
    return bool(asked) and all(a in allowed for a in asked)


def covers(allowed: Rule, asked: Rule) -> bool:
    """Whether `asked` is the same as or narrower than `allowed`."""
    return (
        list_covers(allowed.api_groups, asked.api_groups)
        and list_covers(allowed.resources, asked.resources)
        and list_covers(allowed.verbs, asked.verbs)
        and (
            not allowed.resource_names
            or (bool(asked.resource_names) and list_covers(allowed.resource_names, asked.resource_names))
        )
    )


def is_covered_by(rule: Rule, allowed: List[Rule]) -> bool:
    return any(covers(a, rule) for a in allowed)


def show_rule(rule: Rule) -> str:
    """`get,list on core,apps/pods [web]`, as in deny reasons."""
    groups = ",".join(g or "core" for g in rule.api_groups)
    text = f"{','.join(rule.verbs)} on {groups}/{','.join(rule.resources)}"
    if rule.resource_names:
        text += f" [{','.join(rule.resource_names)}]"
    return text


def quoted(names: List[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


# --- the rule -------------------------------------------------------------------------------


def decide(entries: List[Entry], identity: Identity, request: AccessRequest) -> Decision:
    """Allows exactly what is asked when one entry of one of the requester's groups covers all of
    it, for the requested duration capped at the largest `max_ttl_seconds` of the covering
    entries; otherwise denies, naming the first part of the request no entry covers."""
    mine = [e for e in entries if any(g in identity.groups for g in e.groups)]
    if not mine:
        return Decision_Deny("none of your groups is allowed any access")
    cluster = request.cluster
    on_cluster = [e for e in mine if e.allows_cluster(cluster)]
    if not on_cluster:
        return Decision_Deny(f"your groups may not request access to cluster `{cluster}`")
    for namespace in request.namespaces:
        if not any(e.allows_namespace(namespace) for e in on_cluster):
            return Decision_Deny(
                f"namespace `{namespace}` on cluster `{cluster}` is not allowed for your groups"
            )
    ttls = [e.max_ttl_seconds for e in on_cluster if entry_covers(e, request)]
    if not ttls:
        return Decision_Deny(uncovered(on_cluster, request))
    grant = Grant(
        namespaces=[NamespaceGrant(namespace=ns, access=request.access) for ns in request.namespaces],
        cluster_rules=request.cluster_rules,
        ttl_seconds=min(request.duration_seconds, max(ttls)),
    )
    return Decision_Allow(grant)


def entry_covers(entry: Entry, request: AccessRequest) -> bool:
    return (
        all(entry.allows_namespace(ns) for ns in request.namespaces)
        and (not request.namespaces or entry.allows_access(request.access))
        and entry.allows_cluster_rules(request.cluster_rules)
    )


def uncovered(on_cluster: List[Entry], request: AccessRequest) -> str:
    """Why no entry covers the request, given that each of its namespaces is allowed by some entry."""
    cluster = request.cluster
    namespaces = request.namespaces
    all_namespaces = [e for e in on_cluster if all(e.allows_namespace(ns) for ns in namespaces)]
    if not all_namespaces:
        return (
            f"no single grant of your groups covers all of namespaces {quoted(namespaces)} "
            f"on cluster `{cluster}`; ask for them separately"
        )
    if namespaces and not any(e.allows_access(request.access) for e in all_namespaces):
        access = request.access
        if isinstance(access, Access_Role):
            what = f"role `{access.value}` is"
        else:
            names = [
                f"`{show_rule(r)}`"
                for r in access.value
                if not any(is_covered_by(r, e.rules) for e in all_namespaces)
            ]
            what = f"rules {', '.join(names)} are" if names else "these rules together are"
        return f"{what} not allowed for your groups in namespaces {quoted(namespaces)} on cluster `{cluster}`"
    names = [
        f"`{show_rule(r)}`"
        for r in request.cluster_rules
        if not any(is_covered_by(r, e.cluster_rules) for e in all_namespaces)
    ]
    if not names:
        return (
            "no single grant of your groups covers both the namespaced access and the cluster "
            f"rules asked for on cluster `{cluster}`"
        )
    return f"cluster rules {', '.join(names)} are not allowed for your groups on cluster `{cluster}`"

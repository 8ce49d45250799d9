// `group-access` in JavaScript: the same settings, decisions and messages as the Rust policy in
// `policies/group-access` (its README states the semantics).
//
// The component exports the `wicket:policy/evaluator` interface of world `policy`. WIT records are
// objects with camelCase keys, variants are `{ tag, val }`, `u64` is a number, and a function
// returning `result<_, string>` returns normally or throws the error string.

const ENTRY_FIELDS = ["groups", "clusters", "namespaces", "roles", "rules", "cluster_rules", "max_ttl_seconds"];
const DEFAULT_MAX_TTL = 3600;

class SettingsError extends Error {}

// --- settings ------------------------------------------------------------------------------

function parseSettings(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SettingsError(`the settings are not JSON: ${error.message}`);
  }
  if (!isObject(value)) {
    throw new SettingsError("the settings must be an object with `allow`");
  }
  checkFields(value, ["allow"]);
  if (!("allow" in value)) {
    throw new SettingsError("missing field `allow`");
  }
  if (!Array.isArray(value.allow)) {
    throw new SettingsError("`allow` must be a list of entries");
  }
  return value.allow.map((item, index) => {
    try {
      const entry = parseEntry(item);
      validateEntry(entry);
      return entry;
    } catch (error) {
      if (error instanceof SettingsError) {
        throw new SettingsError(`\`allow[${index}]\`: ${error.message}`);
      }
      throw error;
    }
  });
}

function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function checkFields(value, known) {
  for (const name of Object.keys(value)) {
    if (!known.includes(name)) {
      const expected = known.map((k) => `\`${k}\``).join(", ");
      throw new SettingsError(`unknown field \`${name}\`, expected one of ${expected}`);
    }
  }
}

function strings(value, name, required) {
  if (!(name in value)) {
    if (required) {
      throw new SettingsError(`missing field \`${name}\``);
    }
    return [];
  }
  const items = value[name];
  if (!Array.isArray(items) || !items.every((i) => typeof i === "string")) {
    throw new SettingsError(`\`${name}\` must be a list of strings`);
  }
  return items;
}

// Like the Rust policy, unknown fields of a rule are ignored.
function parseRule(value, where) {
  if (!isObject(value)) {
    throw new SettingsError(`\`${where}\` must be an object`);
  }
  return {
    apiGroups: strings(value, "api_groups", true),
    resources: strings(value, "resources", true),
    verbs: strings(value, "verbs", true),
    resourceNames: strings(value, "resource_names", false),
  };
}

function rules(value, name) {
  const items = name in value ? value[name] : [];
  if (!Array.isArray(items)) {
    throw new SettingsError(`\`${name}\` must be a list of rules`);
  }
  return items.map((item, i) => parseRule(item, `${name}[${i}]`));
}

function parseEntry(value) {
  if (!isObject(value)) {
    throw new SettingsError("an entry must be an object");
  }
  checkFields(value, ENTRY_FIELDS);
  const ttl = "max_ttl_seconds" in value ? value.max_ttl_seconds : DEFAULT_MAX_TTL;
  if (!Number.isSafeInteger(ttl) || ttl < 0) {
    throw new SettingsError("`max_ttl_seconds` must be a whole number of seconds");
  }
  return {
    groups: strings(value, "groups", true),
    clusters: strings(value, "clusters", true),
    namespaces: strings(value, "namespaces", false),
    roles: strings(value, "roles", false),
    rules: rules(value, "rules"),
    clusterRules: rules(value, "cluster_rules"),
    maxTtlSeconds: ttl,
  };
}

function validateEntry(entry) {
  if (entry.groups.length === 0) {
    throw new SettingsError("`groups` is empty");
  }
  for (const group of entry.groups) {
    if (group === "") {
      throw new SettingsError(`\`groups\` holds an empty name \`${group}\``);
    }
  }
  if (entry.clusters.length === 0) {
    throw new SettingsError("`clusters` is empty");
  }
  for (const pattern of [...entry.clusters, ...entry.namespaces]) {
    const body = pattern.endsWith("*") ? pattern.slice(0, -1) : pattern;
    if (pattern === "" || body.includes("*")) {
      throw new SettingsError(`\`${pattern}\` is not a name or a pattern (\`*\` only at the end)`);
    }
  }
  if (entry.namespaces.length === 0 && entry.clusterRules.length === 0) {
    throw new SettingsError("the entry allows neither namespaces nor cluster rules");
  }
  if (entry.namespaces.length > 0 && entry.roles.length === 0 && entry.rules.length === 0) {
    throw new SettingsError("`namespaces` are listed but neither `roles` nor `rules`");
  }
  for (const role of entry.roles) {
    if (role === "" || role.includes("*")) {
      throw new SettingsError(`\`roles\` holds \`${role}\`: roles are exact names`);
    }
  }
  for (const rule of [...entry.rules, ...entry.clusterRules]) {
    if (rule.apiGroups.length === 0 || rule.resources.length === 0 || rule.verbs.length === 0) {
      throw new SettingsError(`rule \`${showRule(rule)}\` has an empty list`);
    }
  }
  if (entry.maxTtlSeconds === 0) {
    throw new SettingsError("`max_ttl_seconds` must be more than zero");
  }
}

// --- names and rules -----------------------------------------------------------------------

// `prefix*` matches names starting with `prefix`; anything else matches itself.
function nameMatches(pattern, name) {
  return pattern.endsWith("*") ? name.startsWith(pattern.slice(0, -1)) : pattern === name;
}

function listCovers(allowed, asked) {
  if (allowed.includes("*")) {
    return true;
  }
  return asked.length > 0 && asked.every((a) => allowed.includes(a));
}

// Whether `asked` is the same as or narrower than `allowed`.
function covers(allowed, asked) {
  return (
    listCovers(allowed.apiGroups, asked.apiGroups) &&
    listCovers(allowed.resources, asked.resources) &&
    listCovers(allowed.verbs, asked.verbs) &&
    (allowed.resourceNames.length === 0 ||
      (asked.resourceNames.length > 0 && listCovers(allowed.resourceNames, asked.resourceNames)))
  );
}

function isCoveredBy(rule, allowed) {
  return allowed.some((a) => covers(a, rule));
}

// `get,list on core,apps/pods [web]`, as in deny reasons.
function showRule(rule) {
  const groups = rule.apiGroups.map((g) => g || "core").join(",");
  let text = `${rule.verbs.join(",")} on ${groups}/${rule.resources.join(",")}`;
  if (rule.resourceNames.length > 0) {
    text += ` [${rule.resourceNames.join(",")}]`;
  }
  return text;
}

function quoted(names) {
  return names.map((n) => `\`${n}\``).join(", ");
}

const allowsCluster = (entry, cluster) => entry.clusters.some((p) => nameMatches(p, cluster));
const allowsNamespace = (entry, namespace) => entry.namespaces.some((p) => nameMatches(p, namespace));

function allowsAccess(entry, access) {
  if (access.tag === "role") {
    return entry.roles.includes(access.val);
  }
  return access.val.every((rule) => isCoveredBy(rule, entry.rules));
}

function entryCovers(entry, request) {
  return (
    request.namespaces.every((ns) => allowsNamespace(entry, ns)) &&
    (request.namespaces.length === 0 || allowsAccess(entry, request.access)) &&
    request.clusterRules.every((rule) => isCoveredBy(rule, entry.clusterRules))
  );
}

// --- the rule ------------------------------------------------------------------------------

const deny = (reason) => ({ tag: "deny", val: reason });

// Allows exactly what is asked when one entry of one of the requester's groups covers all of it,
// for the requested duration capped at the largest `max_ttl_seconds` of the covering entries;
// otherwise denies, naming the first part of the request no entry covers.
function decide(entries, identity, request) {
  const mine = entries.filter((e) => e.groups.some((g) => identity.groups.includes(g)));
  if (mine.length === 0) {
    return deny("none of your groups is allowed any access");
  }
  const cluster = request.cluster;
  const onCluster = mine.filter((e) => allowsCluster(e, cluster));
  if (onCluster.length === 0) {
    return deny(`your groups may not request access to cluster \`${cluster}\``);
  }
  for (const namespace of request.namespaces) {
    if (!onCluster.some((e) => allowsNamespace(e, namespace))) {
      return deny(`namespace \`${namespace}\` on cluster \`${cluster}\` is not allowed for your groups`);
    }
  }
  const ttls = onCluster.filter((e) => entryCovers(e, request)).map((e) => e.maxTtlSeconds);
  if (ttls.length === 0) {
    return deny(uncovered(onCluster, request));
  }
  return {
    tag: "allow",
    val: {
      namespaces: request.namespaces.map((namespace) => ({ namespace, access: request.access })),
      clusterRules: request.clusterRules,
      ttlSeconds: Math.min(request.durationSeconds, Math.max(...ttls)),
    },
  };
}

// Why no entry covers the request, given that each of its namespaces is allowed by some entry.
function uncovered(onCluster, request) {
  const { cluster, namespaces } = request;
  const allNamespaces = onCluster.filter((e) => namespaces.every((ns) => allowsNamespace(e, ns)));
  if (allNamespaces.length === 0) {
    return `no single grant of your groups covers all of namespaces ${quoted(namespaces)} on cluster \`${cluster}\`; ask for them separately`;
  }
  if (namespaces.length > 0 && !allNamespaces.some((e) => allowsAccess(e, request.access))) {
    let what;
    if (request.access.tag === "role") {
      what = `role \`${request.access.val}\` is`;
    } else {
      const names = request.access.val
        .filter((r) => !allNamespaces.some((e) => isCoveredBy(r, e.rules)))
        .map((r) => `\`${showRule(r)}\``);
      what = names.length > 0 ? `rules ${names.join(", ")} are` : "these rules together are";
    }
    return `${what} not allowed for your groups in namespaces ${quoted(namespaces)} on cluster \`${cluster}\``;
  }
  const names = request.clusterRules
    .filter((r) => !allNamespaces.some((e) => isCoveredBy(r, e.clusterRules)))
    .map((r) => `\`${showRule(r)}\``);
  if (names.length === 0) {
    return `no single grant of your groups covers both the namespaced access and the cluster rules asked for on cluster \`${cluster}\``;
  }
  return `cluster rules ${names.join(", ")} are not allowed for your groups on cluster \`${cluster}\``;
}

// --- the exports ---------------------------------------------------------------------------

export const evaluator = {
  validateSettings(settings) {
    try {
      parseSettings(settings);
    } catch (error) {
      throw error instanceof SettingsError ? `invalid settings: ${error.message}` : String(error);
    }
  },

  evaluate(settings, requester, request) {
    // Settings the host accepted are checked again: a problem here is a deny, never an allow.
    let entries;
    try {
      entries = parseSettings(settings);
    } catch (error) {
      return deny(`invalid settings: ${error.message}`);
    }
    return decide(entries, requester, request);
  },
};

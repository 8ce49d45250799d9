// `@NAME@`: members of the groups listed in the settings get what they ask for, for at most
// `max_ttl_seconds`; anyone else is not its concern (it abstains, and the rest of the chain
// decides).
//
// The component exports the `wicket:policy/evaluator` interface of world `policy`
// (wit/policy.wit). WIT records are objects with camelCase keys, variants are `{ tag, val }`,
// `u64` is a number, and a function returning `result<_, string>` returns normally or throws the
// error string. QuickJS is an ES2023 engine without Node or browser APIs (no `console`).

const FIELDS = ["groups", "max_ttl_seconds"];

class SettingsError extends Error {}

// The settings, checked: a misspelt or missing field is an error.
function parseSettings(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SettingsError(`the settings are not JSON: ${error.message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new SettingsError("the settings must be an object");
  }
  for (const name of Object.keys(value)) {
    if (!FIELDS.includes(name)) {
      throw new SettingsError(`unknown field \`${name}\`, expected \`groups\` or \`max_ttl_seconds\``);
    }
  }
  for (const name of FIELDS) {
    if (!(name in value)) {
      throw new SettingsError(`missing field \`${name}\``);
    }
  }
  const groups = value.groups;
  if (!Array.isArray(groups) || !groups.every((group) => typeof group === "string")) {
    throw new SettingsError("`groups` must be a list of strings");
  }
  if (groups.length === 0) {
    throw new SettingsError("`groups` must not be empty");
  }
  const maxTtl = value.max_ttl_seconds;
  if (!Number.isSafeInteger(maxTtl) || maxTtl < 0) {
    throw new SettingsError("`max_ttl_seconds` must be a whole number of seconds");
  }
  if (maxTtl === 0) {
    throw new SettingsError("`max_ttl_seconds` must be more than zero");
  }
  return { groups, maxTtl };
}

function decide(settings, requester, request) {
  if (!settings.groups.some((group) => requester.groups.includes(group))) {
    const listed = settings.groups.map((group) => `\`${group}\``).join(", ");
    return { tag: "abstain", val: `not a member of ${listed}` };
  }
  // Exactly what was asked, in each namespace, for at most `max_ttl_seconds`.
  return {
    tag: "allow",
    val: {
      namespaces: request.namespaces.map((namespace) => ({ namespace, access: request.access })),
      clusterRules: request.clusterRules,
      ttlSeconds: Math.min(request.durationSeconds, settings.maxTtl),
    },
  };
}

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
    let parsed;
    try {
      parsed = parseSettings(settings);
    } catch (error) {
      return { tag: "deny", val: `invalid settings: ${error.message}` };
    }
    return decide(parsed, requester, request);
  },
};

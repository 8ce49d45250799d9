// The rule of `group-access` in C: the same settings, decisions and messages as the Rust policy
// in `policies/group-access` (its README states the semantics). Independent of the generated
// bindings: `policy.c` converts between these types and the WIT ones.
#ifndef WICKET_GROUP_ACCESS_H
#define WICKET_GROUP_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

// A string that is not NUL-terminated (as the canonical ABI passes them).
typedef struct {
  const char *ptr;
  size_t len;
} str;

typedef struct {
  str *items;
  size_t count;
} str_list;

// An RBAC rule, as in the WIT `rule` record.
typedef struct {
  str_list api_groups, resources, verbs, resource_names;
} rule;

typedef struct {
  rule *items;
  size_t count;
} rule_list;

// One entry of `allow`: members of `groups` may ask for this much.
typedef struct {
  str_list groups, clusters, namespaces, roles;
  rule_list rules, cluster_rules;
  uint64_t max_ttl_seconds;
} entry;

// Parsed settings; the strings point into `json`.
typedef struct {
  json_value *json;
  entry *entries;
  size_t count;
} settings;

// What is asked for: a role (`is_role`) or rules.
typedef struct {
  bool is_role;
  str role;
  rule_list rules;
} access;

// The parts of a request the rule looks at.
typedef struct {
  str cluster;
  str_list namespaces;
  access access;
  rule_list cluster_rules;
  uint64_t duration_seconds;
} request;

// Parses and checks settings. On success returns true and fills `out` (free it with
// `settings_free`); otherwise returns false and sets `*error` to a malloc'd message.
bool settings_parse(const char *text, size_t len, settings *out, char **error);
void settings_free(settings *s);

// Frees the arrays of a rule list (not the strings they point to).
void rule_list_free(rule_list *list);

// Decides: returns true and sets `*ttl_seconds` when the request is allowed exactly as asked
// (for at most that long); otherwise returns false and sets `*reason` to a malloc'd message.
bool decide(const settings *s, const str_list *groups, const request *req, uint64_t *ttl_seconds,
            char **reason);

#endif

// The rule of `group-access` in C; see group_access.h.
#include "group_access.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_TTL 3600

// --- messages ------------------------------------------------------------------------------

// A growable, NUL-terminated message. Out of memory aborts: the call traps, which is a deny.
typedef struct {
  char *data;
  size_t len, cap;
} buf;

static void buf_put(buf *b, const char *bytes, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = (b->len + n + 1) * 2;
    char *grown = realloc(b->data, cap);
    if (!grown) abort();
    b->data = grown;
    b->cap = cap;
  }
  memcpy(b->data + b->len, bytes, n);
  b->len += n;
  b->data[b->len] = '\0';
}

// Appends `fmt` with `%s` replaced by a C string, `%S` by a `str`, `%z` by a `size_t`. (Not
// printf: wasi-libc's stdio would make the module import WASI file functions.)
static void buf_add(buf *b, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  for (const char *p = fmt; *p; p++) {
    if (*p != '%' || !p[1]) {
      buf_put(b, p, 1);
      continue;
    }
    p++;
    if (*p == 's') {
      const char *s = va_arg(args, const char *);
      buf_put(b, s, strlen(s));
    } else if (*p == 'S') {
      str s = va_arg(args, str);
      buf_put(b, s.ptr, s.len);
    } else if (*p == 'z') {
      char digits[24];
      size_t v = va_arg(args, size_t), n = sizeof digits;
      do {
        digits[--n] = (char)('0' + v % 10);
        v /= 10;
      } while (v);
      buf_put(b, digits + n, sizeof digits - n);
    } else {
      buf_put(b, p, 1);
    }
  }
  va_end(args);
}

static char *buf_take(buf *b) {
  if (!b->data) buf_add(b, "");
  return b->data;
}

static void *alloc_array(size_t count, size_t size) {
  void *p = calloc(count ? count : 1, size);
  if (!p) abort();
  return p;
}

static bool str_eq(str a, str b) { return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0; }

static bool str_is(str a, const char *b) { return str_eq(a, (str){b, strlen(b)}); }

static bool contains_star(str s) { return memchr(s.ptr, '*', s.len) != NULL; }

static bool list_has(const str_list *list, str s) {
  for (size_t i = 0; i < list->count; i++) {
    if (str_eq(list->items[i], s)) return true;
  }
  return false;
}

// `get,list on core,apps/pods [web]`, as in deny reasons.
static void show_rule(buf *b, const rule *r) {
  for (size_t i = 0; i < r->verbs.count; i++) {
    buf_add(b, "%s%S", i ? "," : "", r->verbs.items[i]);
  }
  buf_add(b, " on ");
  for (size_t i = 0; i < r->api_groups.count; i++) {
    str g = r->api_groups.items[i];
    if (g.len == 0) g = (str){"core", 4};
    buf_add(b, "%s%S", i ? "," : "", g);
  }
  buf_add(b, "/");
  for (size_t i = 0; i < r->resources.count; i++) {
    buf_add(b, "%s%S", i ? "," : "", r->resources.items[i]);
  }
  if (r->resource_names.count) {
    buf_add(b, " [");
    for (size_t i = 0; i < r->resource_names.count; i++) {
      str n = r->resource_names.items[i];
      buf_add(b, "%s%S", i ? "," : "", n);
    }
    buf_add(b, "]");
  }
}

static void quoted(buf *b, const str_list *names) {
  for (size_t i = 0; i < names->count; i++) {
    buf_add(b, "%s`%S`", i ? ", " : "", names->items[i]);
  }
}

// --- settings ------------------------------------------------------------------------------

static const char *const ENTRY_FIELDS[] = {"groups", "clusters", "namespaces", "roles", "rules",
                                           "cluster_rules", "max_ttl_seconds", NULL};

// Fails with "unknown field" when `object` has a member not in `known`.
static bool check_fields(const json_value *object, const char *const *known, buf *error) {
  for (size_t i = 0; i < object->count; i++) {
    const char *key = object->members[i].key;
    bool found = false;
    for (const char *const *k = known; *k; k++) found = found || strcmp(*k, key) == 0;
    if (!found) {
      buf_add(error, "unknown field `%s`, expected one of ", key);
      for (const char *const *k = known; *k; k++) buf_add(error, "%s`%s`", k == known ? "" : ", ", *k);
      return false;
    }
  }
  return true;
}

static bool strings(const json_value *object, const char *name, bool required, str_list *out,
                    buf *error) {
  const json_value *v = json_get(object, name);
  *out = (str_list){0};
  if (!v) {
    if (required) buf_add(error, "missing field `%s`", name);
    return !required;
  }
  bool ok = v->kind == JSON_ARRAY;
  for (size_t i = 0; ok && i < v->count; i++) ok = v->items[i]->kind == JSON_STRING;
  if (!ok) {
    buf_add(error, "`%s` must be a list of strings", name);
    return false;
  }
  out->items = alloc_array(v->count, sizeof(str));
  out->count = v->count;
  for (size_t i = 0; i < v->count; i++) {
    out->items[i] = (str){v->items[i]->string, strlen(v->items[i]->string)};
  }
  return true;
}

// Like the Rust policy, unknown fields of a rule are ignored.
static bool rules(const json_value *object, const char *name, rule_list *out, buf *error) {
  const json_value *v = json_get(object, name);
  *out = (rule_list){0};
  if (!v) return true;
  if (v->kind != JSON_ARRAY) {
    buf_add(error, "`%s` must be a list of rules", name);
    return false;
  }
  out->items = alloc_array(v->count, sizeof(rule));
  out->count = v->count;
  for (size_t i = 0; i < v->count; i++) {
    const json_value *r = v->items[i];
    rule *dst = &out->items[i];
    if (r->kind != JSON_OBJECT) {
      buf_add(error, "`%s[%z]` must be an object", name, i);
      return false;
    }
    if (!strings(r, "api_groups", true, &dst->api_groups, error) ||
        !strings(r, "resources", true, &dst->resources, error) ||
        !strings(r, "verbs", true, &dst->verbs, error) ||
        !strings(r, "resource_names", false, &dst->resource_names, error)) {
      return false;
    }
  }
  return true;
}

static bool parse_entry(const json_value *v, entry *e, buf *error) {
  if (v->kind != JSON_OBJECT) {
    buf_add(error, "an entry must be an object");
    return false;
  }
  if (!check_fields(v, ENTRY_FIELDS, error)) return false;
  e->max_ttl_seconds = DEFAULT_MAX_TTL;
  const json_value *ttl = json_get(v, "max_ttl_seconds");
  if (ttl) {
    if (ttl->kind != JSON_NUMBER || !ttl->is_u64) {
      buf_add(error, "`max_ttl_seconds` must be a whole number of seconds");
      return false;
    }
    e->max_ttl_seconds = ttl->u64;
  }
  return strings(v, "groups", true, &e->groups, error) &&
         strings(v, "clusters", true, &e->clusters, error) &&
         strings(v, "namespaces", false, &e->namespaces, error) &&
         strings(v, "roles", false, &e->roles, error) && rules(v, "rules", &e->rules, error) &&
         rules(v, "cluster_rules", &e->cluster_rules, error);
}

static bool check_pattern(str pattern, buf *error) {
  size_t body = pattern.len && pattern.ptr[pattern.len - 1] == '*' ? pattern.len - 1 : pattern.len;
  if (pattern.len == 0 || memchr(pattern.ptr, '*', body)) {
    buf_add(error, "`%S` is not a name or a pattern (`*` only at the end)", pattern);
    return false;
  }
  return true;
}

static bool check_rules(const rule_list *list, buf *error) {
  for (size_t i = 0; i < list->count; i++) {
    const rule *r = &list->items[i];
    if (!r->api_groups.count || !r->resources.count || !r->verbs.count) {
      buf_add(error, "rule `");
      show_rule(error, r);
      buf_add(error, "` has an empty list");
      return false;
    }
  }
  return true;
}

static bool validate_entry(const entry *e, buf *error) {
  if (!e->groups.count) {
    buf_add(error, "`groups` is empty");
    return false;
  }
  for (size_t i = 0; i < e->groups.count; i++) {
    if (!e->groups.items[i].len) {
      buf_add(error, "`groups` holds an empty name ``");
      return false;
    }
  }
  if (!e->clusters.count) {
    buf_add(error, "`clusters` is empty");
    return false;
  }
  for (size_t i = 0; i < e->clusters.count; i++) {
    if (!check_pattern(e->clusters.items[i], error)) return false;
  }
  for (size_t i = 0; i < e->namespaces.count; i++) {
    if (!check_pattern(e->namespaces.items[i], error)) return false;
  }
  if (!e->namespaces.count && !e->cluster_rules.count) {
    buf_add(error, "the entry allows neither namespaces nor cluster rules");
    return false;
  }
  if (e->namespaces.count && !e->roles.count && !e->rules.count) {
    buf_add(error, "`namespaces` are listed but neither `roles` nor `rules`");
    return false;
  }
  for (size_t i = 0; i < e->roles.count; i++) {
    str role = e->roles.items[i];
    if (!role.len || contains_star(role)) {
      buf_add(error, "`roles` holds `%S`: roles are exact names", role);
      return false;
    }
  }
  if (!check_rules(&e->rules, error) || !check_rules(&e->cluster_rules, error)) return false;
  if (e->max_ttl_seconds == 0) {
    buf_add(error, "`max_ttl_seconds` must be more than zero");
    return false;
  }
  return true;
}

bool settings_parse(const char *text, size_t len, settings *out, char **error) {
  *out = (settings){0};
  buf message = {0};
  const char *why = "";
  size_t at = 0;
  out->json = json_parse(text, len, &why, &at);
  if (!out->json) {
    buf_add(&message, "the settings are not JSON: %s at byte %z", why, at);
    goto fail;
  }
  static const char *const TOP_FIELDS[] = {"allow", NULL};
  if (out->json->kind != JSON_OBJECT) {
    buf_add(&message, "the settings must be an object with `allow`");
    goto fail;
  }
  if (!check_fields(out->json, TOP_FIELDS, &message)) goto fail;
  const json_value *allow = json_get(out->json, "allow");
  if (!allow) {
    buf_add(&message, "missing field `allow`");
    goto fail;
  }
  if (allow->kind != JSON_ARRAY) {
    buf_add(&message, "`allow` must be a list of entries");
    goto fail;
  }
  out->entries = alloc_array(allow->count, sizeof(entry));
  out->count = allow->count;
  for (size_t i = 0; i < allow->count; i++) {
    buf reason = {0};
    if (!parse_entry(allow->items[i], &out->entries[i], &reason) ||
        !validate_entry(&out->entries[i], &reason)) {
      buf_add(&message, "`allow[%z]`: %s", i, buf_take(&reason));
      free(reason.data);
      goto fail;
    }
  }
  return true;
fail:
  settings_free(out);
  *error = buf_take(&message);
  return false;
}

void rule_list_free(rule_list *list) {
  for (size_t i = 0; i < list->count; i++) {
    free(list->items[i].api_groups.items);
    free(list->items[i].resources.items);
    free(list->items[i].verbs.items);
    free(list->items[i].resource_names.items);
  }
  free(list->items);
}

void settings_free(settings *s) {
  for (size_t i = 0; i < s->count; i++) {
    entry *e = &s->entries[i];
    free(e->groups.items);
    free(e->clusters.items);
    free(e->namespaces.items);
    free(e->roles.items);
    rule_list_free(&e->rules);
    rule_list_free(&e->cluster_rules);
  }
  free(s->entries);
  json_free(s->json);
  *s = (settings){0};
}

// --- names and rules -----------------------------------------------------------------------

// `prefix*` matches names starting with `prefix`; anything else matches itself.
static bool name_matches(str pattern, str name) {
  if (pattern.len && pattern.ptr[pattern.len - 1] == '*') {
    size_t n = pattern.len - 1;
    return name.len >= n && memcmp(pattern.ptr, name.ptr, n) == 0;
  }
  return str_eq(pattern, name);
}

static bool any_matches(const str_list *patterns, str name) {
  for (size_t i = 0; i < patterns->count; i++) {
    if (name_matches(patterns->items[i], name)) return true;
  }
  return false;
}

static bool list_covers(const str_list *allowed, const str_list *asked) {
  for (size_t i = 0; i < allowed->count; i++) {
    if (str_is(allowed->items[i], "*")) return true;
  }
  if (!asked->count) return false;
  for (size_t i = 0; i < asked->count; i++) {
    if (!list_has(allowed, asked->items[i])) return false;
  }
  return true;
}

// Whether `asked` is the same as or narrower than `allowed`.
static bool covers(const rule *allowed, const rule *asked) {
  return list_covers(&allowed->api_groups, &asked->api_groups) &&
         list_covers(&allowed->resources, &asked->resources) &&
         list_covers(&allowed->verbs, &asked->verbs) &&
         (!allowed->resource_names.count ||
          (asked->resource_names.count &&
           list_covers(&allowed->resource_names, &asked->resource_names)));
}

static bool is_covered_by(const rule *r, const rule_list *allowed) {
  for (size_t i = 0; i < allowed->count; i++) {
    if (covers(&allowed->items[i], r)) return true;
  }
  return false;
}

static bool all_covered_by(const rule_list *rules, const rule_list *allowed) {
  for (size_t i = 0; i < rules->count; i++) {
    if (!is_covered_by(&rules->items[i], allowed)) return false;
  }
  return true;
}

static bool allows_all_namespaces(const entry *e, const str_list *namespaces) {
  for (size_t i = 0; i < namespaces->count; i++) {
    if (!any_matches(&e->namespaces, namespaces->items[i])) return false;
  }
  return true;
}

static bool allows_access(const entry *e, const access *a) {
  return a->is_role ? list_has(&e->roles, a->role) : all_covered_by(&a->rules, &e->rules);
}

static bool entry_covers(const entry *e, const request *req) {
  return allows_all_namespaces(e, &req->namespaces) &&
         (!req->namespaces.count || allows_access(e, &req->access)) &&
         all_covered_by(&req->cluster_rules, &e->cluster_rules);
}

// --- the rule ------------------------------------------------------------------------------

// Appends the rules of `rules` that no entry of `entries` covers (through the entry's
// `rules`, or `cluster_rules` when `cluster` is set), as "`rule`, `rule`"; returns how many.
static size_t uncovered_rules(buf *b, const rule_list *rules, const entry *const *entries,
                              size_t count, bool cluster) {
  size_t n = 0;
  for (size_t i = 0; i < rules->count; i++) {
    bool covered = false;
    for (size_t j = 0; j < count && !covered; j++) {
      covered = is_covered_by(&rules->items[i], cluster ? &entries[j]->cluster_rules
                                                        : &entries[j]->rules);
    }
    if (!covered) {
      buf_add(b, "%s`", n++ ? ", " : "");
      show_rule(b, &rules->items[i]);
      buf_add(b, "`");
    }
  }
  return n;
}

// Why no entry covers the request, given that each of its namespaces is allowed by some entry.
static void uncovered(buf *b, const entry *const *on_cluster, size_t count, const request *req) {
  const entry **all = alloc_array(count, sizeof *all);
  size_t n = 0;
  for (size_t i = 0; i < count; i++) {
    if (allows_all_namespaces(on_cluster[i], &req->namespaces)) all[n++] = on_cluster[i];
  }
  str cluster = req->cluster;
  if (!n) {
    buf_add(b, "no single grant of your groups covers all of namespaces ");
    quoted(b, &req->namespaces);
    buf_add(b, " on cluster `%S`; ask for them separately", cluster);
    free(all);
    return;
  }
  bool access_allowed = false;
  for (size_t i = 0; i < n && !access_allowed; i++) access_allowed = allows_access(all[i], &req->access);
  if (req->namespaces.count && !access_allowed) {
    if (req->access.is_role) {
      buf_add(b, "role `%S` is", req->access.role);
    } else {
      buf names = {0};
      if (uncovered_rules(&names, &req->access.rules, all, n, false)) {
        buf_add(b, "rules %s are", buf_take(&names));
      } else {
        buf_add(b, "these rules together are");
      }
      free(names.data);
    }
    buf_add(b, " not allowed for your groups in namespaces ");
    quoted(b, &req->namespaces);
    buf_add(b, " on cluster `%S`", cluster);
    free(all);
    return;
  }
  buf names = {0};
  if (uncovered_rules(&names, &req->cluster_rules, all, n, true)) {
    buf_add(b, "cluster rules %s are not allowed for your groups on cluster `%S`",
            buf_take(&names), cluster);
  } else {
    buf_add(b,
            "no single grant of your groups covers both the namespaced access and the cluster "
            "rules asked for on cluster `%S`",
            cluster);
  }
  free(names.data);
  free(all);
}

bool decide(const settings *s, const str_list *groups, const request *req, uint64_t *ttl_seconds,
            char **reason) {
  buf message = {0};
  const entry **on_cluster = alloc_array(s->count, sizeof *on_cluster);
  size_t mine = 0, n = 0;
  for (size_t i = 0; i < s->count; i++) {
    const entry *e = &s->entries[i];
    bool member = false;
    for (size_t g = 0; g < e->groups.count && !member; g++) member = list_has(groups, e->groups.items[g]);
    if (!member) continue;
    mine++;
    if (any_matches(&e->clusters, req->cluster)) on_cluster[n++] = e;
  }
  str cluster = req->cluster;
  bool allowed = false;
  if (!mine) {
    buf_add(&message, "none of your groups is allowed any access");
  } else if (!n) {
    buf_add(&message, "your groups may not request access to cluster `%S`", cluster);
  } else {
    for (size_t i = 0; i < req->namespaces.count && !message.len; i++) {
      bool some = false;
      for (size_t j = 0; j < n && !some; j++) some = any_matches(&on_cluster[j]->namespaces, req->namespaces.items[i]);
      if (!some) {
        str ns = req->namespaces.items[i];
        buf_add(&message, "namespace `%S` on cluster `%S` is not allowed for your groups",
                ns, cluster);
      }
    }
    if (!message.len) {
      uint64_t max_ttl = 0;
      for (size_t j = 0; j < n; j++) {
        if (entry_covers(on_cluster[j], req)) {
          allowed = true;
          if (on_cluster[j]->max_ttl_seconds > max_ttl) max_ttl = on_cluster[j]->max_ttl_seconds;
        }
      }
      if (allowed) {
        *ttl_seconds = req->duration_seconds < max_ttl ? req->duration_seconds : max_ttl;
      } else {
        uncovered(&message, on_cluster, n, req);
      }
    }
  }
  free(on_cluster);
  if (allowed) {
    free(message.data);
    return true;
  }
  *reason = buf_take(&message);
  return false;
}

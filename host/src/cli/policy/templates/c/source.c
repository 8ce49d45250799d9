// `@NAME@`: members of the groups listed in the settings get what they ask for, for at most
// `max_ttl_seconds`; anyone else is not its concern (it abstains, and the rest of the chain
// decides).
//
// Implements the exports of world `policy` (wit/policy.wit) declared in `policy.h`, which
// `wit-bindgen c` generates at build time. Ownership follows the canonical ABI: each export owns
// its arguments and frees them before it returns; what it returns must be fresh `malloc`ed
// memory, which the generated post-return function frees.
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "policy.h"

typedef struct {
  char **groups;
  size_t count;
  uint64_t max_ttl_seconds;
} settings;

// A `malloc`ed message: `fmt` with each `%s` replaced by a C string and `%z` by a `size_t`.
// (Not printf: wasi-libc's stdio would make the module import WASI file functions.)
static char *format(const char *fmt, ...) {
  size_t len = 0, cap = 64;
  char *out = malloc(cap);
  if (!out) abort();
  va_list args;
  va_start(args, fmt);
  for (const char *p = fmt; *p; p++) {
    char digits[24];
    const char *piece = p;
    size_t n = 1;
    if (p[0] == '%' && p[1] == 's') {
      piece = va_arg(args, const char *);
      n = strlen(piece);
      p++;
    } else if (p[0] == '%' && p[1] == 'z') {
      size_t v = va_arg(args, size_t), at = sizeof digits;
      do {
        digits[--at] = (char)('0' + v % 10);
        v /= 10;
      } while (v);
      piece = digits + at;
      n = sizeof digits - at;
      p++;
    }
    if (len + n + 1 > cap) {
      cap = (len + n + 1) * 2;
      out = realloc(out, cap);
      if (!out) abort();
    }
    memcpy(out + len, piece, n);
    len += n;
  }
  va_end(args);
  out[len] = '\0';
  return out;
}

static void settings_free(settings *s) {
  for (size_t i = 0; i < s->count; i++) free(s->groups[i]);
  free(s->groups);
}

// Reads the settings; on failure returns false and sets `*error` to a `malloc`ed message that
// names the field.
static bool settings_parse(const char *text, size_t len, settings *out, char **error) {
  const char *what;
  size_t at;
  json_value *root = json_parse(text, len, &what, &at);
  if (!root) {
    *error = format("the settings are not JSON: %s at byte %z", what, at);
    return false;
  }
  *out = (settings){0};
  bool ok = false;
  json_value *groups = NULL, *max_ttl = NULL;
  if (root->kind != JSON_OBJECT) {
    *error = format("the settings must be an object");
    goto done;
  }
  for (size_t i = 0; i < root->count; i++) {
    const char *key = root->members[i].key;
    if (strcmp(key, "groups") != 0 && strcmp(key, "max_ttl_seconds") != 0) {
      *error = format("unknown field `%s`, expected `groups` or `max_ttl_seconds`", key);
      goto done;
    }
  }
  if (!(groups = json_get(root, "groups"))) {
    *error = format("missing field `groups`");
    goto done;
  }
  if (!(max_ttl = json_get(root, "max_ttl_seconds"))) {
    *error = format("missing field `max_ttl_seconds`");
    goto done;
  }
  if (groups->kind != JSON_ARRAY) {
    *error = format("`groups` must be a list of strings");
    goto done;
  }
  for (size_t i = 0; i < groups->count; i++) {
    if (groups->items[i]->kind != JSON_STRING) {
      *error = format("`groups` must be a list of strings");
      goto done;
    }
  }
  if (groups->count == 0) {
    *error = format("`groups` must not be empty");
    goto done;
  }
  if (max_ttl->kind != JSON_NUMBER || !max_ttl->is_u64) {
    *error = format("`max_ttl_seconds` must be a whole number of seconds");
    goto done;
  }
  if (max_ttl->u64 == 0) {
    *error = format("`max_ttl_seconds` must be more than zero");
    goto done;
  }
  out->groups = calloc(groups->count, sizeof *out->groups);
  if (!out->groups) abort();
  out->count = groups->count;
  for (size_t i = 0; i < groups->count; i++) {
    out->groups[i] = format("%s", groups->items[i]->string);
  }
  out->max_ttl_seconds = max_ttl->u64;
  ok = true;
done:
  json_free(root);
  return ok;
}

// A WIT string holding `message` (which it takes), with `prefix` before it.
static policy_string_t take_message(const char *prefix, char *message) {
  char *joined = format("%s%s", prefix, message);
  free(message);
  return (policy_string_t){(uint8_t *)joined, strlen(joined)};
}

static policy_string_t copy_string(const policy_string_t *s) {
  policy_string_t out = {NULL, s->len};
  if (s->len) {
    out.ptr = malloc(s->len);
    if (!out.ptr) abort();
    memcpy(out.ptr, s->ptr, s->len);
  }
  return out;
}

static policy_list_string_t copy_strings(const policy_list_string_t *list) {
  policy_list_string_t out = {NULL, list->len};
  if (list->len) {
    out.ptr = malloc(list->len * sizeof *out.ptr);
    if (!out.ptr) abort();
    for (size_t i = 0; i < list->len; i++) out.ptr[i] = copy_string(&list->ptr[i]);
  }
  return out;
}

static wicket_policy_types_list_rule_t copy_rules(const wicket_policy_types_list_rule_t *list) {
  wicket_policy_types_list_rule_t out = {NULL, list->len};
  if (list->len) {
    out.ptr = malloc(list->len * sizeof *out.ptr);
    if (!out.ptr) abort();
    for (size_t i = 0; i < list->len; i++) {
      const wicket_policy_types_rule_t *r = &list->ptr[i];
      out.ptr[i] = (wicket_policy_types_rule_t){copy_strings(&r->api_groups), copy_strings(&r->resources),
                                                copy_strings(&r->verbs), copy_strings(&r->resource_names)};
    }
  }
  return out;
}

static wicket_policy_types_access_t copy_access(const wicket_policy_types_access_t *a) {
  wicket_policy_types_access_t out = {.tag = a->tag};
  if (a->tag == WICKET_POLICY_TYPES_ACCESS_ROLE) {
    out.val.role = copy_string(&a->val.role);
  } else {
    out.val.rules = copy_rules(&a->val.rules);
  }
  return out;
}

static bool in_group(const policy_list_string_t *groups, const char *group) {
  size_t len = strlen(group);
  for (size_t i = 0; i < groups->len; i++) {
    if (groups->ptr[i].len == len && memcmp(groups->ptr[i].ptr, group, len) == 0) return true;
  }
  return false;
}

// "`a`, `b`": the groups, for a deny reason.
static char *listed(const settings *s) {
  char *out = format("`%s`", s->groups[0]);
  for (size_t i = 1; i < s->count; i++) {
    char *longer = format("%s, `%s`", out, s->groups[i]);
    free(out);
    out = longer;
  }
  return out;
}

static void decide(const settings *s, const exports_wicket_policy_evaluator_identity_t *requester,
                   const exports_wicket_policy_evaluator_access_request_t *request,
                   exports_wicket_policy_evaluator_decision_t *ret) {
  bool member = false;
  for (size_t i = 0; i < s->count && !member; i++) member = in_group(&requester->groups, s->groups[i]);
  if (!member) {
    char *groups = listed(s);
    ret->tag = WICKET_POLICY_TYPES_DECISION_ABSTAIN;
    ret->val.abstain = take_message("", format("not a member of %s", groups));
    free(groups);
    return;
  }
  // Exactly what was asked, in each namespace, for at most `max_ttl_seconds`.
  wicket_policy_types_grant_t *grant = &ret->val.allow;
  ret->tag = WICKET_POLICY_TYPES_DECISION_ALLOW;
  grant->namespaces.len = request->namespaces.len;
  grant->namespaces.ptr = NULL;
  if (request->namespaces.len) {
    grant->namespaces.ptr = malloc(request->namespaces.len * sizeof *grant->namespaces.ptr);
    if (!grant->namespaces.ptr) abort();
  }
  for (size_t i = 0; i < request->namespaces.len; i++) {
    grant->namespaces.ptr[i] = (wicket_policy_types_namespace_grant_t){
        copy_string(&request->namespaces.ptr[i]), copy_access(&request->access)};
  }
  grant->cluster_rules = copy_rules(&request->cluster_rules);
  grant->ttl_seconds = request->duration_seconds < s->max_ttl_seconds ? request->duration_seconds
                                                                       : s->max_ttl_seconds;
}

bool exports_wicket_policy_evaluator_validate_settings(policy_string_t *text, policy_string_t *err) {
  settings parsed;
  char *error = NULL;
  bool ok = settings_parse((const char *)text->ptr, text->len, &parsed, &error);
  if (ok) {
    settings_free(&parsed);
  } else {
    *err = take_message("invalid settings: ", error);
  }
  policy_string_free(text);
  return ok;
}

void exports_wicket_policy_evaluator_evaluate(policy_string_t *text,
                                              exports_wicket_policy_evaluator_identity_t *requester,
                                              exports_wicket_policy_evaluator_access_request_t *request,
                                              exports_wicket_policy_evaluator_decision_t *ret) {
  settings parsed;
  char *error = NULL;
  // Settings the host accepted are checked again: a problem here is a deny, never an allow.
  if (settings_parse((const char *)text->ptr, text->len, &parsed, &error)) {
    decide(&parsed, requester, request, ret);
    settings_free(&parsed);
  } else {
    ret->tag = WICKET_POLICY_TYPES_DECISION_DENY;
    ret->val.deny = take_message("invalid settings: ", error);
  }
  policy_string_free(text);
  exports_wicket_policy_evaluator_identity_free(requester);
  exports_wicket_policy_evaluator_access_request_free(request);
}

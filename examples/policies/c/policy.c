// The component's exports (`wicket:policy/evaluator`), on the bindings `wit-bindgen c` generates
// into `policy.h`: converts the WIT types to the rule's (group_access.h) and back.
//
// Ownership follows the canonical ABI: each export owns its arguments and frees them before it
// returns; what it returns must be fresh `malloc`ed memory, which the generated post-return
// function frees.
#include <stdlib.h>
#include <string.h>

#include "group_access.h"
#include "policy.h"

static const char INVALID[] = "invalid settings: ";

static str from_wit(const policy_string_t *s) { return (str){(const char *)s->ptr, s->len}; }

// The rule's view of a WIT list of strings; the strings stay where they are.
static str_list strs_from_wit(const policy_list_string_t *list) {
  str_list out = {calloc(list->len ? list->len : 1, sizeof(str)), list->len};
  if (!out.items) abort();
  for (size_t i = 0; i < list->len; i++) out.items[i] = from_wit(&list->ptr[i]);
  return out;
}

static rule_list rules_from_wit(const wicket_policy_types_list_rule_t *list) {
  rule_list out = {calloc(list->len ? list->len : 1, sizeof(rule)), list->len};
  if (!out.items) abort();
  for (size_t i = 0; i < list->len; i++) {
    const wicket_policy_types_rule_t *r = &list->ptr[i];
    out.items[i] = (rule){strs_from_wit(&r->api_groups), strs_from_wit(&r->resources),
                          strs_from_wit(&r->verbs), strs_from_wit(&r->resource_names)};
  }
  return out;
}

// A fresh copy, for a return value.
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

// Takes ownership of the malloc'd, NUL-terminated `message`.
static policy_string_t take_message(const char *prefix, char *message) {
  size_t p = strlen(prefix), m = strlen(message);
  policy_string_t out = {malloc(p + m), p + m};
  if (!out.ptr) abort();
  memcpy(out.ptr, prefix, p);
  memcpy(out.ptr + p, message, m);
  free(message);
  return out;
}

bool exports_wicket_policy_evaluator_validate_settings(policy_string_t *text, policy_string_t *err) {
  settings parsed;
  char *error = NULL;
  bool ok = settings_parse((const char *)text->ptr, text->len, &parsed, &error);
  if (ok) {
    settings_free(&parsed);
  } else {
    *err = take_message(INVALID, error);
  }
  policy_string_free(text);
  return ok;
}

void exports_wicket_policy_evaluator_evaluate(policy_string_t *text,
                                              exports_wicket_policy_evaluator_identity_t *requester,
                                              exports_wicket_policy_evaluator_access_request_t *wit,
                                              exports_wicket_policy_evaluator_decision_t *ret) {
  settings parsed;
  char *reason = NULL;
  // Settings the host accepted are checked again: a problem here is a deny, never an allow.
  if (!settings_parse((const char *)text->ptr, text->len, &parsed, &reason)) {
    ret->tag = WICKET_POLICY_TYPES_DECISION_DENY;
    ret->val.deny = take_message(INVALID, reason);
  } else {
    bool is_role = wit->access.tag == WICKET_POLICY_TYPES_ACCESS_ROLE;
    request req = {
        .cluster = from_wit(&wit->cluster),
        .namespaces = strs_from_wit(&wit->namespaces),
        .access = {.is_role = is_role},
        .cluster_rules = rules_from_wit(&wit->cluster_rules),
        .duration_seconds = wit->duration_seconds,
    };
    if (is_role) {
      req.access.role = from_wit(&wit->access.val.role);
    } else {
      req.access.rules = rules_from_wit(&wit->access.val.rules);
    }
    str_list groups = strs_from_wit(&requester->groups);
    uint64_t ttl = 0;
    if (decide(&parsed, &groups, &req, &ttl, &reason)) {
      // Exactly what was asked, in each namespace, for at most `ttl`.
      wicket_policy_types_grant_t *grant = &ret->val.allow;
      ret->tag = WICKET_POLICY_TYPES_DECISION_ALLOW;
      grant->namespaces.len = wit->namespaces.len;
      grant->namespaces.ptr = NULL;
      if (wit->namespaces.len) {
        grant->namespaces.ptr = malloc(wit->namespaces.len * sizeof *grant->namespaces.ptr);
        if (!grant->namespaces.ptr) abort();
      }
      for (size_t i = 0; i < wit->namespaces.len; i++) {
        grant->namespaces.ptr[i] = (wicket_policy_types_namespace_grant_t){
            copy_string(&wit->namespaces.ptr[i]), copy_access(&wit->access)};
      }
      grant->cluster_rules = copy_rules(&wit->cluster_rules);
      grant->ttl_seconds = ttl;
    } else {
      ret->tag = WICKET_POLICY_TYPES_DECISION_DENY;
      ret->val.deny = take_message("", reason);
    }
    free(groups.items);
    free(req.namespaces.items);
    rule_list_free(&req.cluster_rules);
    if (!is_role) rule_list_free(&req.access.rules);
    settings_free(&parsed);
  }
  policy_string_free(text);
  exports_wicket_policy_evaluator_identity_free(requester);
  exports_wicket_policy_evaluator_access_request_free(wit);
}

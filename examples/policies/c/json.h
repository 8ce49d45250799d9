// A small JSON reader for the settings: parses text into a tree of `json_value`s.
#ifndef WICKET_JSON_H
#define WICKET_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
  JSON_NULL,
  JSON_BOOL,
  JSON_NUMBER,
  JSON_STRING,
  JSON_ARRAY,
  JSON_OBJECT,
} json_kind;

typedef struct json_value json_value;

// One member of an object.
typedef struct {
  char *key;
  json_value *value;
} json_member;

struct json_value {
  json_kind kind;
  bool boolean;
  // JSON_NUMBER: whether the number is a whole number in 0..=UINT64_MAX, and that number.
  bool is_u64;
  uint64_t u64;
  // JSON_STRING: NUL-terminated UTF-8 (a string holding NUL is refused by the parser).
  char *string;
  // JSON_ARRAY: `count` items; JSON_OBJECT: `count` members.
  size_t count;
  json_value **items;
  json_member *members;
};

// Parses `len` bytes of `text`. Returns NULL on malformed JSON and sets `*error` to what is wrong
// and `*at` to the byte offset where.
json_value *json_parse(const char *text, size_t len, const char **error, size_t *at);

// Frees a tree returned by `json_parse`.
void json_free(json_value *value);

// The member `key` of an object, or NULL.
json_value *json_get(const json_value *object, const char *key);

#endif

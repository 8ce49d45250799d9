// A small recursive-descent JSON reader (RFC 8259), enough for settings.
#include "json.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

typedef struct {
  const char *text;
  size_t len;
  size_t pos;
  const char **error;
  size_t *at;
  bool failed;
} parser;

static void fail(parser *p, const char *what) {
  if (!p->failed) {
    *p->error = what;
    *p->at = p->pos;
    p->failed = true;
  }
}

static void skip_space(parser *p) {
  while (p->pos < p->len) {
    char c = p->text[p->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      return;
    }
    p->pos++;
  }
}

static bool literal(parser *p, const char *word) {
  size_t n = strlen(word);
  if (p->len - p->pos < n || memcmp(p->text + p->pos, word, n) != 0) {
    fail(p, "unexpected character");
    return false;
  }
  p->pos += n;
  return true;
}

static json_value *new_value(json_kind kind) {
  json_value *v = calloc(1, sizeof *v);
  if (v) {
    v->kind = kind;
  }
  return v;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool read_hex4(parser *p, uint32_t *out) {
  if (p->len - p->pos < 4) {
    fail(p, "truncated escape");
    return false;
  }
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    int d = hex_digit(p->text[p->pos + i]);
    if (d < 0) {
      fail(p, "bad escape");
      return false;
    }
    v = v << 4 | (uint32_t)d;
  }
  p->pos += 4;
  *out = v;
  return true;
}

static size_t put_utf8(char *out, uint32_t cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | cp >> 12);
    out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | cp >> 18);
  out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
  out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

// Reads a string after its opening quote; the result never grows past the escaped length.
static char *read_string(parser *p) {
  char *out = malloc(p->len - p->pos + 1);
  if (!out) {
    fail(p, "out of memory");
    return NULL;
  }
  size_t n = 0;
  while (p->pos < p->len) {
    unsigned char c = (unsigned char)p->text[p->pos++];
    if (c == '"') {
      out[n] = '\0';
      return out;
    }
    if (c < 0x20) {
      break;
    }
    if (c != '\\') {
      out[n++] = (char)c;
      continue;
    }
    if (p->pos >= p->len) {
      break;
    }
    char e = p->text[p->pos++];
    uint32_t cp;
    switch (e) {
      case '"': out[n++] = '"'; break;
      case '\\': out[n++] = '\\'; break;
      case '/': out[n++] = '/'; break;
      case 'b': out[n++] = '\b'; break;
      case 'f': out[n++] = '\f'; break;
      case 'n': out[n++] = '\n'; break;
      case 'r': out[n++] = '\r'; break;
      case 't': out[n++] = '\t'; break;
      case 'u':
        if (!read_hex4(p, &cp)) {
          free(out);
          return NULL;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t low;
          if (p->len - p->pos < 2 || p->text[p->pos] != '\\' || p->text[p->pos + 1] != 'u') {
            goto bad;
          }
          p->pos += 2;
          if (!read_hex4(p, &low)) {
            free(out);
            return NULL;
          }
          if (low < 0xDC00 || low > 0xDFFF) {
            goto bad;
          }
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          goto bad;
        }
        if (cp == 0) {
          goto bad;
        }
        n += put_utf8(out + n, cp);
        break;
      default:
        goto bad;
    }
  }
bad:
  free(out);
  fail(p, "bad string");
  return NULL;
}

static json_value *parse_value(parser *p, int depth);

static json_value *parse_number(parser *p) {
  size_t start = p->pos;
  bool negative = false, whole = true, overflow = false;
  uint64_t value = 0;
  if (p->text[p->pos] == '-') {
    negative = true;
    p->pos++;
  }
  size_t digits = p->pos;
  while (p->pos < p->len && p->text[p->pos] >= '0' && p->text[p->pos] <= '9') {
    uint64_t d = (uint64_t)(p->text[p->pos] - '0');
    if (value > (UINT64_MAX - d) / 10) {
      overflow = true;
    }
    value = value * 10 + d;
    p->pos++;
  }
  if (p->pos == digits || (p->text[digits] == '0' && p->pos - digits > 1)) {
    p->pos = start;
    fail(p, "bad number");
    return NULL;
  }
  if (p->pos < p->len && p->text[p->pos] == '.') {
    whole = false;
    p->pos++;
    size_t frac = p->pos;
    while (p->pos < p->len && p->text[p->pos] >= '0' && p->text[p->pos] <= '9') p->pos++;
    if (p->pos == frac) {
      fail(p, "bad number");
      return NULL;
    }
  }
  if (p->pos < p->len && (p->text[p->pos] == 'e' || p->text[p->pos] == 'E')) {
    whole = false;
    p->pos++;
    if (p->pos < p->len && (p->text[p->pos] == '+' || p->text[p->pos] == '-')) p->pos++;
    size_t exp = p->pos;
    while (p->pos < p->len && p->text[p->pos] >= '0' && p->text[p->pos] <= '9') p->pos++;
    if (p->pos == exp) {
      fail(p, "bad number");
      return NULL;
    }
  }
  json_value *v = new_value(JSON_NUMBER);
  if (!v) {
    fail(p, "out of memory");
    return NULL;
  }
  v->is_u64 = whole && !overflow && (!negative || value == 0);
  v->u64 = v->is_u64 ? value : 0;
  return v;
}

static json_value *parse_array(parser *p, int depth) {
  json_value *v = new_value(JSON_ARRAY);
  if (!v) {
    fail(p, "out of memory");
    return NULL;
  }
  skip_space(p);
  if (p->pos < p->len && p->text[p->pos] == ']') {
    p->pos++;
    return v;
  }
  size_t cap = 0;
  for (;;) {
    json_value *item = parse_value(p, depth + 1);
    if (!item) break;
    if (v->count == cap) {
      cap = cap ? cap * 2 : 4;
      json_value **grown = realloc(v->items, cap * sizeof *grown);
      if (!grown) {
        json_free(item);
        fail(p, "out of memory");
        break;
      }
      v->items = grown;
    }
    v->items[v->count++] = item;
    skip_space(p);
    if (p->pos < p->len && p->text[p->pos] == ',') {
      p->pos++;
      continue;
    }
    if (p->pos < p->len && p->text[p->pos] == ']') {
      p->pos++;
      return v;
    }
    fail(p, "expected `,` or `]`");
    break;
  }
  json_free(v);
  return NULL;
}

static json_value *parse_object(parser *p, int depth) {
  json_value *v = new_value(JSON_OBJECT);
  if (!v) {
    fail(p, "out of memory");
    return NULL;
  }
  skip_space(p);
  if (p->pos < p->len && p->text[p->pos] == '}') {
    p->pos++;
    return v;
  }
  size_t cap = 0;
  for (;;) {
    skip_space(p);
    if (p->pos >= p->len || p->text[p->pos] != '"') {
      fail(p, "expected a key");
      break;
    }
    p->pos++;
    char *key = read_string(p);
    if (!key) break;
    skip_space(p);
    if (p->pos >= p->len || p->text[p->pos] != ':') {
      free(key);
      fail(p, "expected `:`");
      break;
    }
    p->pos++;
    json_value *item = parse_value(p, depth + 1);
    if (!item) {
      free(key);
      break;
    }
    if (v->count == cap) {
      cap = cap ? cap * 2 : 4;
      json_member *grown = realloc(v->members, cap * sizeof *grown);
      if (!grown) {
        free(key);
        json_free(item);
        fail(p, "out of memory");
        break;
      }
      v->members = grown;
    }
    v->members[v->count].key = key;
    v->members[v->count].value = item;
    v->count++;
    skip_space(p);
    if (p->pos < p->len && p->text[p->pos] == ',') {
      p->pos++;
      continue;
    }
    if (p->pos < p->len && p->text[p->pos] == '}') {
      p->pos++;
      return v;
    }
    fail(p, "expected `,` or `}`");
    break;
  }
  json_free(v);
  return NULL;
}

static json_value *parse_value(parser *p, int depth) {
  if (depth > MAX_DEPTH) {
    fail(p, "nested too deeply");
    return NULL;
  }
  skip_space(p);
  if (p->pos >= p->len) {
    fail(p, "unexpected end");
    return NULL;
  }
  char c = p->text[p->pos];
  json_value *v;
  switch (c) {
    case '{':
      p->pos++;
      return parse_object(p, depth);
    case '[':
      p->pos++;
      return parse_array(p, depth);
    case '"':
      p->pos++;
      v = new_value(JSON_STRING);
      if (!v) {
        fail(p, "out of memory");
        return NULL;
      }
      v->string = read_string(p);
      if (!v->string) {
        free(v);
        return NULL;
      }
      return v;
    case 't':
    case 'f':
      if (!literal(p, c == 't' ? "true" : "false")) return NULL;
      v = new_value(JSON_BOOL);
      if (v) v->boolean = c == 't';
      return v;
    case 'n':
      if (!literal(p, "null")) return NULL;
      return new_value(JSON_NULL);
    default:
      if (c == '-' || (c >= '0' && c <= '9')) {
        return parse_number(p);
      }
      fail(p, "unexpected character");
      return NULL;
  }
}

json_value *json_parse(const char *text, size_t len, const char **error, size_t *at) {
  parser p = {text, len, 0, error, at, false};
  json_value *v = parse_value(&p, 0);
  if (v) {
    skip_space(&p);
    if (p.pos != p.len) {
      fail(&p, "trailing characters");
      json_free(v);
      return NULL;
    }
  } else {
    fail(&p, "malformed JSON");
  }
  return v;
}

void json_free(json_value *value) {
  if (!value) return;
  free(value->string);
  for (size_t i = 0; value->kind == JSON_ARRAY && i < value->count; i++) {
    json_free(value->items[i]);
  }
  for (size_t i = 0; value->kind == JSON_OBJECT && i < value->count; i++) {
    free(value->members[i].key);
    json_free(value->members[i].value);
  }
  free(value->items);
  free(value->members);
  free(value);
}

json_value *json_get(const json_value *object, const char *key) {
  for (size_t i = 0; object->kind == JSON_OBJECT && i < object->count; i++) {
    if (strcmp(object->members[i].key, key) == 0) {
      return object->members[i].value;
    }
  }
  return NULL;
}

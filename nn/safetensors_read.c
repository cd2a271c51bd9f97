/* Loading a safetensors file into a parameter store. The JSON header is
 * parsed by Jansson; everything it describes is checked against the file
 * and the store before any value is written (nn/FORMAT.md). */
#include "nn_internal.h"
#include "nn_testing.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define WHAT "load_safetensors"
/* The reference implementation's limit on the header, so that a hostile
 * size cannot make a reader allocate without bound. */
#define HEADER_MAX 100000000u

typedef struct span {
    uint64_t begin, end;
    size_t i;
} span;

typedef struct st_file {
    const char *path;
    const unsigned char *data; /* the byte buffer after the header */
    uint64_t data_len;
    nn__ftensor *ts;
    span *spans;
    size_t n;
    char *names;               /* the store names, after renaming, back to back */
    size_t names_used, names_cap;
    bool torch;                /* the file is in PyTorch's layout */
} st_file;

static const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* A format error in tensor `key`'s entry. */
static nn_status bad(const st_file *F, const char *key, const char *fmt, ...) NN__PRINTF(3, 4);
static nn_status bad(const st_file *F, const char *key, const char *fmt, ...) {
    char nm[NN_NAME_MAX + 1], msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nn__fail(NN_ERR_FORMAT, WHAT ": '%s': tensor '%s': %s", F->path,
                    nn__show_name(nm, sizeof nm, key, strlen(key)), msg);
}

static bool dtype_enc(const char *s, nn__enc *e) {
    static const struct { const char *name; nn__enc enc; } known[] = {
        {"F32", NN__F32LE}, {"F64", NN__F64LE}, {"F16", NN__F16LE}, {"BF16", NN__BF16LE}};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(s, known[i].name) == 0) {
            *e = known[i].enc;
            return true;
        }
    return false;
}

/* A non-negative JSON integer. */
static bool uint_of(const json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

/* One tensor's entry: dtype, shape, data_offsets, and that they agree. */
static nn_status parse_entry(st_file *F, const char *key, json_t *v, nn__ftensor *t, span *sp) {
    if (!json_is_object(v)) return bad(F, key, "its entry is %s, not an object", type_name(v));
    json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"),
           *off = json_object_get(v, "data_offsets");
    const char *missing = !dt ? "dtype" : !sh ? "shape" : !off ? "data_offsets" : NULL;
    if (missing) return bad(F, key, "its entry has no \"%s\"", missing);
    if (!json_is_string(dt)) return bad(F, key, "\"dtype\" is %s, not a string", type_name(dt));
    if (!dtype_enc(json_string_value(dt), &t->enc)) {
        char d[40];
        nn__show_name(d, sizeof d, json_string_value(dt), strlen(json_string_value(dt)));
        return bad(F, key, "dtype \"%s\" is not supported (tapegrad reads F32, F64, F16 and BF16)", d);
    }
    if (!json_is_array(sh)) return bad(F, key, "\"shape\" is %s, not an array", type_name(sh));
    if (json_array_size(sh) > AG_MAX_DIMS)
        return bad(F, key, "the shape has %zu dimensions (at most %d)", json_array_size(sh), AG_MAX_DIMS);
    t->ndim = (int)json_array_size(sh);
    bool empty = false;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t x;
        if (!uint_of(json_array_get(sh, (size_t)d), &x))
            return bad(F, key, "the shape must hold non-negative integers, not %s",
                       type_name(json_array_get(sh, (size_t)d)));
        t->shape[d] = (int64_t)x;
        empty |= x == 0;
    }
    /* numel, unless its bytes would overflow (then it cannot fit anyway). */
    uint64_t numel = 1, es = nn__enc_size(t->enc);
    bool too_big = false;
    for (int d = 0; d < t->ndim && !empty; d++) {
        uint64_t x = (uint64_t)t->shape[d];
        if (numel > UINT64_MAX / 8 / x) too_big = true;
        else numel *= x;
    }
    if (empty) numel = 0;
    if (!json_is_array(off) || json_array_size(off) != 2 || !uint_of(json_array_get(off, 0), &sp->begin) ||
        !uint_of(json_array_get(off, 1), &sp->end))
        return bad(F, key, "\"data_offsets\" must be two non-negative integers [begin, end]");
    unsigned long long b0 = sp->begin, b1 = sp->end;
    if (b0 > b1) return bad(F, key, "data_offsets [%llu, %llu] end before they begin", b0, b1);
    if (b1 > F->data_len)
        return bad(F, key, "data_offsets [%llu, %llu] reach past the %llu data bytes (truncated or corrupt)", b0,
                   b1, (unsigned long long)F->data_len);
    char sh_s[128];
    ag_format_shape(sh_s, sizeof sh_s, t->ndim, t->shape);
    if (too_big)
        return bad(F, key, "its shape %s of %s needs more bytes than the file has", sh_s, json_string_value(dt));
    if (numel * es != b1 - b0)
        return bad(F, key, "data_offsets [%llu, %llu] span %llu bytes, but its shape %s of %s needs %llu", b0, b1,
                   b1 - b0, sh_s, json_string_value(dt), (unsigned long long)(numel * es));
    t->numel = (int64_t)numel;
    t->data = F->data + sp->begin;
    return NN_OK;
}

static int by_offset(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* That the tensors' bytes tile the data exactly: no overlap, no hole. */
static nn_status check_coverage(st_file *F) {
    span *s = F->spans;
    if (F->n) qsort(s, F->n, sizeof *s, by_offset);
    uint64_t pos = 0;
    char a[NN_NAME_MAX + 1], b[NN_NAME_MAX + 1];
    for (size_t k = 0; k < F->n; k++) {
        const nn__ftensor *t = &F->ts[s[k].i];
        if (s[k].begin < pos)
            return nn__fail(NN_ERR_FORMAT, WHAT ": '%s': the bytes of tensors '%s' [%llu, %llu) and '%s' [%llu, "
                            "%llu) overlap", F->path, nn__show_name(a, sizeof a, F->ts[s[k - 1].i].fname,
                            F->ts[s[k - 1].i].fnlen), (unsigned long long)s[k - 1].begin,
                            (unsigned long long)s[k - 1].end, nn__show_name(b, sizeof b, t->fname, t->fnlen),
                            (unsigned long long)s[k].begin, (unsigned long long)s[k].end);
        if (s[k].begin > pos)
            return nn__fail(NN_ERR_FORMAT, WHAT ": '%s': data bytes [%llu, %llu) belong to no tensor (the data "
                            "must be covered exactly)", F->path, (unsigned long long)pos,
                            (unsigned long long)s[k].begin);
        pos = s[k].end;
    }
    if (pos != F->data_len)
        return nn__fail(NN_ERR_FORMAT, WHAT ": '%s': the last %llu of the %llu data bytes belong to no tensor "
                        "(the data must be covered exactly)", F->path, (unsigned long long)(F->data_len - pos),
                        (unsigned long long)F->data_len);
    return NN_OK;
}

/* "__metadata__": strings only; its layout must be the one asked for. */
static nn_status check_metadata(st_file *F, json_t *meta, nn_layout want) {
    if (!json_is_object(meta))
        return nn__fail(NN_ERR_FORMAT, WHAT ": '%s': \"__metadata__\" is %s, not an object", F->path,
                        type_name(meta));
    const char *k;
    json_t *v;
    char nm[64];
    json_object_foreach(meta, k, v) {
        if (!json_is_string(v))
            return nn__fail(NN_ERR_FORMAT, WHAT ": '%s': \"__metadata__\" value \"%s\" is %s, not a string",
                            F->path, nn__show_name(nm, sizeof nm, k, strlen(k)), type_name(v));
    }
    const char *layout = json_string_value(json_object_get(meta, "layout")),
               *format = json_string_value(json_object_get(meta, "format"));
    nn_layout have = want;
    const char *why = NULL;
    if (layout) {
        if (strcmp(layout, "tapegrad") == 0) have = NN_LAYOUT_TAPEGRAD;
        else if (strcmp(layout, "pytorch") == 0) have = NN_LAYOUT_PYTORCH;
        else
            return nn__fail(NN_ERR_MISMATCH, WHAT ": '%s': unknown layout \"%s\" in \"__metadata__\" (tapegrad "
                            "knows \"tapegrad\" and \"pytorch\")", F->path,
                            nn__show_name(nm, sizeof nm, layout, strlen(layout)));
        why = "its metadata says \"layout\"";
    } else if (format && strcmp(format, "pt") == 0) {
        have = NN_LAYOUT_PYTORCH;
        why = "its metadata says \"format\": \"pt\"";
    }
    if (have != want)
        return nn__fail(NN_ERR_MISMATCH, WHAT ": '%s': the file is in %s layout (%s); load it with .layout = %s",
                        F->path, have == NN_LAYOUT_PYTORCH ? "PyTorch's" : "tapegrad's", why,
                        have == NN_LAYOUT_PYTORCH ? "NN_LAYOUT_PYTORCH" : "NN_LAYOUT_TAPEGRAD");
    F->torch = want == NN_LAYOUT_PYTORCH;
    return NN_OK;
}

/* The header's object: metadata, then every tensor, then the coverage. */
static nn_status parse_header(st_file *F, json_t *root, const nn_safetensors_opts *o) {
    if (!json_is_object(root))
        return nn__fail(NN_ERR_FORMAT, WHAT ": '%s': the header is %s, not an object", F->path, type_name(root));
    size_t n = json_object_size(root), grow = 0;
    json_t *meta = json_object_get(root, "__metadata__");
    nn_status s = meta ? check_metadata(F, meta, o->layout) : NN_OK;
    if (!meta) F->torch = o->layout == NN_LAYOUT_PYTORCH;
    if (s != NN_OK) return s;
    if (meta) n--;
    for (size_t i = 0; i < o->n_renames; i++) {
        size_t a = strlen(o->renames[i].ours), b = strlen(o->renames[i].theirs);
        if (a > b && a - b > grow) grow = a - b;
    }
    F->ts = calloc(n ? n : 1, sizeof *F->ts);
    F->spans = calloc(n ? n : 1, sizeof *F->spans);
    F->names_cap = json_object_size(root) * (grow + 1) + 1;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) F->names_cap += strlen(key);
    F->names = malloc(F->names_cap);
    if (!F->ts || !F->spans || !F->names) return nn__fail(NN_ERR_MEMORY, WHAT ": out of memory");
    json_object_foreach(root, key, v) {
        if (strcmp(key, "__metadata__") == 0) continue;
        nn__ftensor *t = &F->ts[F->n];
        t->fname = key;
        t->fnlen = strlen(key);
        char *out = F->names + F->names_used;
        t->nlen = nn__rename(o->renames, o->n_renames, false, key, t->fnlen, out, F->names_cap - F->names_used);
        if (t->nlen == SIZE_MAX) return nn__fail(NN_ERR_MEMORY, WHAT ": internal: rename buffer");
        t->name = out;
        F->names_used += t->nlen + 1;
        F->spans[F->n].i = F->n;
        s = parse_entry(F, key, v, t, &F->spans[F->n]);
        if (s != NN_OK) return s;
        F->n++;
    }
    return check_coverage(F);
}

nn_status nn__load_safetensors_buffer(nn_params *ps, const char *path, const unsigned char *buf, size_t len,
                                      const nn_safetensors_opts *opts) {
    nn_safetensors_opts o = opts ? *opts : (nn_safetensors_opts){0};
    nn_status s = nn__renames_check(WHAT, o.renames, o.n_renames);
    if (s != NN_OK) return s;
    if (len < 8)
        return nn__fail(NN_ERR_FORMAT, WHAT ": '%s': truncated: %zu bytes, the header size needs 8", path, len);
    uint64_t hlen = nn__ld_le64(buf);
    if (hlen > len - 8)
        return nn__fail(NN_ERR_FORMAT, WHAT ": '%s': the header size %llu is larger than the %zu bytes after it "
                        "(truncated or corrupt)", path, (unsigned long long)hlen, len - 8);
    if (hlen > HEADER_MAX)
        return nn__fail(NN_ERR_FORMAT, WHAT ": '%s': the header size %llu is over the limit of %u bytes", path,
                        (unsigned long long)hlen, HEADER_MAX);
    if (hlen == 0 || buf[8] != '{')
        return nn__fail(NN_ERR_FORMAT, WHAT ": '%s': the header must start with '{' (not a safetensors file?)",
                        path);
    json_error_t err;
    json_t *root = json_loadb((const char *)buf + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        char text[sizeof err.text];
        nn__show_name(text, sizeof text, err.text, strlen(err.text));
        if (json_error_code(&err) == json_error_duplicate_key)
            return nn__fail(NN_ERR_FORMAT, WHAT ": '%s': a name appears twice in the header (%s, line %d, "
                            "column %d)", path, text, err.line, err.column);
        if (json_error_code(&err) == json_error_out_of_memory)
            return nn__fail(NN_ERR_MEMORY, WHAT ": '%s': out of memory parsing the header", path);
        return nn__fail(NN_ERR_FORMAT, WHAT ": '%s': the header is not valid JSON: %s (line %d, column %d)", path,
                        text, err.line, err.column);
    }
    st_file F = {.path = path, .data = buf + 8 + hlen, .data_len = len - 8 - hlen};
    bool *seen = calloc(nn_params_count(ps) + 1, sizeof *seen);
    s = seen ? parse_header(&F, root, &o) : nn__fail(NN_ERR_MEMORY, WHAT ": out of memory");
    if (s == NN_OK) s = nn__match(WHAT, path, F.ts, F.n, ps, &o.load, F.torch, seen);
    if (s == NN_OK) nn__store_values(F.ts, F.n, ps, &o.load, seen); /* everything checked */
    free(seen);
    free(F.names);
    free(F.spans);
    free(F.ts);
    json_decref(root);
    return s;
}

nn_status nn_load_safetensors(nn_params *ps, const char *path, const nn_safetensors_opts *opts) {
    if (!ps || !path) return nn__fail(NN_ERR_NULL, WHAT ": %s is NULL", !ps ? "store" : "path");
    unsigned char *buf;
    size_t len;
    nn_status s = nn__read_file(WHAT, path, opts ? opts->load.max_bytes : 0, &buf, &len);
    if (s != NN_OK) return s;
    s = nn__load_safetensors_buffer(ps, path, buf, len, opts);
    free(buf);
    return s;
}

bool nn_safetensors_available(void) { return true; }

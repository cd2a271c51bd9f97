/* Tensors: creation, access, names, detach, parameters and the seeded
 * random generator. */
#include "error.h"
#include "node.h"
#include "op.h"
#include "record.h"
#include "shape.h"
#include "tape.h"
#include "scalar_path.h"

#include <stdlib.h>


/* ------------------------------------------------------------ creation */

static ag_tensor *new_leaf(ag_tape *t, const char *op, ag_dtype dtype, int ndim,
                           const int64_t *shape) {
    if (!t || t->err != AG_OK) return NULL;
    if (ndim > 0 && !shape) return ag__error_fail(t, AG_ERR_NULL, op, "shape is NULL");
    return ag__record_node_as(t, op, AG_OP_LEAF, dtype, ndim, shape, 0, NULL);
}

ag_tensor *ag_tensor_new(ag_tape *t, ag_dtype dtype, int ndim, const int64_t *shape,
                         const void *data) {
    ag_tensor *x = new_leaf(t, "tensor_new", dtype, ndim, shape);
    if (!x) return NULL;
    size_t bytes = (size_t)ag__numel(x) * ag__elsize(dtype);
    if (data) memcpy(ag__val(x), data, bytes);
    else memset(ag__val(x), 0, bytes);
    return x;
}

ag_tensor *ag_from_doubles(ag_tape *t, ag_dtype dtype, int ndim, const int64_t *shape,
                           const double *values) {
    if (t && t->err == AG_OK && !values) return ag__error_fail(t, AG_ERR_NULL, "from_doubles", "values is NULL");
    ag_tensor *x = new_leaf(t, "from_doubles", dtype, ndim, shape);
    if (!x) return NULL;
    void *v = ag__val(x);
    for (int64_t i = 0, n = ag__numel(x); i < n; i++) ag__st(v, dtype, i, values[i]);
    return x;
}

/* ag_full under the name of the function the caller called. */
static ag_tensor *fill(ag_tape *t, const char *op, ag_dtype dtype, int ndim, const int64_t *shape,
                       double value) {
    ag_tensor *x = new_leaf(t, op, dtype, ndim, shape);
    if (!x) return NULL;
    void *v = ag__val(x);
    for (int64_t i = 0, n = ag__numel(x); i < n; i++) ag__st(v, dtype, i, value);
    return x;
}

ag_tensor *ag_full(ag_tape *t, ag_dtype dtype, int ndim, const int64_t *shape, double value) {
    return fill(t, "full", dtype, ndim, shape, value);
}

ag_tensor *ag_zeros(ag_tape *t, ag_dtype dtype, int ndim, const int64_t *shape) {
    return fill(t, "zeros", dtype, ndim, shape, 0.0);
}

ag_tensor *ag_ones(ag_tape *t, ag_dtype dtype, int ndim, const int64_t *shape) {
    return fill(t, "ones", dtype, ndim, shape, 1.0);
}

ag_tensor *ag_arange(ag_tape *t, ag_dtype dtype, double start, double stop, double step) {
    if (!t || t->err != AG_OK) return NULL;
    if (step == 0 || !isfinite(start) || !isfinite(stop) || !isfinite(step))
        return ag__error_fail(t, AG_ERR_ARG, "arange", "bad range start %g stop %g step %g", start, stop, step);
    double count = ceil((stop - start) / step);
    /* 2^63 and up (or inf, when stop - start overflows) is no int64. */
    if (!(count < 0x1p63))
        return ag__error_fail(t, AG_ERR_SHAPE, "arange", "start %g stop %g step %g gives %g elements, "
                              "more than a tensor can hold (2^63 - 1)", start, stop, step, count);
    int64_t n = count > 0 ? (int64_t)count : 0;
    ag_tensor *x = new_leaf(t, "arange", dtype, 1, (int64_t[]){n});
    if (!x) return NULL;
    for (int64_t i = 0; i < n; i++) ag__st(ag__val(x), dtype, i, start + (double)i * step);
    return x;
}

ag_tensor *ag_scalar_of(ag_tape *t, ag_dtype dtype, double value) {
    /* An f64 scalar is a leaf statement on the scalar tape (stmt.h): the
     * push itself when there is room (none after an error or in
     * no-grad mode). */
    if (dtype == AG_F64 && t && ag__stmt_has_room(&t->s)) {
        size_t o;
        double *slot = ag__stmt_push(&t->s, AG_OP_LEAF, 0, &o);
        *slot = value;
        return ag__stmt_of_slot(slot);
    }
    if (dtype == AG_F64 && ag__scalar_tape(t)) {
        ag_tensor *x = ag__stmt_leaf(t, value);
        if (x || t->err != AG_OK) return x;
    }
    /* Scalar programs make a leaf per input: skip the generic recorder. */
    if (ag__scalar_tape(t) && (dtype == AG_F64 || dtype == AG_F32)) {
        ag_tensor *x = ag__scalar_push(t, AG_OP_LEAF, dtype, false, NULL, NULL, (ag_attr){.c = 0});
        if (x) {
            ag__scalar_set(x, dtype, value);
            return x;
        }
    }
    return fill(t, "scalar", dtype, 0, NULL, value);
}

ag_tensor *ag_scalar(ag_tape *t, double value) { return ag_scalar_of(t, AG_F64, value); }

static AG_NOINLINE ag_tensor *requires_grad_slow(ag_tape *t, ag_tensor *x);

ag_tensor *ag_requires_grad(ag_tape *t, ag_tensor *x) {
    /* A leaf statement of t, already requiring or with room in the leaf
     * list (the fast case of scalar programs, one per input). */
    if (x && ag__is_stmt(x) && t && t->err == AG_OK && ag__stmt_tape(x) == t) {
        uint16_t *k = ag__stmt_kindp(x);
        if (ag__sk_op(*k) == AG_OP_LEAF && ((*k & AG_SK_REQ) || t->s.nleaves < t->s.cap_leaves)) {
            if (!(*k & AG_SK_REQ)) {
                t->s.leaves[t->s.nleaves++] = ag__stmt_index(x);
                *k |= AG_SK_REQ;
            }
            return x;
        }
    }
    return requires_grad_slow(t, x);
}

static ag_tensor *requires_grad_slow(ag_tape *t, ag_tensor *x) {
    if (!t || t->err != AG_OK || !x) return x ? NULL : (t ? ag__error_fail(t, AG_ERR_NULL, "requires_grad", "tensor is NULL") : NULL);
    if (!ag__tape_owns(t, x)) return ag__tape_foreign(t, "requires_grad", 0, 1, &x), NULL;
    if (ag__is_stmt(x)) {
        unsigned op = ag__sk_op(ag__stmt_kind(x));
        if (op != AG_OP_LEAF)
            return ag__error_fail(t, AG_ERR_ARG, "requires_grad", "only a leaf can require a gradient "
                                  "(this scalar was made by '%s')", ag__ops[op]->name);
        ag__stmt_require(t, x);
        return t->err == AG_OK ? x : NULL;
    }
    if (!(x->flags & AG_F_LEAF))
        return ag__error_fail(t, AG_ERR_ARG, "requires_grad", "only a leaf can require a gradient "
                        "(this tensor was made by '%s')", ag__op_of(x)->name);
    if (x->ndim == 0) { /* ag_zero_grad's work for the inline gradient */
        x->flags |= AG_F_REQUIRES_GRAD;
        if (x->dtype == AG_F64) x->d.s.grad = 0.0;
        else memset(&x->d.s.grad, 0, sizeof(float)); /* constant sizes: no call */
        return x;
    }
    if (!x->d.t.grad) {
        x->d.t.grad = ag__tape_alloc(t, (size_t)ag__numel(x) * ag__elsize(x->dtype), "requires_grad");
        if (!x->d.t.grad) return NULL;
    }
    x->flags |= AG_F_REQUIRES_GRAD;
    ag_zero_grad(x);
    return x;
}

/* -------------------------------------------------------------- random */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void ag_rng_seed(ag_rng *r, uint64_t seed) {
    if (!r) return;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
    r->has_spare = false;
    r->spare = 0;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t ag_rng_next(ag_rng *r) { /* xoshiro256** */
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double ag_rng_uniform(ag_rng *r) { return (double)(ag_rng_next(r) >> 11) * 0x1.0p-53; }

double ag_rng_normal(ag_rng *r) { /* Marsaglia's polar method */
    if (r->has_spare) {
        r->has_spare = false;
        return r->spare;
    }
    double u, v, s;
    do {
        u = 2.0 * ag_rng_uniform(r) - 1.0;
        v = 2.0 * ag_rng_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double m = sqrt(-2.0 * log(s) / s);
    r->spare = v * m;
    r->has_spare = true;
    return u * m;
}

ag_tensor *ag_uniform(ag_tape *t, ag_dtype dtype, int ndim, const int64_t *shape, double lo,
                      double hi, ag_rng *r) {
    if (t && t->err == AG_OK && !r) return ag__error_fail(t, AG_ERR_NULL, "uniform", "rng is NULL");
    ag_tensor *x = new_leaf(t, "uniform", dtype, ndim, shape);
    if (!x) return NULL;
    for (int64_t i = 0, n = ag__numel(x); i < n; i++)
        ag__st(ag__val(x), dtype, i, lo + (hi - lo) * ag_rng_uniform(r));
    return x;
}

ag_tensor *ag_normal(ag_tape *t, ag_dtype dtype, int ndim, const int64_t *shape, double mean,
                     double stddev, ag_rng *r) {
    if (t && t->err == AG_OK && !r) return ag__error_fail(t, AG_ERR_NULL, "normal", "rng is NULL");
    ag_tensor *x = new_leaf(t, "normal", dtype, ndim, shape);
    if (!x) return NULL;
    for (int64_t i = 0, n = ag__numel(x); i < n; i++)
        ag__st(ag__val(x), dtype, i, mean + stddev * ag_rng_normal(r));
    return x;
}

/* -------------------------------------------------------------- access */

/* A scalar statement (stmt.h) answers every accessor as an f64 0-d tensor. */
ag_dtype ag_dtype_of(const ag_tensor *x) {
    return x ? (ag__is_stmt(x) ? AG_F64 : (ag_dtype)x->dtype) : (ag_dtype)0;
}
int ag_ndim(const ag_tensor *x) { return x && !ag__is_stmt(x) ? x->ndim : 0; }
const int64_t *ag_shape(const ag_tensor *x) { return x && !ag__is_stmt(x) ? ag__shape(x) : NULL; }
int64_t ag_numel(const ag_tensor *x) { return x ? (ag__is_stmt(x) ? 1 : ag__numel(x)) : 0; }

int64_t ag_dim(const ag_tensor *x, int axis) {
    if (!x || ag__is_stmt(x)) return 0;
    int a = ag__shape_axis(axis, x->ndim);
    return a < 0 ? 0 : x->ext->shape[a];
}

double ag_get(const ag_tensor *x, int64_t i) {
    if (x && ag__is_stmt(x)) return i == 0 ? ag__stmt_val(x) : NAN;
    if (!x || i < 0 || i >= ag__numel(x)) return NAN;
    return ag__ld(ag__val((ag_tensor *)x), x->dtype, i);
}

double ag_item(const ag_tensor *x) {
    if (x && ag__is_stmt(x)) return ag__stmt_val(x);
    if (!x || ag__numel(x) != 1) return NAN;
    return ag_get(x, 0);
}

/* An intermediate tensor no sweep has reached (stamp 0): its gradient
 * buffer was never written. */
static bool never_reached(const ag_tensor *x) { return !(x->flags & AG_F_LEAF) && x->epoch == 0; }

double ag_grad_get(const ag_tensor *x, int64_t i) {
    if (x && ag__is_stmt(x)) {
        if (i != 0) return NAN;
        if (!ag__stmt_requires(x)) return 0.0;
        const ag_tape *t = ag__stmt_tape(x);
        return t ? ag__stmt_grad_of(&t->s, ag__stmt_index(x)) : NAN; /* NULL: retired (debug mode) */
    }
    if (!x || i < 0 || i >= ag__numel(x)) return NAN;
    if (!(x->flags & AG_F_REQUIRES_GRAD) || never_reached(x)) return 0.0;
    const void *g = ag__grad((ag_tensor *)x);
    return g ? ag__ld(g, x->dtype, i) : 0.0;
}

double ag_grad_item(const ag_tensor *x) {
    if (x && ag__is_stmt(x)) {
        const ag_tape *t = ag__stmt_tape(x); /* NULL: retired (debug mode) */
        if (!t || !ag__stmt_requires(x)) return t ? 0.0 : NAN;
        return ag__stmt_grad_of(&t->s, ag__stmt_index(x));
    }
    if (!x || ag__numel(x) != 1) return NAN;
    return ag_grad_get(x, 0);
}

const void *ag_data(const ag_tensor *x) {
    if (x && ag__is_stmt(x)) return ag__stmt_valp(x);
    return x ? ag__val((ag_tensor *)x) : NULL;
}

void *ag_data_mut(ag_tensor *x) {
    if (x && ag__is_stmt(x)) return ag__stmt_valp(x);
    if (!x) return NULL;
    /* A view writes its base's storage: a write through it is a write to
     * the base, and counts a version when the base is a parameter. */
    ag_tensor *base = x;
    while (base->flags & AG_F_VIEW) base = base->in[0];
    if (base->flags & AG_F_PARAM) base->ext->version++;
    return ag__val(x);
}

void *ag_grad_data(ag_tensor *x) {
    if (x && ag__is_stmt(x))
        return ag__stmt_requires(x) && ag__stmt_tape(x) ? ag__stmt_grad_ptr(ag__stmt_tape(x), ag__stmt_index(x))
                                                         : NULL;
    if (!x || !(x->flags & AG_F_REQUIRES_GRAD)) return NULL;
    if (never_reached(x)) /* zeros, as ag_grad_get reads it; a sweep overwrites them */
        memset(ag__grad(x), 0, (size_t)ag__numel(x) * ag__elsize(x->dtype));
    return ag__grad(x);
}

ag_status ag_to_doubles(const ag_tensor *x, double *out, int64_t n) {
    if (!x || !out) return AG_ERR_NULL;
    if (ag__is_stmt(x)) {
        if (n < 1) return AG_ERR_ARG;
        out[0] = ag__stmt_val(x);
        return AG_OK;
    }
    if (n < ag__numel(x)) return AG_ERR_ARG;
    for (int64_t i = 0, m = ag__numel(x); i < m; i++) out[i] = ag__ld(ag__val((ag_tensor *)x), x->dtype, i);
    return AG_OK;
}

char *ag_shape_str(const ag_tensor *x, char *buf, size_t size) {
    if (!buf || !size) return buf;
    if (!x) {
        snprintf(buf, size, "(null)");
        return buf;
    }
    return ag_format_shape(buf, size, ag_ndim(x), ag_shape(x));
}

ag_tensor *ag_set_name(ag_tape *t, ag_tensor *x, const char *name) {
    if (!x || !name) return t ? ag__error_fail(t, AG_ERR_NULL, "set_name", "%s is NULL", x ? "name" : "tensor") : NULL;
    size_t len = strlen(name) + 1;
    char *copy;
    if (ag__is_stmt(x)) {
        if (!t) return NULL;
        if (ag__stmt_tape(x) != t)
            return ag__error_fail(t, AG_ERR_ARG, "set_name", "this scalar was recorded on another tape");
        copy = ag__tape_small(t, len);
        if (!copy) return ag__error_fail(t, AG_ERR_MEMORY, "set_name", "tape memory cap reached");
        memcpy(copy, name, len);
        if (!ag__stmt_set_name(t, x, copy))
            return ag__error_fail(t, AG_ERR_MEMORY, "set_name", "tape memory cap reached");
        return x;
    }
    if (x->flags & AG_F_PARAM) {
        copy = realloc((char *)x->ext->name, len);
        if (!copy) {
            ag__error_set_last("set_name: out of memory");
            return NULL;
        }
    } else {
        if (!t) return NULL;
        if (!ag__tape_owns(t, x)) return ag__tape_foreign(t, "set_name", 0, 1, &x), NULL;
        ag_ext *ext = ag__record_ext(t, x);
        copy = ext ? ag__tape_small(t, len) : NULL;
        if (!copy) return ag__error_fail(t, AG_ERR_MEMORY, "set_name", "tape memory cap reached");
    }
    memcpy(copy, name, len);
    x->ext->name = copy;
    return x;
}

const char *ag_name(const ag_tensor *x) {
    if (x && ag__is_stmt(x)) return ag__stmt_name(x);
    return (x && x->ext) ? x->ext->name : NULL;
}

ag_tensor *ag_detach(ag_tape *t, ag_tensor *x) {
    if (x && ag__is_stmt(x) && t && t->err == AG_OK) { /* a constant statement of the same value */
        if (ag__stmt_tape(x) != t)
            return ag__error_fail(t, AG_ERR_ARG, "detach", "this scalar was recorded on another tape");
        return ag_scalar(t, ag__stmt_val(x));
    }
    if (!ag__record_check_inputs(t, "detach", 1, &x)) return t ? ag__error_fail(t, AG_ERR_NULL, "detach", "tensor is NULL") : NULL;
    ag_tensor *d = ag__record_node(t, AG_OP_LEAF, (ag_dtype)x->dtype, 0, NULL, NULL, NULL);
    if (!d) return NULL;
    if (x->ndim == 0) {
        d->d.s.val = x->d.s.val;
        return d;
    }
    ag_ext *ext = ag__record_ext(t, d);
    if (!ext) return NULL;
    *ext = (ag_ext){0};
    memcpy(ext->shape, x->ext->shape, sizeof ext->shape);
    ext->numel = x->ext->numel;
    d->ndim = x->ndim;
    d->d.t.val = x->d.t.val; /* shares the values; no gradient buffer */
    d->d.t.grad = NULL;
    return d;
}

/* ---------------------------------------------------------- parameters */

ag_tensor *ag_param_new(ag_dtype dtype, int ndim, const int64_t *shape, const void *data) {
    if (dtype != AG_F32 && dtype != AG_F64) {
        ag__error_set_last("param_new: unknown dtype %d", (int)dtype);
        return NULL;
    }
    if (ndim < 0 || ndim > AG_MAX_DIMS || (ndim > 0 && !shape)) {
        ag__error_set_last("param_new: bad shape (ndim %d)", ndim);
        return NULL;
    }
    int64_t numel;
    size_t es = ag__elsize(dtype), bytes, total;
    const char *bad = ag__shape_check(ndim, shape, es, &numel, &bytes);
    /* One block: node, ext, values, gradient (each 64-aligned). */
    size_t head = (sizeof(ag_tensor) + sizeof(ag_ext) + 63) & ~(size_t)63;
    if (!ndim) bytes = 0;
    if (!bad && (__builtin_mul_overflow(bytes, 2, &total) || __builtin_add_overflow(total, head + 128, &total)))
        bad = "is too large: its size in bytes does not fit in 63 bits";
    if (bad) {
        char ss[AG_MAX_DIMS * 21 + 4];
        ag__error_set_last("param_new: shape %s (%s) %s", ag_format_shape(ss, sizeof ss, ndim, shape),
                           ag_dtype_name(dtype), bad);
        return NULL;
    }
    unsigned char *block = calloc(1, total);
    if (!block) {
        ag__error_set_last("param_new: out of memory for %lld elements", (long long)numel);
        return NULL;
    }
    ag_tensor *p = (ag_tensor *)block;
    ag_ext *ext = (ag_ext *)(block + sizeof(ag_tensor));
    p->op = AG_OP_LEAF;
    p->dtype = (uint8_t)dtype;
    p->ndim = (uint8_t)ndim;
    p->flags = AG_F_LEAF | AG_F_PARAM | AG_F_REQUIRES_GRAD;
    p->ext = ext;
    for (int i = 0; i < ndim; i++) ext->shape[i] = shape[i];
    ext->numel = numel;
    if (ndim) {
        p->d.t.val = block + head;
        p->d.t.grad = block + head + ((bytes + 63) & ~(size_t)63);
    }
    if (data) memcpy(ag__val(p), data, ndim ? bytes : es);
    return p;
}

ag_tensor *ag_param_scalar(ag_dtype dtype, double value) {
    ag_tensor *p = ag_param_new(dtype, 0, NULL, NULL);
    if (p) ag__st(ag__val(p), dtype, 0, value);
    return p;
}

void ag_param_free(ag_tensor *p) {
    if (!p || ag__is_stmt(p) || !(p->flags & AG_F_PARAM)) return;
    free((char *)p->ext->name);
    free(p);
}

bool ag_is_param(const ag_tensor *x) { return x && !ag__is_stmt(x) && (x->flags & AG_F_PARAM); }

uint32_t ag_param_version(const ag_tensor *p) {
    return (p && !ag__is_stmt(p) && (p->flags & AG_F_PARAM)) ? p->ext->version : 0;
}

void ag_zero_grad(ag_tensor *x) {
    if (x && ag__is_stmt(x)) {
        if (!ag__stmt_tape(x)) return; /* retired (debug mode) */
        ag_stape *s = &ag__stmt_tape(x)->s;
        size_t i = ag__stmt_index(x);
        if (ag__stmt_requires(x) && i < s->adj_valid) s->adj[i] = 0.0;
        return;
    }
    if (!x || !(x->flags & AG_F_REQUIRES_GRAD)) return;
    void *g = ag__grad(x);
    if (g) memset(g, 0, (size_t)ag__numel(x) * ag__elsize(x->dtype));
}

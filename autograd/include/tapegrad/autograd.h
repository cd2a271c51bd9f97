/* tapegrad — reverse-mode automatic differentiation on a tape.
 *
 * Everything a program needs is declared here, with the prefix ag_.
 *
 * The model in five lines:
 *   - A tape (ag_tape) records every op in creation order. Creation order is a
 *     topological order, so backward is one reverse walk over the tape.
 *   - A tensor (ag_tensor) is a node on the tape: dtype f32 or f64, 0 to
 *     AG_MAX_DIMS dimensions, row-major contiguous. A 0-d tensor is a scalar;
 *     an f64 scalar is recorded as a compact statement (about 22 bytes: its
 *     value, and per input the local partial and the input's index), an f32
 *     one as a node with its value inline. Both are ag_tensor handles that
 *     every function takes.
 *   - Parameters (ag_param_*) are tensors that live off the tape and survive
 *     ag_tape_reset(); their gradients accumulate until ag_zero_grad().
 *   - Every op takes the tape first. Bad input returns NULL and leaves a sticky
 *     error on the tape; an op given NULL returns NULL without touching the
 *     first error, so a chain of calls fails once, at the first mistake.
 *   - ag_backward() applies each op's chain rule in reverse tape order and adds
 *     into the inputs' gradients: a node used on several paths gets the sum.
 *
 * Gradients at points where a function is not differentiable (documented per
 * op below, and tested in tests/test_ops.c, test case "kinks"):
 *   relu'(0) = 0            abs'(0) = 0             leaky_relu'(0) = slope
 *   sqrt'(0) = +inf         clamp: 1 on [lo, hi] inclusive, 0 outside
 *   maximum/minimum at a tie a == b: the gradient is split, 1/2 to each side
 *   pow(a, b): d/da = b·a^(b-1) (so 0 at a = 0 when b > 1, +-inf when b < 1);
 *     d/db = a^b·log(a) for a > 0, 0 for a = 0, NaN for a < 0 (the value is
 *     real only for integer b there, and has no real derivative in b).
 *   atan2(y, x) at the origin: both partials NaN (0/0), as PyTorch.
 */
#ifndef TAPEGRAD_AUTOGRAD_H
#define TAPEGRAD_AUTOGRAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AG_VERSION_STRING "0.1.0"

/* Most dimensions a tensor can have. */
#define AG_MAX_DIMS 6

/* Pass as `axis` to a reduction to reduce over all elements. */
#define AG_ALL (-1000)

/* AG_SHAPE(3, 4) expands to `2, (const int64_t[]){3, 4}`: the (ndim, shape)
 * pair that creation and shape functions take. */
#define AG_SHAPE(...)                                                        \
    (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),         \
        (const int64_t[]){__VA_ARGS__}

typedef enum ag_dtype { AG_F32 = 1, AG_F64 = 2 } ag_dtype;

/* Error codes. ag_status values are returned by functions that do not return
 * a tensor, and stored on the tape as the sticky error. */
typedef enum ag_status {
    AG_OK = 0,
    AG_ERR_NULL,     /* a required argument was NULL */
    AG_ERR_SHAPE,    /* shapes do not fit the op */
    AG_ERR_AXIS,     /* an axis or index is out of range */
    AG_ERR_DTYPE,    /* operands have different dtypes, or a bad dtype */
    AG_ERR_MEMORY,   /* the tape's memory cap was reached or malloc failed */
    AG_ERR_ARG,      /* another invalid argument */
    AG_ERR_STATE,    /* wrong state: no grad recorded, value changed since recorded */
    AG_ERR_NONFINITE, /* anomaly mode: an op made a NaN or infinity (ag_tape_set_anomaly) */
} ag_status;

typedef struct ag_tape ag_tape;
typedef struct ag_node ag_tensor;

/* Name of a status code, e.g. "shape mismatch". */
const char *ag_status_str(ag_status s);

/* ------------------------------------------------------------------ tape */

/* A new empty tape. `mem_cap_bytes` limits the memory the tape may reserve
 * (0 = no limit); reaching it makes the op that needed memory fail with
 * AG_ERR_MEMORY. Returns NULL if malloc fails. */
ag_tape *ag_tape_new(size_t mem_cap_bytes);

/* Frees the tape and every tensor recorded on it. NULL is a no-op. */
void ag_tape_free(ag_tape *t);

/* Drops every tensor recorded since the last reset in O(1) and keeps the
 * memory for reuse; clears the sticky error. Parameters are not affected.
 * Tensors recorded on the tape must not be used after this (see
 * ag_tape_set_debug for finding such a use). */
void ag_tape_reset(ag_tape *t);

/* Sets the memory cap (0 = none). Memory already reserved is kept. */
void ag_tape_set_mem_cap(ag_tape *t, size_t mem_cap_bytes);

/* Debug mode, for finding a tensor used after the reset of its tape.
 * Release contract: a tensor recorded on a tape must not be used after
 * ag_tape_reset (or ag_tape_free) of that tape; the handle is a pointer into
 * memory the next recording reuses, so such a use reads whatever is there
 * now and no cheap check can tell. In debug mode a reset does not reuse
 * memory: it retires it (keeping about the last 64 MiB retired, then
 * freeing the oldest), so a later op given a stale tensor fails cleanly
 * with AG_ERR_STATE ("recorded on this tape before its last ag_tape_reset")
 * or, in a build with AddressSanitizer, where retired memory is poisoned,
 * stops with an ASan report whose stack names the op. Memory is then
 * allocated afresh after every reset (slower; ag_tape_get_stats shows it).
 * A tape starts in debug mode when the environment variable
 * TAPEGRAD_DEBUG_TAPE is set to anything but "0" when ag_tape_new runs, so
 * a whole test suite can turn it on. Turning it off frees what it retired. */
void ag_tape_set_debug(ag_tape *t, bool on);
bool ag_tape_debug(const ag_tape *t);

typedef struct ag_tape_stats {
    size_t nodes;          /* recorded nodes since the last reset, scalars included */
    size_t scalars;        /* of those, f64 scalars recorded as compact statements */
    size_t bytes_in_use;   /* bytes used since the last reset */
    size_t peak_bytes;     /* highest bytes_in_use since the tape was made */
    size_t bytes_reserved; /* bytes held from malloc (kept across resets) */
    size_t allocations;    /* malloc calls the tape has made, ever */
} ag_tape_stats;

/* Current statistics of the tape. */
ag_tape_stats ag_tape_get_stats(const ag_tape *t);

/* The sticky error: its code (AG_OK when none) and its message, which names
 * the op and its operands' shapes (NULL when none). */
ag_status ag_tape_status(const ag_tape *t);
const char *ag_tape_error(const ag_tape *t);

/* Sets the sticky error, as an op does on bad input: "op: message". For
 * code built on the engine (layers, losses) whose own checks fail. Keeps
 * an earlier error if there is one (and returns its code); AG_OK is taken
 * as AG_ERR_ARG. */
ag_status ag_tape_fail(ag_tape *t, ag_status code, const char *op, const char *message);

/* Clears the sticky error so the tape can be used again. */
void ag_tape_clear_error(ag_tape *t);

/* No-grad mode: while the count of begins exceeds the count of ends, ops
 * compute their values but record nothing on the node list and allocate no
 * gradient buffers, for inference; a backward from such a value fails. */
void ag_no_grad_begin(ag_tape *t);
void ag_no_grad_end(ag_tape *t);
bool ag_grad_enabled(const ag_tape *t);

/* Anomaly mode, like torch.autograd.detect_anomaly (off by default, and
 * free when off). While on, every op's output is checked for NaN and
 * infinity as it is made (forward pass), and in ag_backward and ag_grad the
 * gradient each op's rule gives its inputs (backward pass); with
 * create_graph the recorded backward's nodes are checked as they are made.
 * The first non-finite value sets the sticky error AG_ERR_NONFINITE, which
 * names the op, the pass (forward, or backward through which op's rule),
 * the node's name (in the forward pass the new node has none yet: its
 * operands' names), the operand shapes and the first bad element; the op
 * returns NULL (a backward returns the error) and ag_tape_anomaly_report
 * describes it. Leaves and parameters are not checked, but an operand that
 * is already non-finite is pointed out. A mask built with -inf (causal
 * attention) trips it: use a large negative number instead. Scalar
 * programs record through the generic path while it is on (slower). */
void ag_tape_set_anomaly(ag_tape *t, bool on);
bool ag_tape_anomaly(const ag_tape *t);

typedef struct ag_anomaly_report {
    bool found;       /* anomaly mode set the tape's error */
    bool backward;    /* false: an op's output in the forward pass */
    const char *op;   /* the op that made the value, or whose backward rule made the gradient */
    const char *name; /* forward: NULL; backward: the name of the node whose gradient it is */
    int64_t index;    /* the first non-finite element, flat row-major */
    double value;     /* its value (NaN, +inf or -inf) */
} ag_anomaly_report;

/* The anomaly that set the tape's error; found is false when there is
 * none (cleared with the error, by ag_tape_clear_error and ag_tape_reset). */
ag_anomaly_report ag_tape_anomaly_report(const ag_tape *t);

/* The error of the last failed tape-less call in this thread (parameter
 * functions here, and nn's functions: nn_last_error() is the same message),
 * or NULL. */
const char *ag_last_error(void);

/* Sets this thread's last error to message, for libraries built on
 * tapegrad (nn/ reports through it), as ag_tape_fail does for a tape. */
void ag_set_last_error(const char *message);

/* -------------------------------------------------------------- tensors */

/* A tensor of the given shape on the tape. `data` holds numel values of the
 * dtype's C type (float or double), row-major, or is NULL for zeros. The
 * tensor is a constant: call ag_requires_grad() to make it a leaf that
 * receives a gradient. */
ag_tensor *ag_tensor_new(ag_tape *t, ag_dtype dtype, int ndim,
                         const int64_t *shape, const void *data);

/* Like ag_tensor_new, from doubles converted to the dtype. */
ag_tensor *ag_from_doubles(ag_tape *t, ag_dtype dtype, int ndim,
                           const int64_t *shape, const double *values);

ag_tensor *ag_zeros(ag_tape *t, ag_dtype dtype, int ndim, const int64_t *shape);
ag_tensor *ag_ones(ag_tape *t, ag_dtype dtype, int ndim, const int64_t *shape);
ag_tensor *ag_full(ag_tape *t, ag_dtype dtype, int ndim, const int64_t *shape,
                   double value);

/* 1-D tensor start, start+step, ... while < stop (> stop for step < 0). */
ag_tensor *ag_arange(ag_tape *t, ag_dtype dtype, double start, double stop,
                     double step);

/* A 0-d f64 scalar constant; ag_scalar_of picks the dtype. */
ag_tensor *ag_scalar(ag_tape *t, double value);
ag_tensor *ag_scalar_of(ag_tape *t, ag_dtype dtype, double value);

/* Marks a leaf (a tensor made by a creation function) as requiring a
 * gradient, allocating its zeroed gradient buffer. Returns x, or NULL with a
 * tape error if x is not a leaf. */
ag_tensor *ag_requires_grad(ag_tape *t, ag_tensor *x);

/* Random numbers. The generator (xoshiro256** seeded through splitmix64)
 * gives the same uniform numbers on every machine; normal numbers use the
 * polar method (sqrt and log from libm). */
typedef struct ag_rng {
    uint64_t s[4];
    bool has_spare;
    double spare;
} ag_rng;

void ag_rng_seed(ag_rng *r, uint64_t seed);
uint64_t ag_rng_next(ag_rng *r);
double ag_rng_uniform(ag_rng *r); /* in [0, 1), 53 random bits */
double ag_rng_normal(ag_rng *r);  /* mean 0, standard deviation 1 */

ag_tensor *ag_uniform(ag_tape *t, ag_dtype dtype, int ndim, const int64_t *shape,
                      double lo, double hi, ag_rng *r);
ag_tensor *ag_normal(ag_tape *t, ag_dtype dtype, int ndim, const int64_t *shape,
                     double mean, double stddev, ag_rng *r);

/* Shape and type. All accept NULL (returning 0, NULL or 0). */
ag_dtype ag_dtype_of(const ag_tensor *x);
int ag_ndim(const ag_tensor *x);
const int64_t *ag_shape(const ag_tensor *x); /* NULL for a 0-d tensor */
int64_t ag_dim(const ag_tensor *x, int axis); /* negative axes count from the end */
int64_t ag_numel(const ag_tensor *x);

/* Values, read as doubles. ag_item needs exactly one element; ag_get takes a
 * flat row-major index. Out of range or NULL gives NaN. */
double ag_item(const ag_tensor *x);
double ag_get(const ag_tensor *x, int64_t i);

/* The gradient after backward, read as doubles (NaN for NULL or an index
 * out of range). A gradient that no backward has reached reads as 0: a
 * leaf's or parameter's starts at 0 and accumulates; an intermediate
 * tensor's is the one the last backward that reached it gave (0 if none
 * did, and 0 for a tensor that requires no gradient). */
double ag_grad_item(const ag_tensor *x);
double ag_grad_get(const ag_tensor *x, int64_t i);

/* Raw storage: float* for AG_F32, double* for AG_F64. ag_data_mut is the
 * only way to write a parameter's values: it counts a new version, so a
 * backward through values recorded before the write is refused (see
 * ag_backward); on a view (ag_reshape) it writes the viewed storage and
 * counts the version on the parameter viewed. ag_grad_data is NULL when x
 * has no gradient buffer; for an f64 scalar (a statement) it points into
 * the tape's adjoint array, valid until the next backward or reset. */
const void *ag_data(const ag_tensor *x);
void *ag_data_mut(ag_tensor *x);
void *ag_grad_data(ag_tensor *x);

/* Copies numel values out as doubles. Returns AG_OK or an error. */
ag_status ag_to_doubles(const ag_tensor *x, double *out, int64_t n);

/* Names: any tensor can carry one; errors, traces and graph exports use it.
 * The string is copied (into the tape, or the parameter). */
ag_tensor *ag_set_name(ag_tape *t, ag_tensor *x, const char *name);
const char *ag_name(const ag_tensor *x); /* NULL when unnamed */

/* Writes "[3, 4]" (or "[]" for a scalar) into buf; returns buf. */
char *ag_shape_str(const ag_tensor *x, char *buf, size_t size);

/* The same for a shape given as (ndim, shape), e.g. one read from a file
 * before any tensor exists: every error message spells shapes this way. */
char *ag_format_shape(char *buf, size_t size, int ndim, const int64_t *shape);

/* "f32" or "f64" ("unknown" for anything else), as error messages write
 * dtypes. */
const char *ag_dtype_name(ag_dtype dtype);

/* A constant with x's values, cut from the graph: no gradient flows through
 * it. Scalars are copied; tensors share x's values. */
ag_tensor *ag_detach(ag_tape *t, ag_tensor *x);

/* ----------------------------------------------------------- parameters */

/* A parameter: a leaf that lives off the tape (malloc'd), survives
 * ag_tape_reset(), and always requires a gradient. Values are zero, or
 * copied from `data` (the dtype's C type). Free with ag_param_free. On
 * failure returns NULL and ag_last_error() says why. */
ag_tensor *ag_param_new(ag_dtype dtype, int ndim, const int64_t *shape,
                        const void *data);
ag_tensor *ag_param_scalar(ag_dtype dtype, double value);
void ag_param_free(ag_tensor *p);
bool ag_is_param(const ag_tensor *x);

/* Sets a parameter's (or tape leaf's) gradient to zero. */
void ag_zero_grad(ag_tensor *x);

/* The parameter's version: how many times ag_data_mut was called on it. */
uint32_t ag_param_version(const ag_tensor *p);

/* ------------------------------------------------------------------ ops
 *
 * Every op takes the tape first, returns a new tensor, and has a gradient
 * for f32 and f64. Operands must share a dtype. Binary elementwise ops
 * broadcast like NumPy: shapes are aligned at their last dimension, and a
 * dimension of 1 (or a missing one) stretches to the other's size. */

/* Elementwise binary ops, with broadcasting. */
ag_tensor *ag_add(ag_tape *t, ag_tensor *a, ag_tensor *b);
ag_tensor *ag_sub(ag_tape *t, ag_tensor *a, ag_tensor *b);
ag_tensor *ag_mul(ag_tape *t, ag_tensor *a, ag_tensor *b);
ag_tensor *ag_div(ag_tape *t, ag_tensor *a, ag_tensor *b);
ag_tensor *ag_pow(ag_tape *t, ag_tensor *a, ag_tensor *b);     /* a^b, see kinks above */
ag_tensor *ag_maximum(ag_tape *t, ag_tensor *a, ag_tensor *b); /* ties split the gradient */
ag_tensor *ag_minimum(ag_tape *t, ag_tensor *a, ag_tensor *b);
/* atan2(y, x): the angle of the point (x, y) in (-pi, pi], like C's atan2.
 * d/dy = x/(x²+y²), d/dx = -y/(x²+y²); both NaN at the origin (0/0, as
 * PyTorch). */
ag_tensor *ag_atan2(ag_tape *t, ag_tensor *y, ag_tensor *x);

/* Scalar-constant forms: x + c, c - x, x * c, c / x, x^c, c^x. */
ag_tensor *ag_add_c(ag_tape *t, ag_tensor *x, double c);
ag_tensor *ag_rsub_c(ag_tape *t, double c, ag_tensor *x);
ag_tensor *ag_mul_c(ag_tape *t, ag_tensor *x, double c);
ag_tensor *ag_rdiv_c(ag_tape *t, double c, ag_tensor *x);
ag_tensor *ag_pow_c(ag_tape *t, ag_tensor *x, double c); /* d/dx = c·x^(c-1) */
ag_tensor *ag_rpow_c(ag_tape *t, double c, ag_tensor *x); /* c^x, needs c > 0 */

/* Elementwise unary ops. */
ag_tensor *ag_neg(ag_tape *t, ag_tensor *x);
ag_tensor *ag_exp(ag_tape *t, ag_tensor *x);
ag_tensor *ag_log(ag_tape *t, ag_tensor *x);     /* log(0) = -inf, d = 1/x */
ag_tensor *ag_sqrt(ag_tape *t, ag_tensor *x);    /* sqrt'(0) = +inf */
ag_tensor *ag_abs(ag_tape *t, ag_tensor *x);     /* abs'(0) = 0 */
ag_tensor *ag_sin(ag_tape *t, ag_tensor *x);
ag_tensor *ag_cos(ag_tape *t, ag_tensor *x);
ag_tensor *ag_tan(ag_tape *t, ag_tensor *x);
ag_tensor *ag_tanh(ag_tape *t, ag_tensor *x);
ag_tensor *ag_sigmoid(ag_tape *t, ag_tensor *x); /* 1/(1+e^-x), stable for large |x| */
ag_tensor *ag_relu(ag_tape *t, ag_tensor *x);    /* relu'(0) = 0 */
ag_tensor *ag_leaky_relu(ag_tape *t, ag_tensor *x, double slope); /* x<0: slope·x; d at 0 = slope */
ag_tensor *ag_gelu(ag_tape *t, ag_tensor *x);    /* exact: x·Φ(x), Φ the normal CDF */
ag_tensor *ag_softplus(ag_tape *t, ag_tensor *x); /* log(1+e^x), stable */
ag_tensor *ag_square(ag_tape *t, ag_tensor *x);
ag_tensor *ag_erf(ag_tape *t, ag_tensor *x);      /* d = 2/sqrt(pi)·e^(-x²), to any order */
ag_tensor *ag_clamp(ag_tape *t, ag_tensor *x, double lo, double hi); /* d = 1 on [lo,hi] */

/* where(mask, a, b): a where mask != 0, else b; all three broadcast. The
 * mask gets no gradient. */
ag_tensor *ag_where(ag_tape *t, ag_tensor *mask, ag_tensor *a, ag_tensor *b);

/* Reductions over one axis (negative counts from the end) or over all
 * elements (axis = AG_ALL). keepdims keeps the reduced axis with size 1.
 * Reducing an empty axis fails with AG_ERR_SHAPE, except for sum (0). A 0-d
 * tensor reduces along axis 0 or -1 (its one element), as in PyTorch and as
 * softmax takes it. */
ag_tensor *ag_sum(ag_tape *t, ag_tensor *x, int axis, bool keepdims);
ag_tensor *ag_mean(ag_tape *t, ag_tensor *x, int axis, bool keepdims);
/* max and min: at a tie (several elements equal to the extreme) the
 * gradient is split evenly among them, so it still sums to the upstream
 * gradient (PyTorch's amax/amin do the same). */
ag_tensor *ag_max(ag_tape *t, ag_tensor *x, int axis, bool keepdims);
ag_tensor *ag_min(ag_tape *t, ag_tensor *x, int axis, bool keepdims);
/* log(sum(exp(x))) computed as m + log(sum(exp(x - m))) with m the max, so
 * it is finite for any finite x; d/dx_i = softmax(x)_i. */
ag_tensor *ag_logsumexp(ag_tape *t, ag_tensor *x, int axis, bool keepdims);
/* Variance sum((x - mean)^2) / (len - correction): correction 0 is the
 * population variance, 1 the unbiased sample variance (PyTorch's default).
 * d/dx_i = 2(x_i - mean)/(len - correction). Fails if len <= correction. */
ag_tensor *ag_var(ag_tape *t, ag_tensor *x, int axis, bool keepdims, int correction);

/* ---------------------------------------------------------------- linalg */

/* Matrix product with NumPy's matmul rules. a (..., m, k) @ b (..., k, n)
 * -> (..., m, n): the leading (batch) dimensions broadcast, e.g.
 * (B, H, T, D) @ (B, H, D, T), or (B, m, k) @ (k, n) with b shared by every
 * batch element (its gradient sums over the batch). A 1-D a (k) is a row
 * and a 1-D b (k) a column, whose dimension the result drops: (k) @ (k) is
 * a 0-d dot product, (k) @ (k, n) is (n), (m, k) @ (k) is (m). Both f32
 * or both f64. Uses BLAS when built with it (meson option `blas`), else a
 * built-in cache-blocked kernel. dA = dY·Bᵀ, dB = Aᵀ·dY, summed over
 * broadcast batch dimensions. A 0-d operand, different inner dimensions or
 * batch dimensions that do not broadcast fail with AG_ERR_SHAPE. */
ag_tensor *ag_matmul(ag_tape *t, ag_tensor *a, ag_tensor *b);

/* Sets how many threads the BLAS (OpenBLAS) may use for matrix products,
 * for the whole process, and returns the count before (n <= 0 only
 * queries). Returns 0 when built without BLAS (the built-in kernel is
 * single-threaded). Small products, as in a small MLP, often run faster on
 * one thread than on several; the engine never changes this by itself
 * (ag_set_num_threads sets it when called). */
int ag_set_blas_threads(int n);

/* Sets how many threads the kernels may use, for the whole process (1: all
 * on the calling thread): the elementwise and reduction kernels and the
 * matrix products (the built-in GEMM's parts and oneDNN's, one-thread calls
 * on the same pool, so nothing oversubscribes the cores; with
 * TAPEGRAD_GEMM=openblas it sets OpenBLAS's count, ag_set_blas_threads,
 * to n too). Only large tensors are split (chunks of tens of
 * thousands of elements); small ones stay on the calling thread. Results
 * do not depend on the count: reductions sum fixed blocks in a fixed
 * order, so every count gives the same bits. A program that runs tapes in
 * several threads of its own may want 1 here. Fails with AG_ERR_ARG
 * (ag_last_error says why; nothing changes) unless 1 <= n <= 1024. If
 * another thread's kernels are splitting work, it waits for them. */
ag_status ag_set_num_threads(int n);

/* The kernels' thread count: the last ag_set_num_threads, else the
 * environment variable TAPEGRAD_NUM_THREADS (read once, at the first use;
 * ignored unless an integer from 1 to 1024; it does not change the BLAS's
 * count, which OpenBLAS reads from OPENBLAS_NUM_THREADS), else the number
 * of cores this process may run on (its CPU affinity). */
int ag_get_num_threads(void);

/* Permutes the axes: output axis i is input axis perm[i]; perm has ndim(x)
 * entries, a permutation of 0..ndim-1 (anything else fails with
 * AG_ERR_AXIS). The result is a new contiguous tensor; its gradient is
 * permuted back by the inverse permutation. */
ag_tensor *ag_permute(ag_tape *t, ag_tensor *x, const int *perm);

/* Swaps the last two axes (a matrix transpose; batched for ndim > 2).
 * Fails with AG_ERR_SHAPE for ndim < 2. */
ag_tensor *ag_transpose(ag_tape *t, ag_tensor *x);

/* ------------------------------------------------------------- shape ops */

/* Same values, new shape with the same element count. One entry of shape
 * may be -1 and is then inferred. The result is a view: it shares x's
 * storage (no copy), so a write to either (ag_data_mut) shows in the other,
 * and a write through a view of a parameter counts as a write to the
 * parameter (ag_param_version). The gradient is its own buffer, added into
 * x's by backward. A reshape to or from a 0-d tensor (one value) copies. */
ag_tensor *ag_reshape(ag_tape *t, ag_tensor *x, int ndim, const int64_t *shape);

/* torch.flatten(x, start_axis, end_axis): axes start..end (inclusive;
 * negative counts from the end) joined into one; flatten(x, 0, -1) is 1-D,
 * and a 0-d x gives shape (1). A view, like ag_reshape: it shares x's
 * storage and its gradient flows back as through a copy. */
ag_tensor *ag_flatten(ag_tape *t, ag_tensor *x, int start_axis, int end_axis);

/* torch.squeeze: removes `axis` (negative counts from the end), which must
 * have size 1 (AG_ERR_SHAPE otherwise, where PyTorch silently keeps it), or
 * every size-1 axis when axis is AG_ALL. A view, like ag_reshape (a result
 * with no axes left is 0-d and holds its one value inline: a copy). */
ag_tensor *ag_squeeze(ag_tape *t, ag_tensor *x, int axis);

/* torch.unsqueeze: a new axis of size 1 at position `axis` of the result
 * (0..ndim; negative counts from the end, -1 being a new last axis). A
 * view, like ag_reshape, except of a 0-d x (copied: one value). */
ag_tensor *ag_unsqueeze(ag_tape *t, ag_tensor *x, int axis);

/* Broadcasts x to `shape` by NumPy rules (x's dimensions align at the end;
 * a size-1 or missing dimension stretches). The gradient is summed back. */
ag_tensor *ag_broadcast_to(ag_tape *t, ag_tensor *x, int ndim, const int64_t *shape);

/* Elements start <= i < stop along `axis`. Negative start/stop count from
 * the end (like Python); both are clamped to [0, len]; an empty result is
 * allowed. */
ag_tensor *ag_slice(ag_tape *t, ag_tensor *x, int axis, int64_t start, int64_t stop);

/* Joins n >= 1 tensors of one dtype along an existing axis (negative counts
 * from the end); all other dimensions must match. */
ag_tensor *ag_concat(ag_tape *t, int n, ag_tensor *const *xs, int axis);

/* Stacks n >= 1 tensors of the same shape and dtype along a new axis
 * (0..ndim; negative counts from the end, -1 being a new last axis). */
ag_tensor *ag_stack(ag_tape *t, int n, ag_tensor *const *xs, int axis);

/* Like torch.gather: `index` is a row-major int64 array with x's shape
 * except that `axis` has size k; out has that shape and
 * out[..., j, ...] = x[..., index[..., j, ...], ...]. Index values must be
 * in [0, len) (negative counts from the end). The gradient is scattered back
 * (added, so repeated indices sum). The indices are copied. */
ag_tensor *ag_gather(ag_tape *t, ag_tensor *x, int axis, int64_t k, const int64_t *index);

/* Like torch.index_select: picks n slices along `axis` by index (repeats
 * allowed, and their gradients sum), e.g. rows of an embedding table. Index
 * values must be in [0, len) (negative counts from the end). The indices are
 * copied. */
ag_tensor *ag_index_select(ag_tape *t, ag_tensor *x, int axis, int64_t n,
                           const int64_t *index);

/* A constant (n, classes) tensor with 1 at [i, index[i]] and 0 elsewhere.
 * An index outside [0, classes) fails with AG_ERR_AXIS. */
ag_tensor *ag_one_hot(ag_tape *t, ag_dtype dtype, int64_t n, const int64_t *index,
                      int64_t classes);

/* ------------------------------------------------ convolution, pooling
 *
 * Layouts are PyTorch's: x (N, C, H, W) (or unbatched (C, H, W)), weights
 * (O, C / groups, kh, kw); 1-D: x (N, C, L) (or (C, L)), weights
 * (O, C / groups, k). In the option structs a 0 means the default, so
 * `NULL` or `&(ag_conv2d_opts){.padding = {1, 1}}` read like PyTorch's
 * keyword arguments; give both entries of a pair (.stride = {2} is
 * (2, default)). Every op differentiates any number of times. */

typedef struct ag_conv2d_opts {
    int64_t stride[2];   /* (H, W); 0 = 1 */
    int64_t padding[2];  /* zeros added before and after, (H, W) */
    int64_t dilation[2]; /* 0 = 1 */
    int64_t groups;      /* 0 = 1; C and O must be multiples */
    bool same;           /* padding "same": the output keeps the input's size
                            (stride 1, padding left 0); an odd total padding
                            puts the extra zero after, as PyTorch */
} ag_conv2d_opts;

typedef struct ag_conv1d_opts {
    int64_t stride, padding, dilation, groups; /* as above, 0 = the default */
    bool same;
} ag_conv1d_opts;

/* torch.nn.functional.conv2d: y (N, O, OH, OW) with
 *   y[n,o,i,j] = b[o] + sum over c in o's group, p, q of
 *                w[o,c,p,q] · x[n,c, i·sh - ph + p·dh, j·sw - pw + q·dw]
 * (zero outside x), OH = (H + 2·ph - dh·(kh-1) - 1) / sh + 1 (floor), likewise
 * OW. bias (O) may be NULL. im2col + GEMM per image and group; a 1x1
 * kernel at stride 1 without padding reads x in place. Fails with
 * AG_ERR_SHAPE (ranks, channels vs groups, weights, bias, a kernel larger
 * than the padded input) or AG_ERR_ARG (a negative option, "same" with a
 * stride). */
ag_tensor *ag_conv2d(ag_tape *t, ag_tensor *x, ag_tensor *w, ag_tensor *bias,
                     const ag_conv2d_opts *opts);

/* torch.nn.functional.conv1d: y (N, O, OL), as conv2d with H = 1. */
ag_tensor *ag_conv1d(ag_tape *t, ag_tensor *x, ag_tensor *w, ag_tensor *bias,
                     const ag_conv1d_opts *opts);

typedef struct ag_pool2d_opts {
    int64_t kernel[2];  /* (kh, kw), required */
    int64_t stride[2];  /* 0 = the kernel size, PyTorch's default */
    int64_t padding[2]; /* added before and after; at most half the kernel */
    bool exclude_pad;   /* avg only: divide by the count of elements inside x
                           (count_include_pad=False); by default the zeros of
                           the padding count, as PyTorch's default True */
} ag_pool2d_opts;

/* torch.nn.functional.max_pool2d on x (N, C, H, W) or (C, H, W), without
 * dilation and ceil_mode: y is each window's max, the padding being -inf;
 * OH = (H + 2·ph - kh) / sh + 1. The gradient goes to the window's maximal
 * element; at a tie, to the first in row-major window order (as PyTorch's
 * CPU kernel). A NaN in a window is its max. */
ag_tensor *ag_max_pool2d(ag_tape *t, ag_tensor *x, const ag_pool2d_opts *opts);

/* torch.nn.functional.avg_pool2d (count_include_pad as described above,
 * no ceil_mode): each window's mean; the gradient is spread evenly over
 * the window's elements. */
ag_tensor *ag_avg_pool2d(ag_tape *t, ag_tensor *x, const ag_pool2d_opts *opts);

/* Constant padding: pads[2·i] values before and pads[2·i + 1] after axis
 * i, for every axis of x in order (numpy.pad's order; PyTorch's F.pad
 * lists the last axis first), all `value`. Pads must be >= 0 (use ag_slice
 * to crop). The gradient is the inner region of the upstream gradient. */
ag_tensor *ag_pad(ag_tape *t, ag_tensor *x, const int64_t *pads, double value);

/* -------------------------------------------------------------- softmax */

/* softmax(x)_i = exp(x_i - m) / sum_j exp(x_j - m) along `axis`, with m the
 * max along the axis, so no exp overflows. log_softmax is computed directly
 * as x_i - logsumexp(x), finite for any finite x (no log of an underflowed
 * 0). d softmax: dx = y·(g - sum(g·y)); d log_softmax: dx = g - y·sum(g). */
ag_tensor *ag_softmax(ag_tape *t, ag_tensor *x, int axis);
ag_tensor *ag_log_softmax(ag_tape *t, ag_tensor *x, int axis);

/* --------------------------------------------------- fused scalar statements
 *
 * An f64 scalar program records one compact statement per op (value,
 * partials, input indices; about 22 bytes). These record one statement for
 * several ops, with all its partials computed at record time, so a long
 * sum or a dot product costs one record and one step of the backward
 * sweep. Their inputs are f64 scalars; given tensors (or f32 scalars) they
 * compute the same as the chain of elementwise ops they stand for.
 * wsum and dot differentiate to any order; a statement is first order
 * (create_graph through it fails with AG_ERR_STATE). */

/* y = sum_k w[k] · x[k] for k < n (w NULL: all weights 1). */
ag_tensor *ag_wsum(ag_tape *t, int n, ag_tensor *const *xs, const double *w);

/* y = sum_k a[k] · b[k] for k < n. */
ag_tensor *ag_dot(ag_tape *t, int n, ag_tensor *const *a, ag_tensor *const *b);

/* A scalar y with the given value whose partial with respect to inputs[k]
 * is partials[k] (k < n <= 63): a function whose derivative the caller
 * computed, recorded as one statement. <tapegrad/stmt.h> computes value and
 * partials of a C expression with inline forward mode and records it so. */
ag_tensor *ag_statement(ag_tape *t, double value, int n, ag_tensor *const *inputs,
                        const double *partials);

/* -------------------------------------------------------------- backward */

/* Backpropagates from a scalar output y: applies each recorded op's chain
 * rule in reverse tape order and adds into its inputs' gradients, so a node
 * used on several paths gets the sum over paths.
 *
 * Semantics (as in PyTorch): gradients of leaves (tape leaves made with
 * ag_requires_grad, and parameters) ACCUMULATE across backward calls until
 * ag_zero_grad(); gradients of intermediate nodes are recomputed from zero by
 * each call, so nothing leaks from one call into the next. The tape is kept,
 * so backward may be called again. It fails with AG_ERR_STATE if a parameter
 * was written (ag_data_mut) after the tape recorded it. No recursion: the
 * depth of the graph does not touch the C stack. */
ag_status ag_backward(ag_tape *t, ag_tensor *y);
/* An output that does not require a gradient (it depends on no leaf made
 * with ag_requires_grad and no parameter) is an error, AG_ERR_STATE, as in
 * PyTorch ("element 0 of tensors does not require grad"): nothing would
 * receive a gradient. ag_backward_ex with allow_unused accepts it and does
 * nothing. */

/* Like ag_backward for an output of any shape: `seed` (same shape and dtype
 * as y) is the gradient of the final quantity with respect to y. */
ag_status ag_backward_seed(ag_tape *t, ag_tensor *y, ag_tensor *seed);

/* Functional gradients, like torch.autograd.grad: the gradients of y (a
 * scalar, or of any shape with `seed`, which may be NULL for a scalar y) with
 * respect to each of xs[0..n-1], returned in grads[0..n-1] as new constant
 * tensors on the tape. Stored gradients of leaves and parameters are left
 * untouched. As in PyTorch, an x that y was not computed from, or that does
 * not require a gradient, is an error (AG_ERR_STATE naming the input), and
 * so is a y that requires no gradient; ag_grad_ex with allow_unused gives
 * zeros for such inputs instead. */
ag_status ag_grad(ag_tape *t, ag_tensor *y, ag_tensor *seed, int n,
                  ag_tensor *const *xs, ag_tensor **grads);

/* ---------------------------------------------- recording the backward
 *
 * With create_graph, the backward pass is itself recorded on the tape: each
 * op's chain rule runs as ordinary ops, so the gradients it produces are
 * nodes that can be differentiated again (second and higher derivatives).
 * Without it these are exactly ag_backward_seed and ag_grad: numeric
 * kernels, no nodes recorded. */

typedef struct ag_backward_opts {
    ag_tensor *seed;   /* gradient w.r.t. y (y's shape); NULL = 1 for a scalar y.
                          With create_graph it may itself require a gradient. */
    bool create_graph; /* record the backward pass on the tape */
    bool allow_unused; /* ag_grad_ex: zeros (not an error) for an input y was not
                          computed from or that requires no gradient, and for
                          every input when y requires none; ag_backward_ex:
                          a y that requires no gradient does nothing */
} ag_backward_opts;

/* ag_backward with options (opts may be NULL). With create_graph, leaves'
 * stored gradients accumulate the values as usual, and ag_graph_grad(t, x)
 * returns the recorded gradient node of each leaf x it reached. */
ag_status ag_backward_ex(ag_tape *t, ag_tensor *y, const ag_backward_opts *opts);

/* ag_grad with options (opts may be NULL). With create_graph, grads[i] are
 * recorded nodes (differentiable again; with allow_unused, zeros for an x
 * that y does not depend on); stored gradients are untouched. Typical
 * second order:
 *   ag_grad_ex(t, y, 1, &x, &g, &(ag_backward_opts){.create_graph = true});
 *   ag_grad(t, g, NULL, 1, &x, &h);    // h = d²y/dx² for scalar x */
ag_status ag_grad_ex(ag_tape *t, ag_tensor *y, int n, ag_tensor *const *xs, ag_tensor **grads,
                     const ag_backward_opts *opts);

/* The gradient node that the last ag_backward_ex with create_graph on tape t
 * recorded for leaf x, or NULL (none, or the tape was reset since). */
ag_tensor *ag_graph_grad(const ag_tape *t, const ag_tensor *x);

/* ------------------------------------------------- second-order utilities */

/* Hessian-vector products of a scalar y recorded from xs[0..n-1]: hv[i] =
 * sum_j (d²y / dx_i dx_j) · vs[j], as new tensors. One recorded reverse pass
 * (g = dy/dx as nodes) and one numeric reverse pass of g · v: the Hessian is
 * never formed. vs[i] has xs[i]'s shape and dtype (it is used as a
 * constant). */
ag_status ag_hvp(ag_tape *t, ag_tensor *y, int n, ag_tensor *const *xs, ag_tensor *const *vs,
                 ag_tensor **hv);

/* The full Jacobian dy/dx as a (numel(y), numel(x)) tensor, row i holding
 * d y_i / dx (flattened row-major): numel(y) backward passes. For small
 * sizes. NULL with a tape error on failure. */
ag_tensor *ag_jacobian(ag_tape *t, ag_tensor *y, ag_tensor *x);

/* The full Hessian d²y/dx² of a scalar y as a (numel(x), numel(x)) tensor:
 * the recorded gradient's Jacobian (one recorded pass, then numel(x)
 * numeric passes). Symmetric up to rounding. For small sizes. */
ag_tensor *ag_hessian(ag_tape *t, ag_tensor *y, ag_tensor *x);

/* Forward-mode directional derivative J·u (y's shape) of y with respect to
 * x in direction u (x's shape), computed with two reverse passes: the
 * recorded pass r(v) = Jᵀv with a dummy seed v, which is linear in v, then
 * the gradient of r · u with respect to v, which is J·u. */
ag_tensor *ag_jvp(ag_tape *t, ag_tensor *y, ag_tensor *x, ag_tensor *u);

/* ----------------------------------------------------- gradient checking */

/* The function under test: builds its output on tape t from inputs[0..n-1]
 * (f64 leaves that the checker owns) and returns it, or NULL on error. */
typedef ag_tensor *(*ag_fn)(ag_tape *t, ag_tensor *const *inputs, void *ctx);

typedef struct ag_gradcheck_opts {
    double eps;           /* finite-difference step (default 1e-6) */
    double atol;          /* absolute tolerance (default 1e-5) */
    double rtol;          /* relative tolerance (default 1e-3) */
    int64_t max_elements; /* check at most this many elements of each input,
                             a seeded random sample (0 = all, the default) */
    uint64_t seed;        /* seed of the sample and of the output weights */
} ag_gradcheck_opts;
/* Options out of range (eps not finite and > 0, atol or rtol NaN, infinite
 * or negative, max_elements negative) give the verdict AG_GRADCHECK_ERROR:
 * a NaN tolerance would otherwise pass every comparison. */

/* The defaults above, like PyTorch's gradcheck. */
ag_gradcheck_opts ag_gradcheck_defaults(void);

typedef enum ag_gradcheck_verdict {
    AG_GRADCHECK_PASS = 0,
    AG_GRADCHECK_MISMATCH,   /* some |analytic - numeric| > atol + rtol·|numeric| */
    AG_GRADCHECK_ZERO_GRAD,  /* analytic all zeros, numeric not: nothing was computed */
    AG_GRADCHECK_NONFINITE,  /* the function or a gradient is NaN or infinite */
    AG_GRADCHECK_ERROR,      /* the function failed or the arguments were bad */
} ag_gradcheck_verdict;

typedef struct ag_gradcheck_report {
    ag_gradcheck_verdict verdict;
    bool passed;
    int64_t checked;        /* elements compared */
    double max_abs_err;     /* max |analytic - numeric| */
    double max_rel_err;     /* max |analytic - numeric| / max(|numeric|, atol) */
    int worst_input;        /* the element closest to its tolerance or furthest
                               past it, on a pass too (for NONFINITE: the first
                               non-finite one; -1: none) */
    int64_t worst_index;    /* flat index within that input */
    double worst_analytic;
    double worst_numeric;
    char message[256];      /* one line saying what happened */
} ag_gradcheck_report;

/* Compares the analytic gradient of f at `inputs` (any dtype; the checker
 * works on f64 copies) with central differences (f(x+eps) - f(x-eps))/2eps
 * for every element (or a sample, see max_elements). A non-scalar output y
 * is checked through the scalar sum(w·y) with fixed random weights w, which
 * exercises every op's chain rule with an arbitrary upstream gradient.
 * `opts` may be NULL for the defaults. Returns report->passed. */
bool ag_gradcheck(ag_fn f, void *ctx, int n, ag_tensor *const *inputs,
                  const ag_gradcheck_opts *opts, ag_gradcheck_report *report);

/* Checks second derivatives: the gradient's own gradient, through the
 * recorded backward (create_graph), against central differences of the
 * analytic first gradient, in float64. Concretely, with F = sum(w·f) (w as
 * in ag_gradcheck) and a fixed random direction v, it compares
 * d/dx (v · dF/dx) = H v element by element with
 * (v·dF/dx(x + eps e_k) - v·dF/dx(x - eps e_k)) / 2eps. Same options,
 * report and all-zero guard as ag_gradcheck. */
bool ag_gradgradcheck(ag_fn f, void *ctx, int n, ag_tensor *const *inputs,
                      const ag_gradcheck_opts *opts, ag_gradcheck_report *report);

/* Prints the report in a few lines. */
void ag_gradcheck_print(FILE *out, const ag_gradcheck_report *r);

/* --------------------------------------------------------------- threads
 *
 * The contract (tests/test_threads.c checks it under ThreadSanitizer, with
 * 2 and 4 threads):
 *   - Tapes are independent: threads may use different tapes at the same
 *     time without locks. A tape, and every tensor recorded on it, is used
 *     by one thread at a time.
 *   - A parameter may be recorded, in grad or no-grad mode, by the tapes of
 *     any number of threads at once: recording only reads it (its
 *     bookkeeping is atomic).
 *   - A backward (ag_backward*, ag_grad*, ag_trace, the second-order
 *     utilities) writes the gradients and marks of the parameters its tape
 *     recorded. Two such calls whose tapes share a parameter must not
 *     overlap in time: the one that would is refused with AG_ERR_STATE
 *     ("parameter 'w' is being written by a backward in another thread")
 *     instead of racing, so serialise them (a mutex around the backward).
 *     Calls that do not overlap are ordered by that check: gradients then
 *     accumulate exactly.
 *   - Writing a parameter's values (ag_data_mut, an optimizer step) or
 *     clearing its gradient (ag_zero_grad) while another thread records or
 *     reads it is a data race the program must prevent.
 *   - ag_set_assert_handler is process-wide: set it before starting threads.
 *     ag_last_error is per thread. */

/* ------------------------------------------------------------ invariants */

/* Broken internal invariants (never bad input) go through one handler. The
 * default prints the file, line and expression to stderr and aborts; a
 * program may install its own (which must not return normally if it wants
 * the library to stop, e.g. longjmp). Returns the previous handler. */
typedef void (*ag_assert_handler)(const char *file, int line, const char *expr);
ag_assert_handler ag_set_assert_handler(ag_assert_handler h);

#ifdef __cplusplus
}
#endif
#endif /* TAPEGRAD_AUTOGRAD_H */

/* tapegrad nn — layers, losses, optimizers, parameter store, save/load, and data.
 *
 * Everything here has the prefix nn_ and builds on autograd.h.
 *
 * Errors: functions return NULL or an nn_status; they never exit or abort on
 * bad input. The message of the last failed call (naming the file, line,
 * column, tensor or shape involved) is kept per thread and returned by
 * nn_last_error() (the thread's last error, which ag_last_error() returns
 * too). A successful call does not clear it.
 */
#ifndef TAPEGRAD_NN_H
#define TAPEGRAD_NN_H

#include <tapegrad/autograd.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

typedef enum nn_status {
    NN_OK = 0,
    NN_ERR_NULL,      /* a required argument was NULL */
    NN_ERR_ARG,       /* another invalid argument (bad name, size, fraction) */
    NN_ERR_MEMORY,    /* malloc failed or a memory cap was reached */
    NN_ERR_EXISTS,    /* a parameter with that name is already registered */
    NN_ERR_IO,        /* the operating system refused: open, read, write, rename */
    NN_ERR_FORMAT,    /* a file is malformed: bad magic, truncated, bad checksum */
    NN_ERR_VERSION,   /* a saved file has a version this library cannot read */
    NN_ERR_MISMATCH,  /* a file does not fit the store: names, dtype or shape */
    NN_ERR_PARSE,     /* a text file has a bad field (CSV) */
    NN_ERR_UNSUPPORTED, /* this build lacks an optional dependency (safetensors: Jansson) */
    NN_ERR_COMM,        /* communication between processes failed (MPI, nn_ddp.h) */
} nn_status;

/* Name of a status code, e.g. "file format error". */
const char *nn_status_str(nn_status s);

/* The message of the last failed nn_ (or tape-less ag_) call in this
 * thread, or NULL if none has failed yet. */
const char *nn_last_error(void);

/* ------------------------------------------------------- parameter store */

/* A registry of named parameters (ag_param_new tensors). Names are unique;
 * iteration is in registration order. The store OWNS its parameters:
 * nn_params_free frees them with ag_param_free. */
typedef struct nn_params nn_params;

/* Longest parameter name, in bytes (without the terminating NUL). */
#define NN_NAME_MAX 255

/* A new empty store, or NULL if malloc fails. */
nn_params *nn_params_new(void);

/* Frees the store and every parameter it owns. NULL is a no-op. */
void nn_params_free(nn_params *ps);

/* Registers parameter p (made with ag_param_new) under `name` (1 to
 * NN_NAME_MAX bytes, copied). On success the store takes ownership of p and
 * also sets p's tensor name (ag_name) to `name`; on failure (duplicate name:
 * NN_ERR_EXISTS; p not a parameter, bad name: NN_ERR_ARG) p stays the
 * caller's. */
nn_status nn_params_add(nn_params *ps, const char *name, ag_tensor *p);

/* Creates a parameter (ag_param_new arguments: `data` may be NULL for
 * zeros) and registers it under `name`. Returns it (owned by the store), or
 * NULL with nn_last_error() set. */
ag_tensor *nn_params_create(nn_params *ps, const char *name, ag_dtype dtype,
                            int ndim, const int64_t *shape, const void *data);

/* The parameter registered under `name`, or NULL (no error is set: absence
 * is an answer, not a failure). */
ag_tensor *nn_params_get(const nn_params *ps, const char *name);

/* Number of registered parameters (0 for NULL). */
size_t nn_params_count(const nn_params *ps);

/* The i-th parameter in registration order and its name, or NULL when i is
 * out of range. */
ag_tensor *nn_params_at(const nn_params *ps, size_t i);
const char *nn_params_name_at(const nn_params *ps, size_t i);

/* Total number of elements over all parameters. */
int64_t nn_params_numel(const nn_params *ps);

/* Sets every parameter's gradient to zero (ag_zero_grad on each). */
void nn_params_zero_grad(nn_params *ps);

/* ------------------------------------------------------------ save/load
 *
 * The file format is described in nn/FORMAT.md: magic, version, tensor
 * count, then per tensor its name, dtype, shape, little-endian data and a
 * CRC-32, and a CRC-32 of the whole file. */

/* Writes every parameter of the store to `path`, atomically: the bytes go to
 * a temporary file in the same folder, which is flushed, fsync'd and renamed
 * over `path`, and then the folder is fsync'd. On any failure the temporary
 * file is removed and a previous file at `path` is left as it was. A new
 * file gets mode 0644; an existing file keeps its mode. */
nn_status nn_save(const nn_params *ps, const char *path);

/* Why a name was skipped by a non-strict load. */
typedef enum nn_skip_reason {
    NN_SKIP_MISSING = 1, /* in the store, not in the file: left unchanged */
    NN_SKIP_EXTRA,       /* in the file, not in the store: ignored */
} nn_skip_reason;

typedef struct nn_load_opts {
    /* false (the default): every store name must be in the file and every
     * file name in the store, else NN_ERR_MISMATCH naming them. true: such
     * names are skipped and reported through on_skip. A dtype or shape
     * mismatch of a name present on both sides is always an error. */
    bool non_strict;
    /* Called once per skipped name, after validation succeeded and before
     * any value is written (may be NULL). */
    void (*on_skip)(const char *name, nn_skip_reason why, void *ctx);
    void *ctx;
    /* Files larger than this are refused (0 = no limit). */
    size_t max_bytes;
} nn_load_opts;

/* Loads `path` into the store's parameters. The whole file is read and
 * validated first — magic, version, sizes, every tensor's CRC-32 and the
 * file's, names, dtypes and shapes — and only if all of it is good are
 * values written, through ag_data_mut (which bumps each parameter's version,
 * so tapes recorded before the load refuse to backward). On any error no
 * parameter is changed. `opts` may be NULL for strict defaults. */
nn_status nn_load(nn_params *ps, const char *path, const nn_load_opts *opts);

/* CRC-32 (IEEE 802.3, the one of zlib and PNG) of n bytes, continuing from
 * `crc` (pass 0 to start). nn_crc32(0, "123456789", 9) == 0xCBF43926. */
uint32_t nn_crc32(uint32_t crc, const void *data, size_t n);

/* ------------------------------------------------------------------ data */

/* A dataset of n samples held in doubles (copied in, owned by the dataset):
 * features x (n, d) row-major, and either real targets y (n, k) for
 * regression or integer labels (n) in [0, classes) for classification. */
typedef struct nn_dataset nn_dataset;

/* A regression dataset: copies x (n, d) and y (n, k); y may be NULL with
 * k = 0 for features only. NULL with nn_last_error() on bad sizes. */
nn_dataset *nn_dataset_new(int64_t n, int64_t d, const double *x,
                           int64_t k, const double *y);

/* A classification dataset: copies x (n, d) and labels (n), each label in
 * [0, classes). NULL with nn_last_error() naming the first bad label. */
nn_dataset *nn_dataset_new_labels(int64_t n, int64_t d, const double *x,
                                  const int64_t *labels, int64_t classes);

/* Frees the dataset. NULL is a no-op. */
void nn_dataset_free(nn_dataset *ds);

/* Sizes: samples n, features d, target width k (0 for labels), classes (0
 * for real targets). All return 0 for NULL. */
int64_t nn_dataset_len(const nn_dataset *ds);
int64_t nn_dataset_features(const nn_dataset *ds);
int64_t nn_dataset_targets(const nn_dataset *ds);
int64_t nn_dataset_classes(const nn_dataset *ds);

/* Read-only views of the storage: x (n, d), y (n, k) or NULL, labels (n)
 * or NULL. */
const double *nn_dataset_x(const nn_dataset *ds);
const double *nn_dataset_y(const nn_dataset *ds);
const int64_t *nn_dataset_labels(const nn_dataset *ds);

/* Splits ds into a shuffled train part and test part (new datasets, free
 * both): round(n · test_fraction) samples go to test, the rest to train, in
 * an order fixed by `seed`. test_fraction must be in [0, 1]. */
nn_status nn_dataset_split(const nn_dataset *ds, double test_fraction, uint64_t seed,
                           nn_dataset **train, nn_dataset **test);

/* Copies the samples idx[0..m-1] into caller buffers: x_out (m, d), y_out
 * (m, k), labels_out (m). Any output may be NULL to skip it. */
nn_status nn_dataset_gather(const nn_dataset *ds, int64_t m, const int64_t *idx,
                            double *x_out, double *y_out, int64_t *labels_out);

/* The features of samples idx[0..m-1] as a constant (m, d) tensor on the
 * tape, converted to dtype; allocates only tape memory, so a loop with tape
 * resets allocates nothing after its first step. NULL on error (a tape
 * error for tape failures, nn_last_error() for a bad index). */
ag_tensor *nn_batch_x(ag_tape *t, const nn_dataset *ds, ag_dtype dtype,
                      int64_t m, const int64_t *idx);

/* The real targets of samples idx[0..m-1] as a constant (m, k) tensor. */
ag_tensor *nn_batch_y(ag_tape *t, const nn_dataset *ds, ag_dtype dtype,
                      int64_t m, const int64_t *idx);

/* Shuffles idx[0..n-1] in place (Fisher–Yates with unbiased bounded draws
 * from r): the same seed gives the same order on every machine. */
void nn_shuffle(int64_t *idx, int64_t n, ag_rng *r);

/* Mini-batch iteration over a dataset: each epoch visits every sample once,
 * in a seeded shuffled order (or in order), batch_size at a time; the last
 * batch is smaller unless drop_last. Epoch e's order depends only on the
 * seed and e. */
typedef struct nn_batcher nn_batcher;

/* A batcher positioned at the start of epoch 0, or NULL on a bad argument
 * (batch_size < 1) or malloc failure. The dataset must outlive it. */
nn_batcher *nn_batcher_new(const nn_dataset *ds, int64_t batch_size, bool shuffle,
                           uint64_t seed, bool drop_last);

/* Frees the batcher. NULL is a no-op. */
void nn_batcher_free(nn_batcher *b);

/* The next batch of the current epoch: sets *idx to its sample indices
 * (valid until the next call) and returns its size, or 0 at the end of the
 * epoch. After 0, the next call starts a new epoch (reshuffled). */
int64_t nn_batcher_next(nn_batcher *b, const int64_t **idx);

/* Number of batches per epoch. */
int64_t nn_batcher_batches(const nn_batcher *b);

/* One shard of a batcher, for data-parallel training over `world`
 * processes (see nn_ddp.h): every shard shuffles the same order from the
 * same seed, cuts it into global batches of batch_size · world samples, and
 * shard `rank` (0 <= rank < world) gets the rank-th of the world equal
 * slices of each global batch, batch_size samples (fewer in a last,
 * smaller global batch). The shards of an epoch are disjoint; the order is
 * the one nn_batcher_new(ds, batch_size · world, shuffle, seed, ...) visits,
 * so each global batch is the concatenation of the shards' batches in rank
 * order. So that every batch splits equally, the n mod world samples at the
 * end of each epoch's order sit out that epoch (a different few each epoch
 * when shuffled; with drop_last, every incomplete global batch does). Every shard has the same number of batches per epoch.
 * With world 1 this is nn_batcher_new. NULL with nn_last_error() on a bad
 * argument. */
nn_batcher *nn_batcher_new_shard(const nn_dataset *ds, int64_t batch_size, bool shuffle,
                                 uint64_t seed, bool drop_last, int rank, int world);

/* Moves the batcher to the start of epoch `epoch` (>= 0), as if it had run
 * the epochs before it: to resume training from a checkpoint. Replays the
 * earlier epochs' shuffles, so it costs O(epoch · n). */
void nn_batcher_set_epoch(nn_batcher *b, int64_t epoch);

/* The current epoch: the one the batches come from, or the next one after
 * nn_batcher_next returned 0 (0 for NULL). */
int64_t nn_batcher_epoch(const nn_batcher *b);

/* ------------------------------------------------------------------- CSV */

/* A numeric CSV table: rows × cols doubles, row-major, and the header's
 * column names when the file had one (else NULL). */
typedef struct nn_csv {
    int64_t rows, cols;
    double *values;  /* (rows, cols) */
    char **header;   /* cols strings, or NULL */
} nn_csv;

/* Parses numeric CSV text: fields separated by commas, rows by \n or \r\n;
 * spaces and tabs around a field are ignored; the first line is column
 * names when has_header; trailing blank lines are fine. Every field must be
 * a finite number as strtod reads it in the C locale (no quotes). On error
 * it returns NULL and nn_last_error() says "line L, column C: what", where L
 * is the 1-based line and C the 1-based field number: a non-numeric
 * or empty field, a ragged row (too many or too few fields), an empty file
 * (or a header without data rows), a value out of range of a double
 * (overflow), a blank line between rows, or a carriage return inside a line
 * (a lone \r: old Mac line endings, or damage). */
nn_csv *nn_csv_parse(const char *text, size_t len, bool has_header);

/* nn_csv_parse on the contents of a file (at most max_bytes, 0 = no
 * limit); file errors name the path. */
nn_csv *nn_csv_read(const char *path, bool has_header, size_t max_bytes);

/* Frees the table. NULL is a no-op. */
void nn_csv_free(nn_csv *c);

/* ------------------------------------------------------------------- IDX */

/* The IDX format of the MNIST files: two zero bytes, a type byte, a
 * dimension count byte, the dimensions as big-endian uint32, then the values
 * big-endian, row-major. */
typedef enum nn_idx_type {
    NN_IDX_U8 = 0x08,
    NN_IDX_I8 = 0x09,
    NN_IDX_I16 = 0x0B,
    NN_IDX_I32 = 0x0C,
    NN_IDX_F32 = 0x0D,
    NN_IDX_F64 = 0x0E,
} nn_idx_type;

/* Most dimensions an IDX file may have here. */
#define NN_IDX_MAX_DIMS 8

/* An IDX array read into doubles. */
typedef struct nn_idx {
    nn_idx_type type;
    int ndim;
    int64_t dims[NN_IDX_MAX_DIMS];
    int64_t numel;
    double *data; /* numel values, row-major */
} nn_idx;

/* Reads an IDX file, validating the magic (zero bytes, known type), the
 * dimension count (1..NN_IDX_MAX_DIMS), that no dimension is 0, and that the
 * file size is exactly the header's promise. max_bytes caps the memory the
 * result may take (numel · 8 bytes) and the file size (0 = 1 GiB). NULL on
 * error, with nn_last_error() saying what and where. */
nn_idx *nn_idx_read(const char *path, size_t max_bytes);

/* Frees the array. NULL is a no-op. */
void nn_idx_free(nn_idx *a);

/* A classification dataset from IDX arrays, as MNIST ships them: images
 * (n, ...) become features (n, product of the other dims) multiplied by
 * `scale` (e.g. 1/255.0), and labels (n) must be integers in [0, classes).
 * NULL with nn_last_error() naming the first bad label or mismatched size. */
nn_dataset *nn_dataset_from_idx(const nn_idx *images, const nn_idx *labels, double scale,
                                int64_t classes);

/* Writes data (numel = product of dims values) as an IDX file of the given
 * type, atomically like nn_save. Values must fit the type: integers in range
 * for the integer types, and within float range for NN_IDX_F32; otherwise
 * NN_ERR_ARG naming the first bad value and nothing is written. */
nn_status nn_idx_write(const char *path, nn_idx_type type, int ndim,
                       const int64_t *dims, const double *data);


/* =================================================================
 * Layers, losses and optimizers
 *
 * Every layer and loss below is a composition of engine ops recorded on the
 * tape: nothing here computes a gradient by hand; the backward comes from
 * the engine's sweep. Their errors (NULL input, shape mismatch, bad
 * argument, bad class index) are the tape's sticky error, as for an engine
 * op: they return NULL, and a NULL input returns NULL keeping the first
 * error. With a NULL tape they return NULL and set nn_last_error().
 * ================================================================= */

/* ----------------------------------------------------------- activations */

/* The activation functions, as used by nn_activate, nn_activation_new and
 * nn_mlp_new. */
typedef enum nn_act {
    NN_IDENTITY = 0, /* x */
    NN_RELU,         /* max(x, 0); relu'(0) = 0 */
    NN_LEAKY_RELU,   /* x >= 0 ? x : slope·x (slope NN_LEAKY_SLOPE unless given) */
    NN_TANH,         /* tanh(x) */
    NN_SIGMOID,      /* 1 / (1 + e^-x) */
    NN_GELU,         /* x·Φ(x), exact (Φ the standard normal CDF) */
    NN_SOFTMAX,      /* softmax along the last axis */
} nn_act;

/* Default negative slope of NN_LEAKY_RELU (PyTorch's). */
#define NN_LEAKY_SLOPE 0.01

/* Applies activation `act` to x (the engine op of the same name; softmax
 * along the last axis; leaky relu with NN_LEAKY_SLOPE). */
ag_tensor *nn_activate(ag_tape *t, nn_act act, ag_tensor *x);

/* Name of an activation, e.g. "relu" ("?" for an unknown value). */
const char *nn_act_name(nn_act act);

/* --------------------------------------------------------------- modules
 *
 * A module is a layer with a forward function: x -> y recorded on a tape.
 * Ownership: a module never owns parameters; they live in the nn_params
 * store it was built with (which must outlive the module). A module owns
 * its own memory, and a Sequential owns the modules added to it. Modules
 * start in training mode (matters for Dropout only).
 *
 * A program may write its own module: fill in the struct (kind, forward,
 * destroy, and set_training when it has children) and use it like the
 * built-in ones. */
typedef struct nn_module nn_module;
struct nn_module {
    const char *kind; /* "linear", "sequential", "dropout", "relu", ... */
    /* y = forward(x), recorded on t; NULL with a tape error on failure. */
    ag_tensor *(*forward)(nn_module *m, ag_tape *t, ag_tensor *x);
    /* Sets training mode on m and its children; NULL: just sets m->training. */
    void (*set_training)(nn_module *m, bool training);
    /* Frees m and whatever it owns (never parameters). */
    void (*destroy)(nn_module *m);
    bool training; /* true: training mode; false: evaluation mode */
};

/* m's forward on x: (B, in) -> (B, out) for a Linear, same shape for
 * activations and Dropout. A NULL m (or one without a forward) or x gives
 * NULL with an AG_ERR_NULL tape error, unless the tape already holds one. */
ag_tensor *nn_forward(nn_module *m, ag_tape *t, ag_tensor *x);

/* Training (true) or evaluation (false) mode, for m and all its children. */
void nn_module_set_training(nn_module *m, bool training);

/* Frees m and the modules it owns. NULL is a no-op. */
void nn_module_free(nn_module *m);

/* ---------------------------------------------------------------- linear */

/* y = x @ w + b: x (B, in), w (in, out), b (out) or NULL -> y (B, out); x
 * may also be (N, B, in), w shared. The functional form of a Linear layer,
 * for any tensors (parameters or not). */
ag_tensor *nn_linear(ag_tape *t, ag_tensor *x, ag_tensor *w, ag_tensor *b);

/* A Linear layer with weight (in, out) registered in `ps` as
 * "<prefix>.weight" and, when `bias`, a bias (out) as "<prefix>.bias".
 * Both are initialised like PyTorch's nn.Linear, uniform in
 * [-1/sqrt(in), 1/sqrt(in)] from `rng` (re-initialise with nn_init_* to
 * choose otherwise). NULL with nn_last_error() on a bad argument (in or
 * out < 1, NULL store/prefix/rng, a name already registered); nothing is
 * registered then (unless malloc failed midway: the store has no removal,
 * and keeps what it got). */
nn_module *nn_linear_new(nn_params *ps, const char *prefix, int64_t in, int64_t out, bool bias,
                         ag_dtype dtype, ag_rng *rng);

/* A Linear module's weight (in, out) and bias (out) — NULL without a bias,
 * or when m is not a Linear. */
ag_tensor *nn_linear_weight(const nn_module *m);
ag_tensor *nn_linear_bias(const nn_module *m);

/* ------------------------------------------------------------ sequential */

/* An empty Sequential: its forward runs its modules in order, each on the
 * previous one's output (the identity when empty). NULL if malloc fails. */
nn_module *nn_sequential_new(void);

/* Appends `m` to the Sequential `seq`, which takes ownership on success.
 * On failure (NULL, seq not a Sequential, m == seq, out of memory) m stays
 * the caller's. */
nn_status nn_sequential_add(nn_module *seq, nn_module *m);

/* Number of modules in a Sequential, and the i-th (NULL out of range). */
size_t nn_sequential_len(const nn_module *seq);
nn_module *nn_sequential_at(const nn_module *seq, size_t i);

/* ------------------------------------------------------- activation layers */

/* A module applying `act` (nn_activate). NULL for an unknown act. */
nn_module *nn_activation_new(nn_act act);

/* A leaky relu module with the given negative slope. */
nn_module *nn_leaky_relu_new(double slope);

/* ------------------------------------------------------------------- MLP */

/* A multilayer perceptron: a Sequential of n_sizes - 1 Linear layers
 * sizes[0] -> sizes[1] -> ... -> sizes[n_sizes-1], named "<prefix>.0",
 * "<prefix>.1", ... (so "<prefix>.0.weight"), with `act` after every layer
 * but the last (the output is left raw: apply a sigmoid or softmax, or use a
 * loss on logits). Weights are initialised for the activation — He/Kaiming
 * uniform for relu, leaky relu and gelu, Xavier/Glorot uniform with the
 * activation's gain otherwise — and biases to zero. Needs n_sizes >= 2 and
 * every size >= 1. NULL with nn_last_error() on failure; nothing is
 * registered then (unless malloc failed midway). */
nn_module *nn_mlp_new(nn_params *ps, const char *prefix, int n_sizes, const int64_t *sizes,
                      nn_act act, ag_dtype dtype, ag_rng *rng);

/* --------------------------------------------------------------- dropout */

/* Inverted dropout: in training, each element of x is kept with
 * probability 1 - p and scaled by 1/(1 - p), or zeroed with probability p;
 * y = x · mask with the mask a constant tensor (so the gradient is
 * mask · upstream). Out of training (or p = 0) it is the identity and
 * returns x itself. p = 1 zeroes everything. Draws one uniform number per
 * element from rng, in row-major order. p outside [0, 1]: AG_ERR_ARG. */
ag_tensor *nn_dropout(ag_tape *t, ag_tensor *x, double p, bool training, ag_rng *rng);

/* A Dropout module with its own generator seeded with `seed`, so a run is
 * reproducible. NULL with nn_last_error() for p outside [0, 1]. */
nn_module *nn_dropout_new(double p, uint64_t seed);

/* ---------------------------------------------------------- initialisers
 *
 * Each writes a parameter's values in place through ag_data_mut (so tapes
 * recorded before refuse to backward), drawing from rng in row-major order:
 * the same seed gives the same values on every machine.
 *
 * Fans, for this library's weight layout (in, out): fan_in = shape[0],
 * fan_out = shape[1]. For more dimensions both are multiplied by the
 * product of shape[2..] (the receptive field); a 1-D or 0-d tensor has
 * fan_in = fan_out = numel. A tensor with no elements is left alone.
 *
 *   Xavier/Glorot uniform:  U(-a, a), a = gain·sqrt(6 / (fan_in + fan_out))
 *   Xavier/Glorot normal:   N(0, s²), s = gain·sqrt(2 / (fan_in + fan_out))
 *   He/Kaiming uniform:     U(-a, a), a = gain·sqrt(3 / fan_in)
 *   He/Kaiming normal:      N(0, s²), s = gain / sqrt(fan_in)
 *
 * (He's fan_in mode, as PyTorch's default.) gain comes from nn_init_gain;
 * He with gain sqrt(2) is the relu rule a = sqrt(6 / fan_in). */

/* The recommended gain for an activation (PyTorch's calculate_gain):
 * identity, sigmoid, softmax: 1; tanh: 5/3; relu and gelu: sqrt(2);
 * leaky relu with slope s: sqrt(2 / (1 + s²)) (`slope` is used only
 * there). */
double nn_init_gain(nn_act act, double slope);

nn_status nn_init_xavier_uniform(ag_tensor *p, double gain, ag_rng *rng);
nn_status nn_init_xavier_normal(ag_tensor *p, double gain, ag_rng *rng);
nn_status nn_init_kaiming_uniform(ag_tensor *p, double gain, ag_rng *rng);
nn_status nn_init_kaiming_normal(ag_tensor *p, double gain, ag_rng *rng);

/* Uniform in [lo, hi) and normal N(mean, std²). */
nn_status nn_init_uniform(ag_tensor *p, double lo, double hi, ag_rng *rng);
nn_status nn_init_normal(ag_tensor *p, double mean, double std, ag_rng *rng);

/* All zeros (no generator needed). */
nn_status nn_init_zeros(ag_tensor *p);

/* ---------------------------------------------------------------- losses
 *
 * Each returns a scalar (0-d) node. With NN_MEAN the per-element (or, for
 * the cross-entropies, per-row) terms are averaged; with NN_SUM they are
 * summed. Prediction and target must have exactly the same shape — no
 * broadcasting, so a (B, 1) prediction against a (B) target is an error
 * rather than a silent (B, B) — and the same dtype; the target is used as
 * given (pass a constant: a target that requires a gradient receives one).
 * In the formulas d = pred - target, and the sums run over the elements. */
typedef enum nn_reduction {
    NN_MEAN = 0,
    NN_SUM,
} nn_reduction;

/* Mean squared error: mean(d²) or sum(d²). */
ag_tensor *nn_mse_loss(ag_tape *t, ag_tensor *pred, ag_tensor *target, nn_reduction r);

/* Mean absolute error: mean(|d|) or sum(|d|); the subgradient at d = 0 is
 * 0 (abs'(0) = 0). */
ag_tensor *nn_mae_loss(ag_tape *t, ag_tensor *pred, ag_tensor *target, nn_reduction r);

/* Root mean squared error: sqrt(mean(d²)), or with NN_SUM sqrt(sum(d²))
 * (the Euclidean norm of d). At d = 0 exactly the gradient is not finite
 * (sqrt'(0) = +inf): use MSE when the error can vanish. */
ag_tensor *nn_rmse_loss(ag_tape *t, ag_tensor *pred, ag_tensor *target, nn_reduction r);

/* Huber loss with threshold delta > 0, per element:
 *   0.5·d²                 when |d| <= delta
 *   delta·(|d| - 0.5·delta) otherwise
 * built as 0.5·q² + delta·(|d| - q) with q = clamp(|d|, 0, delta). */
ag_tensor *nn_huber_loss(ag_tape *t, ag_tensor *pred, ag_tensor *target, double delta,
                         nn_reduction r);

/* The clamp of probabilities in the probability losses: NN_PROB_EPS_F64
 * for f64 and NN_PROB_EPS_F32 for f32 (1 - 1e-7 is still below 1 in
 * float). */
#define NN_PROB_EPS_F64 1e-12
#define NN_PROB_EPS_F32 1e-7

/* Binary cross-entropy on probabilities p in [0, 1] with targets y in
 * [0, 1], per element:
 *   -(y·log(p') + (1 - y)·log(1 - p')),  p' = clamp(p, eps, 1 - eps)
 * with eps as above, so log(0) cannot happen; outside [eps, 1 - eps] the
 * gradient with respect to p is 0 (the clamp's). Prefer
 * nn_bce_with_logits_loss when the model ends in a sigmoid. */
ag_tensor *nn_bce_loss(ag_tape *t, ag_tensor *prob, ag_tensor *target, nn_reduction r);

/* Binary cross-entropy on logits z (p = sigmoid(z)), per element, in the
 * stable form:
 *   max(z, 0) - z·y + log(1 + e^(-|z|))
 * (relu, abs and softplus of engine ops): finite for any finite z. */
ag_tensor *nn_bce_with_logits_loss(ag_tape *t, ag_tensor *logits, ag_tensor *target,
                                   nn_reduction r);

/* Categorical cross-entropy on probabilities p (B, C), each row a
 * distribution, with targets y (B, C) (one-hot, or any distribution); per
 * row:
 *   -sum_c y_c·log(max(p_c, eps))     (eps as above; clamp to [eps, 1])
 * then the mean or sum over the B rows. */
ag_tensor *nn_categorical_cross_entropy(ag_tape *t, ag_tensor *prob, ag_tensor *target,
                                        nn_reduction r);

/* Cross-entropy from logits z (B, C) with class indices labels[0..n-1]
 * (n == B, each in [0, C)); per row:
 *   -log_softmax(z)_(label) = logsumexp(z) - z_label
 * (ag_log_softmax then ag_gather: stable for any finite z), then the mean
 * or sum over the rows. Equals nn_categorical_cross_entropy of
 * softmax(z) and the one-hot of the labels, without its clamp. A label
 * outside [0, C) (negative ones included) fails with AG_ERR_AXIS naming
 * the row and value. The labels are copied. */
ag_tensor *nn_sparse_cross_entropy(ag_tape *t, ag_tensor *logits, int64_t n,
                                   const int64_t *labels, nn_reduction r);


/* ------------------------------------------------------------ optimizers
 *
 * An optimizer updates a fixed list of parameters in place, through
 * ag_data_mut, from the gradients the last backward left in them. Use:
 *
 *   nn_optim_zero_grad(o); y = forward; loss; ag_backward(t, loss);
 *   nn_optim_step(o); ag_tape_reset(t);
 *
 * The write bumps every parameter's version, so a backward through a tape
 * recorded before the step fails with AG_ERR_STATE instead of using stale
 * values (pitfall 6 of docs/design.md): reset the tape and record a new
 * forward.
 *
 * Update rules, per element, with p the value, g its gradient, lr the
 * learning rate, wd the weight decay and t the step count from 1 (as
 * PyTorch's torch.optim defines them, dampening 0):
 *
 *   SGD:    g += wd·p
 *           momentum μ > 0:  buf = μ·buf + g    (buf starts at 0, so buf = g at t = 1)
 *                            g = nesterov ? g + μ·buf : buf
 *           p -= lr·g
 *   Adam:   g += wd·p                          (L2 penalty through the gradient)
 *           m = β1·m + (1 - β1)·g
 *           v = β2·v + (1 - β2)·g²
 *           m̂ = m / (1 - β1^t),  v̂ = v / (1 - β2^t)
 *           p -= lr·m̂ / (sqrt(v̂) + eps)       (eps outside the sqrt)
 *   AdamW:  p -= lr·wd·p                        (decoupled decay, first)
 *           then Adam's update with wd = 0
 *
 * State (momentum buffers, m and v) is kept in doubles whatever the
 * parameters' dtype, allocated once at the first step; no step after the
 * first allocates. The arithmetic is in double; f32 parameters are rounded
 * once when stored. */

typedef enum nn_optim_kind { NN_SGD = 1, NN_ADAM, NN_ADAMW } nn_optim_kind;

typedef struct nn_optim_opts {
    nn_optim_kind kind;
    double lr;           /* learning rate, >= 0 and finite */
    double weight_decay; /* >= 0: L2 for SGD and Adam, decoupled for AdamW */
    double momentum;     /* SGD: μ in [0, 1) (0 = plain SGD) */
    bool nesterov;       /* SGD: Nesterov momentum (needs momentum > 0) */
    double beta1, beta2; /* Adam/AdamW: in [0, 1) */
    double eps;          /* Adam/AdamW: > 0 */
} nn_optim_opts;

/* Options with PyTorch's defaults: SGD (momentum 0, no decay); Adam
 * (β 0.9, 0.999, eps 1e-8, no decay); AdamW (the same, weight decay 0.01). */
nn_optim_opts nn_sgd_opts(double lr);
nn_optim_opts nn_adam_opts(double lr);
nn_optim_opts nn_adamw_opts(double lr);

typedef struct nn_optim nn_optim;

/* An optimizer over every parameter registered in `ps` now (the list is
 * copied: parameters registered later are not included; the store must
 * outlive the optimizer). NULL with nn_last_error() for bad options (a
 * negative or non-finite rate, momentum or beta outside [0, 1), Nesterov
 * without momentum, eps <= 0, unknown kind). */
nn_optim *nn_optim_new(nn_params *ps, const nn_optim_opts *opts);

/* The same over params[0..n-1] (parameters, each listed once; the caller
 * keeps them alive). */
nn_optim *nn_optim_new_list(size_t n, ag_tensor *const *params, const nn_optim_opts *opts);

/* Frees the optimizer and its state (not the parameters). NULL is a no-op. */
void nn_optim_free(nn_optim *o);

/* One update of every parameter by the rules above, from their current
 * gradients. Returns NN_OK, or NN_ERR_MEMORY if the state cannot be
 * allocated at the first step (nothing is changed then). */
nn_status nn_optim_step(nn_optim *o);

/* Sets every parameter's gradient to zero. */
void nn_optim_zero_grad(nn_optim *o);

/* The learning rate, and changing it between steps (for a schedule; a
 * negative or non-finite lr is ignored). */
double nn_optim_lr(const nn_optim *o);
void nn_optim_set_lr(nn_optim *o, double lr);

/* Steps taken so far (t in the rules above after the last step). */
int64_t nn_optim_steps(const nn_optim *o);

/* The optimizer's state as tensors, for checkpoints (PyTorch's
 * optimizer.state_dict): "step" (0-d, the step count) and, per parameter
 * named N (its ag_name, or "#i" for the i-th when unnamed), f64 tensors of
 * its shape: "momentum_buffer.N" for SGD with momentum, "exp_avg.N" and
 * "exp_avg_sq.N" (m and v) for Adam and AdamW; plain SGD keeps only the
 * step. Before the first step the buffers are zeros. The options (lr,
 * betas, ...) are not part of it: they come from the code.
 *
 * Export registers these into `out`, which must be empty (free it with
 * nn_params_free). Import copies them back: `in` must have exactly the
 * names, and f64 tensors of the shapes, that an export of `o` has, else
 * NN_ERR_MISMATCH naming the first difference and nothing changes. After an
 * import the next nn_optim_step continues exactly as the exporting
 * optimizer's would have (the same update, bit for bit). */
nn_status nn_optim_state_export(const nn_optim *o, nn_params *out);
nn_status nn_optim_state_import(nn_optim *o, const nn_params *in);

/* The state in a file of nn_save's format (nn/FORMAT.md), atomically; and
 * read back, validated strictly against the optimizer's own export (files
 * over max_bytes are refused, 0 = no limit) before anything changes. */
nn_status nn_optim_save(const nn_optim *o, const char *path);
nn_status nn_optim_load(nn_optim *o, const char *path, size_t max_bytes);

/* Gradient clipping by global norm: with N = sqrt(sum over all the
 * parameters' gradient elements of g²), when N > max_norm every gradient is
 * multiplied by max_norm / N (so the new norm is max_norm; PyTorch divides
 * by N + 1e-6 instead). Gradients with N <= max_norm, or a non-finite N,
 * are left alone. Returns N, the norm before clipping, or NaN with
 * nn_last_error() for bad arguments (max_norm must be > 0). */
double nn_clip_grad_norm(size_t n, ag_tensor *const *params, double max_norm);

/* The same over every parameter of a store. */
double nn_params_clip_grad_norm(nn_params *ps, double max_norm);

/* -------------------------------------------------- learning-rate schedules */

typedef enum nn_lr_kind { NN_LR_CONSTANT = 0, NN_LR_STEP, NN_LR_COSINE } nn_lr_kind;

/* A schedule: the learning rate as a function of the step (0, 1, ...).
 *   constant:  lr(s) = base
 *   step:      lr(s) = base·gamma^floor(s / step_size)
 *   cosine:    lr(s) = min_lr + (base - min_lr)·(1 + cos(π·min(s, total) / total)) / 2
 *              (base at 0, min_lr from `total` on) */
typedef struct nn_lr_schedule {
    nn_lr_kind kind;
    double base;       /* learning rate at step 0 */
    int64_t step_size; /* step: steps between decays, >= 1 */
    double gamma;      /* step: factor per decay */
    int64_t total;     /* cosine: steps to reach min_lr, >= 1 */
    double min_lr;     /* cosine: the final rate */
} nn_lr_schedule;

nn_lr_schedule nn_lr_constant(double base);
nn_lr_schedule nn_lr_step(double base, int64_t step_size, double gamma);
nn_lr_schedule nn_lr_cosine(double base, int64_t total, double min_lr);

/* The learning rate at `step` (a negative step counts as 0). NaN with
 * nn_last_error() for NULL or a bad schedule (step_size or total < 1,
 * unknown kind). */
double nn_lr_at(const nn_lr_schedule *s, int64_t step);

#ifdef __cplusplus
}
#endif
#endif /* TAPEGRAD_NN_H */

/* tapegrad nn — parameter store, save/load, and data for training loops.
 *
 * Everything here has the prefix nn_ and builds on autograd.h.
 *
 * Errors: functions return NULL or an nn_status; they never exit or abort on
 * bad input. The message of the last failed call (naming the file, line,
 * column, tensor or shape involved) is kept per thread and returned by
 * nn_last_error(). A successful call does not clear it.
 */
#ifndef TAPEGRAD_NN_H
#define TAPEGRAD_NN_H

#include "autograd.h"

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
} nn_status;

/* Name of a status code, e.g. "file format error". */
const char *nn_status_str(nn_status s);

/* The message of the last failed nn_ call in this thread, or NULL if none
 * has failed yet. */
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
 * (overflow), or a blank line between rows. */
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

#ifdef __cplusplus
}
#endif
#endif /* TAPEGRAD_NN_H */

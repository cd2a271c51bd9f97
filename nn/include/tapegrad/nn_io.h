/* tapegrad nn — weights and arrays in and out of other tools: safetensors
 * files for a parameter store, .npy files for single arrays, and PyTorch's
 * layout of the layers' parameters.
 *
 * The formats, as tapegrad writes and checks them, are in nn/FORMAT.md.
 * Errors are as in nn.h: an nn_status (or NULL) and nn_last_error(). Every
 * reader validates the whole file before it changes anything; every writer
 * is atomic like nn_save.
 */
#ifndef TAPEGRAD_NN_IO_H
#define TAPEGRAD_NN_IO_H

#include <tapegrad/nn.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------ PyTorch's layout
 *
 * A parameter's values are laid out here as the layer that owns it computes
 * with them; PyTorch may lay out the same parameter differently. Linear is
 * the example: its weight is (in, out) here, because the layer computes
 * x·W, and (out, in) in torch.nn.Linear, which computes x·Wᵀ. Biases and
 * most other parameters are the same on both sides.
 *
 * A layer whose parameter differs declares it when it registers the
 * parameter, with nn_params_set_torch_layout(ps, name, &its_layout), where
 * its_layout is a static nn_torch_layout of the layer's own file (Linear
 * uses nn_torch_transpose). The safetensors functions with
 * NN_LAYOUT_PYTORCH then write and read that parameter in PyTorch's layout;
 * parameters without one are written as they are. Recurrent and convolution
 * layers do the same for their weights (for instance a gate reordering or a
 * permutation of kernel axes): two functions describe any rearrangement of
 * the elements, and neither allocates. */
typedef struct nn_torch_layout {
    /* What it is, for messages, e.g. "transposed (in, out) -> (out, in)". */
    const char *name;
    /* PyTorch's shape for a parameter whose shape here is (ndim, shape):
     * sets *torch_ndim (<= AG_MAX_DIMS) and torch_shape, with the same
     * number of elements. Returns false when the layout does not apply to
     * that shape (the save or load then fails naming the parameter). */
    bool (*torch_shape)(int ndim, const int64_t *shape, int *torch_ndim, int64_t *torch_shape);
    /* The row-major index here of element i (row-major) of PyTorch's
     * tensor, for i in [0, numel): a permutation of [0, numel). */
    int64_t (*index_here)(int ndim, const int64_t *shape, int64_t i);
} nn_torch_layout;

/* A 2-d (a, b) here is (b, a) in PyTorch: Linear's weight. */
extern const nn_torch_layout nn_torch_transpose;

/* Declares the PyTorch layout of the parameter registered as `name`
 * (NULL: the same layout as here, the default). NN_ERR_ARG when no such
 * name is registered, or when the layout does not apply to its shape. The
 * layout must outlive the store (make it static const). */
nn_status nn_params_set_torch_layout(nn_params *ps, const char *name, const nn_torch_layout *layout);

/* The PyTorch layout declared for `name`, or NULL (same as here, or no
 * such name). */
const nn_torch_layout *nn_params_torch_layout(const nn_params *ps, const char *name);

/* ------------------------------------------------------------ safetensors
 *
 * The safetensors format (Hugging Face's): an 8-byte little-endian header
 * size N, N bytes of JSON mapping each tensor's name to its dtype, shape
 * and byte range, then the little-endian row-major data. tapegrad writes
 * f32 and f64 tensors and reads F32, F64, F16 and BF16 (F16 and BF16 into
 * f32 parameters, converted exactly: subnormals, infinities and NaNs
 * included). The JSON is parsed and written with Jansson (libjansson):
 * without it the library builds but these functions fail with
 * NN_ERR_UNSUPPORTED (see nn_safetensors_available).
 *
 * The parameter names are the keys. The header's "__metadata__" records
 * {"format": "tapegrad" or "pt", "layout": "tapegrad" or "pytorch",
 * "producer": "tapegrad <version>"}. */

/* Whose layout the parameters are in (see nn_torch_layout above). */
typedef enum nn_layout {
    NN_LAYOUT_TAPEGRAD = 0, /* as here */
    NN_LAYOUT_PYTORCH,      /* as torch.nn's modules hold them, for load_state_dict */
} nn_layout;

/* A name prefix here and its spelling in the file: "mlp.1." here is "2."
 * in a torch.nn.Sequential whose odd entries are activations. A name
 * starting with `ours` is written with `theirs` instead of that prefix; a
 * file name starting with `theirs` is read back as `ours` + the rest. The
 * first pair that matches is used. Within one list no `ours` may be a
 * prefix of another `ours`, nor a `theirs` of another `theirs`, so that
 * reading inverts writing (else NN_ERR_ARG). End prefixes with "." so that
 * "mlp.1." does not also match "mlp.10.". */
typedef struct nn_rename {
    const char *ours, *theirs;
} nn_rename;

typedef struct nn_safetensors_opts {
    nn_layout layout;           /* NN_LAYOUT_TAPEGRAD by default */
    const nn_rename *renames;   /* n_renames pairs, or NULL */
    size_t n_renames;
    /* Loading only: strictness, skip reports and the file size limit, as
     * for nn_load. */
    nn_load_opts load;
} nn_safetensors_opts;

/* Whether this build reads and writes safetensors (built with Jansson). */
bool nn_safetensors_available(void);

/* Writes every parameter of the store to `path` as a safetensors file, in
 * registration order, atomically like nn_save. With NN_LAYOUT_PYTORCH each
 * parameter with a declared layout is written in PyTorch's layout and the
 * metadata says "format": "pt". Names are renamed by opts->renames; two
 * parameters that end up with the same name, a name that is not valid
 * UTF-8, or the name "__metadata__" are NN_ERR_ARG, and nothing is written.
 * The header is padded with spaces so the data starts at a multiple of 8
 * bytes. `opts` may be NULL (tapegrad's layout, no renames). */
nn_status nn_save_safetensors(const nn_params *ps, const char *path, const nn_safetensors_opts *opts);

/* Loads a safetensors file into the store's parameters. The whole file is
 * validated before any value is written, and on any error no parameter
 * changes:
 *   - the file: at least 8 bytes; a header size no larger than the file
 *     (nor 100,000,000 bytes); a header that starts with '{' and is JSON
 *     (the message gives Jansson's line and column), an object of objects;
 *   - each tensor: "dtype" a string naming F32, F64, F16 or BF16 (another
 *     dtype is named in the error), "shape" an array of at most AG_MAX_DIMS
 *     non-negative integers, "data_offsets" two integers [begin, end] with
 *     begin <= end <= the data's size and end - begin the shape's bytes;
 *   - together: no name twice (also after renaming), no two tensors'
 *     bytes overlapping, and every data byte belonging to a tensor;
 *   - "__metadata__", when present, an object of strings; its "layout"
 *     (or "format": "pt", which means PyTorch's) must be opts->layout;
 *   - against the store, as nn_load: names (strict or not), dtypes (F32
 *     and F16 and BF16 load into f32, F64 into f64) and shapes (in PyTorch's
 *     layout when asked: the store's (in, out) weight must be (out, in) in
 *     the file).
 * Values are then written through ag_data_mut (tapes recorded before the
 * load refuse to backward). `opts` may be NULL. */
nn_status nn_load_safetensors(nn_params *ps, const char *path, const nn_safetensors_opts *opts);

/* ------------------------------------------------------------------- npy
 *
 * NumPy's .npy format for one array: a magic string, a version, a Python
 * dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * and the values. tapegrad writes version 1.0 files of '<f4' or '<f8' in C
 * order; it reads versions 1.0, 2.0 and 3.0, the dtypes '<f2' '<f4' '<f8'
 * and their big-endian '>' forms, in C or Fortran order (Fortran order is
 * transposed into row-major on reading). Other dtypes (integers, bools,
 * complex, structured, objects) are refused, naming the dtype. */

/* An array read from a file: numel values of dtype (float for AG_F32,
 * which f2 files are converted into exactly, double for AG_F64) in
 * row-major order. ndim may be 0 (a scalar, numel 1). */
typedef struct nn_array {
    ag_dtype dtype;
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    int64_t numel;
    void *data;
} nn_array;

/* Reads a .npy file, validating the magic, the version, the header's dict
 * (exactly the keys 'descr', 'fortran_order' and 'shape', with a supported
 * dtype, a bool and a tuple of at most AG_MAX_DIMS non-negative integers)
 * and that the data is exactly the shape's size. Files over max_bytes
 * (0 = 1 GiB) are refused. NULL on error, with nn_last_error() saying what. */
nn_array *nn_npy_read(const char *path, size_t max_bytes);

/* Frees the array. NULL is a no-op. */
void nn_array_free(nn_array *a);

/* Writes numel = product of shape values of dtype (float or double) as a
 * .npy file ('<f4' or '<f8', C order, version 1.0, the header padded to
 * 64 bytes as NumPy does), atomically like nn_save. */
nn_status nn_npy_write(const char *path, ag_dtype dtype, int ndim, const int64_t *shape, const void *data);

/* nn_npy_write of a tensor's values (a parameter or a tape node). */
nn_status nn_npy_save(const char *path, const ag_tensor *x);

/* Loads a .npy file into parameter p, whose dtype and shape the file must
 * have (an f2 file loads into an f32 parameter); on any error p is not
 * changed. Writes through ag_data_mut. */
nn_status nn_npy_load(ag_tensor *p, const char *path, size_t max_bytes);

#ifdef __cplusplus
}
#endif
#endif /* TAPEGRAD_NN_IO_H */

/* Internal helpers of nn/: error messages, byte order, whole-file reads and
 * atomic file writes. Not installed. */
#ifndef TAPEGRAD_NN_INTERNAL_H
#define TAPEGRAD_NN_INTERNAL_H

#include <tapegrad/nn.h>
#include <tapegrad/nn_io.h>

#include <stdio.h>
#include <sys/stat.h>

#if defined(__GNUC__)
#define NN__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define NN__PRINTF(a, b)
#endif

/* Sets this thread's nn_last_error() message and returns `s`. */
nn_status nn__fail(nn_status s, const char *fmt, ...) NN__PRINTF(2, 3);

/* The parameter named by the len bytes at `name` (not NUL-terminated) and
 * its registration index, or NULL. */
ag_tensor *nn__params_find(const nn_params *ps, const char *name, size_t len, size_t *index);

/* Little- and big-endian fixed-width loads and stores. */
static inline uint32_t nn__ld_le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t nn__ld_le64(const unsigned char *p) {
    return (uint64_t)nn__ld_le32(p) | (uint64_t)nn__ld_le32(p + 4) << 32;
}
static inline void nn__st_le32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static inline void nn__st_le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static inline uint64_t nn__ld_be(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}
static inline void nn__st_be(unsigned char *p, int n, uint64_t v) {
    for (int i = n - 1; i >= 0; i--, v >>= 8) p[i] = (unsigned char)v;
}

/* Opens `path` for reading if it is a regular file, which every reader
 * needs first: a FIFO, device or folder is refused (NN_ERR_IO) without
 * blocking. Fills *st (fstat). Every file reader opens through here. */
nn_status nn__open_regular(const char *what, const char *path, FILE **f, struct stat *st);

/* Reads the whole of `path` (opened with nn__open_regular) into a malloc'd buffer (*buf, *len; free with
 * free). Files over max_bytes (0 = no limit) are refused with NN_ERR_MEMORY.
 * `what` names the caller in messages, e.g. "load". */
nn_status nn__read_file(const char *what, const char *path, size_t max_bytes,
                        unsigned char **buf, size_t *len);

/* An atomic file write: bytes go to a mkstemp file beside the target, and
 * commit flushes, fsyncs, renames it over the target and fsyncs the folder.
 * Any failure (including the test hook's simulated one) removes the
 * temporary file. */
typedef struct nn__writer {
    FILE *f;
    char *tmp;          /* temporary file's path */
    const char *path;   /* target */
    const char *what;   /* caller's name for messages */
    uint64_t written;
} nn__writer;

nn_status nn__writer_open(nn__writer *w, const char *what, const char *path);
nn_status nn__writer_write(nn__writer *w, const void *p, size_t n);
nn_status nn__writer_commit(nn__writer *w);
void nn__writer_abort(nn__writer *w);

/* The PyTorch layout declared for the i-th parameter (NULL: same as here). */
const nn_torch_layout *nn__params_layout_at(const nn_params *ps, size_t i);

/* That a rename list is usable: no NULLs, and no prefix of one pair a
 * prefix of another's on the same side. `what` starts the message. */
nn_status nn__renames_check(const char *what, const nn_rename *r, size_t n);

/* `name` (len bytes) renamed by the first matching pair (ours -> theirs
 * when to_file, else back), into out (NUL-terminated). Returns its length,
 * or SIZE_MAX when it does not fit in size bytes. */
size_t nn__rename(const nn_rename *r, size_t n, bool to_file, const char *name, size_t len, char *out,
                  size_t size);

/* ------------------------------------------------- values read from files */

/* How a file stores its values. */
typedef enum nn__enc {
    NN__F32LE = 1,
    NN__F64LE,
    NN__F16LE,  /* IEEE 754 binary16, read into float */
    NN__BF16LE, /* bfloat16: the top half of a float */
    NN__F32BE,
    NN__F64BE,
    NN__F16BE,
} nn__enc;

/* Bytes per value, and the dtype a value is read into (f64 only for the
 * 8-byte encodings). */
size_t nn__enc_size(nn__enc e);
ag_dtype nn__enc_dtype(nn__enc e);

/* Decodes the value at src into *dst (a float or a double, by
 * nn__enc_dtype), exactly. */
void nn__decode(nn__enc e, const unsigned char *src, void *dst);

/* binary16 and bfloat16 bits to float bits, exact (every value of both is
 * a float): subnormals are normalised, infinities and NaNs (their payload
 * shifted up) kept. */
static inline uint32_t nn__f16_to_f32_bits(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return sign | 0x7f800000u | man << 13;  /* inf, NaN */
    if (exp) return sign | (exp + 112) << 23 | man << 13;    /* rebias 15 -> 127 */
    if (!man) return sign;                                    /* ±0 */
    int k = 9;                                                /* man·2^-24: its top bit k */
    while (!(man >> k)) k--;
    return sign | (uint32_t)(k + 103) << 23 | (man << (23 - k) & 0x7fffffu);
}
static inline uint32_t nn__bf16_to_f32_bits(uint16_t h) { return (uint32_t)h << 16; }

/* A tensor described by a file, as loading sees it. */
typedef struct nn__ftensor {
    const char *name;   /* the store name it loads into (not NUL-terminated) */
    size_t nlen;
    const char *fname;  /* its name in the file (== name unless renamed) */
    size_t fnlen;
    nn__enc enc;
    int ndim;           /* shape as in the file */
    int64_t shape[AG_MAX_DIMS];
    int64_t numel;
    const unsigned char *data;      /* numel encoded values */
    ag_tensor *p;                   /* set by nn__match: its parameter, or NULL (skipped) */
    const nn_torch_layout *layout;  /* set by nn__match: the file holds p in this layout */
} nn__ftensor;

/* Matches the file's tensors against the store: no store name twice,
 * every name on both sides (unless o->non_strict), dtypes (by
 * nn__enc_dtype) and shapes equal — in PyTorch's layout for parameters that
 * declare one when `torch` is true. Sets each ts[i].p (and .layout), and
 * seen[j] for each store index j found. `what` and `path` start the
 * messages ("load: 'path': ..."). Changes no parameter. */
nn_status nn__match(const char *what, const char *path, nn__ftensor *ts, size_t n, nn_params *ps,
                    const nn_load_opts *o, bool torch, bool *seen);

/* After a successful nn__match: reports skipped names through o->on_skip,
 * then writes every matched tensor's values into its parameter (through
 * ag_data_mut, rearranged from PyTorch's layout where one is set). */
void nn__store_values(nn__ftensor *ts, size_t n, nn_params *ps, const nn_load_opts *o, const bool *seen);

/* The shape parameter p has in a file: its own (L NULL) or PyTorch's
 * (L->torch_shape); NN_ERR_ARG when L does not apply to p's shape. `nm`
 * names p in the message (quoted by the caller). */
nn_status nn__layout_shape(const char *what, const char *path, const char *nm, const ag_tensor *p,
                           const nn_torch_layout *L, int *ndim, int64_t *shape);

/* That L->index_here maps every element of p into [0, numel): checked
 * before any value is read or written through it. */
nn_status nn__layout_check(const char *what, const char *path, const char *nm, const ag_tensor *p,
                           const nn_torch_layout *L);

/* n bytes at name as a printable C string in out (bytes outside 0x20..0x7e
 * as '?'), cut to size - 1 bytes. */
const char *nn__show_name(char *out, size_t size, const char *name, size_t n);

#endif

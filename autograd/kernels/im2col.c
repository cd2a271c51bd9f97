/* im2col and col2im, for f32 and f64 from one template. Each (channel,
 * kernel offset) row of col is OH runs of OW: a run reads one input row
 * at stride sw, and the part of it that falls in the padding is found once
 * per run (the ow range whose input column is inside [0, W)), so the inner
 * loop has no bounds test and, for stride 1, is a plain copy. */
#include "im2col.h"

#include <stddef.h>
#include <string.h>

/* The rows are short (a few dozen elements): loops, not calls. Compilers
 * turn plain copy and fill loops into memcpy and memset calls, whose call
 * cost outweighed the copying itself (an im2col of LeNet's first layer
 * made 2.3 million such calls per batch); these attributes keep the loops,
 * which the compiler vectorises. */
#if defined(__clang__)
#define AG_INLINE_LOOPS __attribute__((no_builtin("memcpy", "memset")))
#elif defined(__GNUC__)
#define AG_INLINE_LOOPS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define AG_INLINE_LOOPS
#endif

/* The ow range [lo, hi) whose input column ow·sw - pw + off lies in [0, W). */
static void valid_cols(const ag_im2col_geom *g, int64_t off, int64_t *lo, int64_t *hi) {
    int64_t first = g->pw - off; /* smallest ow·sw reaching column 0 */
    int64_t l = first <= 0 ? 0 : (first + g->sw - 1) / g->sw;
    int64_t last = g->W + g->pw - off; /* ow·sw must stay below this */
    int64_t h = last <= 0 ? 0 : (last + g->sw - 1) / g->sw;
    if (h > g->OW) h = g->OW;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* d[0 .. n) = s[0 .. n) at source stride st; d[0 .. n) = 0; d += s. */
#define ROW_HELPERS(T, SUF)                                                  \
    static AG_INLINE_LOOPS inline void copy_##SUF(T *restrict d, const T *restrict s, int64_t n, \
                                                  int64_t st) {              \
        if (st == 1)                                                         \
            for (int64_t k = 0; k < n; k++) d[k] = s[k];                     \
        else                                                                 \
            for (int64_t k = 0; k < n; k++) d[k] = s[k * st];                \
    }                                                                        \
    static AG_INLINE_LOOPS inline void zero_##SUF(T *restrict d, int64_t n) { \
        for (int64_t k = 0; k < n; k++) d[k] = 0;                            \
    }                                                                        \
    static AG_INLINE_LOOPS inline void add_##SUF(T *restrict d, const T *restrict s, int64_t n, \
                                                 int64_t st) {               \
        if (st == 1)                                                         \
            for (int64_t k = 0; k < n; k++) d[k] += s[k];                    \
        else                                                                 \
            for (int64_t k = 0; k < n; k++) d[k * st] += s[k];               \
    }

#define IM2COL_T(T, SUF)                                                     \
    ROW_HELPERS(T, SUF)                                                      \
    AG_INLINE_LOOPS void ag__im2col_##SUF(const ag_im2col_geom *g, const T *x, T *col, int64_t ld) { \
        const int64_t OW = g->OW, sw = g->sw;                                \
        for (int64_t c = 0; c < g->C; c++)                                   \
            for (int64_t i = 0; i < g->kh; i++)                              \
                for (int64_t j = 0; j < g->kw; j++) {                        \
                    T *row = col + ((c * g->kh + i) * g->kw + j) * ld;       \
                    const int64_t off = j * g->dw;                           \
                    int64_t lo, hi;                                          \
                    valid_cols(g, off, &lo, &hi);                            \
                    for (int64_t oh = 0; oh < g->OH; oh++, row += OW) {      \
                        const int64_t ih = oh * g->sh - g->ph + i * g->dh;   \
                        if (ih < 0 || ih >= g->H) {                          \
                            zero_##SUF(row, OW);                             \
                            continue;                                        \
                        }                                                    \
                        const T *src = x + (c * g->H + ih) * g->W + (lo * sw - g->pw + off); \
                        zero_##SUF(row, lo);                                 \
                        copy_##SUF(row + lo, src, hi - lo, sw);              \
                        zero_##SUF(row + hi, OW - hi);                       \
                    }                                                        \
                }                                                            \
    }                                                                        \
                                                                             \
    AG_INLINE_LOOPS void ag__col2im_##SUF(const ag_im2col_geom *g, const T *col, int64_t ld, T *x) { \
        const int64_t OW = g->OW, sw = g->sw;                                \
        for (int64_t c = 0; c < g->C; c++)                                   \
            for (int64_t i = 0; i < g->kh; i++)                              \
                for (int64_t j = 0; j < g->kw; j++) {                        \
                    const T *row = col + ((c * g->kh + i) * g->kw + j) * ld; \
                    const int64_t off = j * g->dw;                           \
                    int64_t lo, hi;                                          \
                    valid_cols(g, off, &lo, &hi);                            \
                    for (int64_t oh = 0; oh < g->OH; oh++, row += OW) {      \
                        const int64_t ih = oh * g->sh - g->ph + i * g->dh;   \
                        if (ih < 0 || ih >= g->H) continue;                  \
                        T *dst = x + (c * g->H + ih) * g->W + (lo * sw - g->pw + off); \
                        add_##SUF(dst, row + lo, hi - lo, sw);               \
                    }                                                        \
                }                                                            \
    }

#define WIDE_T(T, SUF)                                                       \
    void ag__im2col_wide_##SUF(const ag_im2col_geom *g, const T *x, T *colw, int64_t ld) { \
        const int64_t L = (g->OH - 1) * g->W + g->OW;                        \
        for (int64_t c = 0, r = 0; c < g->C; c++)                            \
            for (int64_t i = 0; i < g->kh; i++)                              \
                for (int64_t j = 0; j < g->kw; j++, r++)                     \
                    memcpy(colw + r * ld, x + (c * g->H + i * g->dh) * g->W + j * g->dw, \
                           (size_t)L * sizeof(T));                           \
    }                                                                        \
    AG_INLINE_LOOPS void ag__col2im_wide_##SUF(const ag_im2col_geom *g, const T *colw, int64_t ld, \
                                                T *x) {                                \
        const int64_t L = (g->OH - 1) * g->W + g->OW;                        \
        for (int64_t c = 0, r = 0; c < g->C; c++)                            \
            for (int64_t i = 0; i < g->kh; i++)                              \
                for (int64_t j = 0; j < g->kw; j++, r++)                     \
                    add_##SUF(x + (c * g->H + i * g->dh) * g->W + j * g->dw, colw + r * ld, L, 1); \
    }                                                                        \
    AG_INLINE_LOOPS void ag__copy2d_##SUF(int64_t rows, int64_t cols, const T *src, int64_t sld, \
                                          T *dst, int64_t dld, bool add) {   \
        for (int64_t r = 0; r < rows; r++) {                                 \
            if (add) add_##SUF(dst + r * dld, src + r * sld, cols, 1);       \
            else copy_##SUF(dst + r * dld, src + r * sld, cols, 1);          \
        }                                                                    \
    }

IM2COL_T(float, f32)
IM2COL_T(double, f64)
WIDE_T(float, f32)
WIDE_T(double, f64)

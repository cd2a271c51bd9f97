/* im2col and col2im (internal): the convolution's patches as the columns
 * of a matrix, so a convolution is one GEMM, and the patches' gradient
 * added back. Plain arrays, row-major; knows nothing of nodes or tapes.
 *
 * For one image x (C, H, W) and a kernel (kh, kw) with stride (sh, sw),
 * dilation (dh, dw) and zero padding (ph, pw) before each spatial
 * dimension (any padding after is implied by OH, OW), the column matrix is
 * col (C·kh·kw, OH·OW):
 *   col[(c·kh + i)·kw + j][oh·OW + ow] = x[c][oh·sh - ph + i·dh][ow·sw - pw + j·dw]
 * and 0 where that index falls in the padding. A 1-D convolution is the
 * case H = kh = OH = 1. */
#ifndef TAPEGRAD_IM2COL_H
#define TAPEGRAD_IM2COL_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ag_im2col_geom {
    int64_t C, H, W;    /* one image */
    int64_t kh, kw;     /* kernel */
    int64_t sh, sw;     /* stride */
    int64_t dh, dw;     /* dilation */
    int64_t ph, pw;     /* padding before */
    int64_t OH, OW;     /* output */
} ag_im2col_geom;

/* col = im2col(x): every element of col is written. ld is col's row
 * stride (>= OH·OW), so several images' columns can sit side by side. */
void ag__im2col_f32(const ag_im2col_geom *g, const float *x, float *col, int64_t ld);
void ag__im2col_f64(const ag_im2col_geom *g, const double *x, double *col, int64_t ld);

/* x += col2im(col): each column entry is added to the x element it was
 * taken from (entries from the padding are dropped), the adjoint of
 * im2col. */
void ag__col2im_f32(const ag_im2col_geom *g, const float *col, int64_t ld, float *x);
void ag__col2im_f64(const ag_im2col_geom *g, const double *col, int64_t ld, double *x);

/* The wide column matrix of a stride-1 convolution (sh = sw = 1, no
 * padding: pad the image first), whose rows are single contiguous runs:
 * colw (C·kh·kw, L), L = (OH - 1)·W + OW, with
 *   colw[(c·kh + i)·kw + j][oh·W + ow] = x[c][oh + i·dh][ow + j·dw],
 * so output (oh, ow) is column oh·W + ow and the columns with ow >= OW are
 * not outputs (they hold wrapped-around values). One copy per row instead
 * of OH short ones; the GEMM runs over W/OW more columns. */
void ag__im2col_wide_f32(const ag_im2col_geom *g, const float *x, float *colw, int64_t ld);
void ag__im2col_wide_f64(const ag_im2col_geom *g, const double *x, double *colw, int64_t ld);

/* x += col2im of a wide column matrix (row stride ld); its non-output
 * columns must be 0. */
void ag__col2im_wide_f32(const ag_im2col_geom *g, const float *colw, int64_t ld, float *x);
void ag__col2im_wide_f64(const ag_im2col_geom *g, const double *colw, int64_t ld, double *x);

/* dst (rows, cols) at row stride dld = (or +=, when add) src (rows, cols)
 * at row stride sld: padding, cropping, compacting wide rows. */
void ag__copy2d_f32(int64_t rows, int64_t cols, const float *src, int64_t sld, float *dst,
                    int64_t dld, bool add);
void ag__copy2d_f64(int64_t rows, int64_t cols, const double *src, int64_t sld, double *dst,
                    int64_t dld, bool add);

#endif /* TAPEGRAD_IM2COL_H */

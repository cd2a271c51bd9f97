/* The packed GEMM (gemm_impl.h) at the avx512 level: 64-byte vectors, a 12 x 2-vector tile. Built
 * with that level's instruction flags (meson.build); called only when the
 * CPU has them (gemm.c, cpu.h). */
#include "gemm_levels.h"

#define GEMM_VEC_BYTES 64
#define GEMM_MR 12 /* 24 accumulators of the 32 vector registers */
#define GEMM_LEVEL avx512
#include "gemm_impl.h"

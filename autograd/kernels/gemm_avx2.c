/* The packed GEMM (gemm_impl.h) at the avx2 level: 32-byte vectors. Built
 * with that level's instruction flags (meson.build); called only when the
 * CPU has them (gemm.c, cpu.h). */
#include "gemm_levels.h"

#define GEMM_VEC_BYTES 32
#define GEMM_MR 6 /* 12 accumulators of the 16 vector registers */
#define GEMM_LEVEL avx2
#include "gemm_impl.h"

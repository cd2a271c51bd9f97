/* The packed GEMM (gemm_impl.h) at the sse2 level: 16-byte vectors, the
 * baseline of x86-64 and, through the compiler's vector extensions, the
 * portable path on other CPUs. Built
 * with that level's instruction flags (meson.build); called only when the
 * CPU has them (gemm.c, cpu.h). */
#include "gemm_levels.h"

#define GEMM_VEC_BYTES 16
#define GEMM_MR 6 /* 12 accumulators of the 16 vector registers */
#define GEMM_LEVEL sse2
#include "gemm_impl.h"

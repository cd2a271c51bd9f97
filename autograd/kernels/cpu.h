/* Which vector instruction set the numeric kernels use: the runtime CPU
 * dispatch shared by every kernel with more than one implementation (GEMM,
 * f32 vector math). Plain data and functions: knows nothing of nodes or
 * tapes. Not installed.
 *
 * The level is detected once from the CPU (cpuid and the OS's saved vector
 * state, through __builtin_cpu_supports), and can be lowered, never raised
 * past what the CPU has, by the environment variable TAPEGRAD_ISA
 * (`avx512`, `avx2`, `sse2`), read at the first query, or by
 * ag__cpu_set_isa, so tests and benchmarks can run every path on one
 * machine. */
#ifndef TAPEGRAD_KERNELS_CPU_H
#define TAPEGRAD_KERNELS_CPU_H

#include <stdbool.h>

/* Ordered: a higher level includes every lower one. */
typedef enum ag_isa {
    AG_ISA_SSE2 = 0,   /* baseline x86-64, and the portable C path elsewhere */
    AG_ISA_AVX2 = 1,   /* AVX2 with FMA3 */
    AG_ISA_AVX512 = 2, /* AVX-512 F, BW, DQ and VL */
} ag_isa;

/* The level the kernels use now. Thread-safe; cheap after the first call. */
ag_isa ag__cpu_isa(void);

/* The best level this CPU and OS support, ignoring any override. */
ag_isa ag__cpu_isa_detected(void);

/* Uses `isa` from now on; false (and no change) when the CPU lacks it.
 * For tests and benchmarks; not for use while kernels run in other threads. */
bool ag__cpu_set_isa(ag_isa isa);

/* "avx512", "avx2" or "sse2". */
const char *ag__cpu_isa_name(ag_isa isa);

/* Parses a level's name as above; false when it is none of them. */
bool ag__cpu_isa_parse(const char *name, ag_isa *out);

#endif /* TAPEGRAD_KERNELS_CPU_H */

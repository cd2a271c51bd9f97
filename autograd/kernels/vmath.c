/* Which implementation of the f32 vector math runs: the one for the vector
 * level kernels/cpu.h reports, among those this build has. */
#include "vmath.h"

#include <stddef.h>

#if defined(__x86_64__) && defined(TAPEGRAD_VMATH_X86)
extern const ag_vmath ag__vmath_sse2, ag__vmath_avx2, ag__vmath_avx512;
#endif

const ag_vmath *ag__vmath_for(ag_isa isa) {
    if (isa > ag__cpu_isa_detected()) return NULL;
#if defined(__x86_64__) && defined(TAPEGRAD_VMATH_X86)
    switch (isa) {
    case AG_ISA_AVX512: return &ag__vmath_avx512;
    case AG_ISA_AVX2: return &ag__vmath_avx2;
    default: return &ag__vmath_sse2;
    }
#else
    return isa == AG_ISA_SSE2 ? &ag__vmath_generic : NULL;
#endif
}

const ag_vmath *ag__vmath(void) {
    const ag_vmath *vm = ag__vmath_for(ag__cpu_isa());
    return vm ? vm : &ag__vmath_generic;
}

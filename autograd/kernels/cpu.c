/* Runtime CPU dispatch: the detected vector level and its override. */
#include "cpu.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static ag_isa detect(void) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return AG_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return AG_ISA_AVX2;
#endif
    return AG_ISA_SSE2;
}

/* -1 until the first query; then the level in use. */
static _Atomic int current = -1;

ag_isa ag__cpu_isa_detected(void) {
    static _Atomic int detected = -1;
    int d = atomic_load_explicit(&detected, memory_order_relaxed);
    if (d < 0) {
        d = (int)detect();
        atomic_store_explicit(&detected, d, memory_order_relaxed);
    }
    return (ag_isa)d;
}

const char *ag__cpu_isa_name(ag_isa isa) {
    switch (isa) {
    case AG_ISA_AVX512: return "avx512";
    case AG_ISA_AVX2: return "avx2";
    default: return "sse2";
    }
}

bool ag__cpu_isa_parse(const char *name, ag_isa *out) {
    static const ag_isa all[] = {AG_ISA_SSE2, AG_ISA_AVX2, AG_ISA_AVX512};
    for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(name, ag__cpu_isa_name(all[i])) == 0) {
            *out = all[i];
            return true;
        }
    }
    return false;
}

ag_isa ag__cpu_isa(void) {
    int c = atomic_load_explicit(&current, memory_order_relaxed);
    if (c >= 0) return (ag_isa)c;
    ag_isa isa = ag__cpu_isa_detected(), want;
    /* An override above the CPU's level, or a name we do not know, is
     * ignored: the kernels must never run instructions the CPU lacks. */
    if (ag__cpu_isa_parse(getenv("TAPEGRAD_ISA"), &want) && want < isa) isa = want;
    atomic_store_explicit(&current, (int)isa, memory_order_relaxed);
    return isa;
}

bool ag__cpu_set_isa(ag_isa isa) {
    if (isa > ag__cpu_isa_detected() || isa < AG_ISA_SSE2) return false;
    atomic_store_explicit(&current, (int)isa, memory_order_relaxed);
    return true;
}

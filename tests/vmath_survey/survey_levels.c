/* Which SLEEF wrappers the survey may call on this CPU. */
#include "survey.h"

#include <stddef.h>

int sv_level(ag_isa isa) {
#ifdef TAPEGRAD_SURVEY_SLEEF
    return isa >= AG_ISA_AVX512 ? 2 : isa >= AG_ISA_AVX2 ? 1 : 0;
#else
    (void)isa;
    return 0;
#endif
}

const char *sv_name(int level, int ulp) {
    if (level == 2) return ulp == 10 ? "sleef16-u10" : "sleef16-u35";
    return ulp == 10 ? "sleef8-u10" : "sleef8-u35";
}

ag_vfun *sv_fun(int level, int which, int ulp) {
#ifdef TAPEGRAD_SURVEY_SLEEF
    if (level == 2) return sv_fun_avx512(which, ulp);
    if (level == 1) return sv_fun_avx2(which, ulp);
#else
    (void)which;
    (void)ulp;
#endif
    (void)level;
    return NULL;
}

/* SLEEF's f32 kernels as array functions for vmath_survey, when the build
 * has libsleef (TAPEGRAD_SURVEY_SLEEF); otherwise no level has them. */
#ifndef TAPEGRAD_VMATH_SURVEY_H
#define TAPEGRAD_VMATH_SURVEY_H

#include "cpu.h"
#include "vmath.h"

enum { SV_EXP, SV_LOG, SV_TANH, SV_SIGMOID, SV_SIN, SV_COS, SV_NORMCDF, SV_GELU, SV_ERF, SV_N };

/* The SLEEF level to compare with on a CPU of level `isa` (0: none):
 * 2 AVX-512, 1 AVX2. */
int sv_level(ag_isa isa);
const char *sv_name(int level, int ulp);
/* SLEEF's kernel `which` at accuracy u10 (ulp = 10) or u35, or NULL. */
ag_vfun *sv_fun(int level, int which, int ulp);

/* The wrappers, one file per vector width (survey_sleef.c). */
ag_vfun *sv_fun_avx512(int which, int ulp);
ag_vfun *sv_fun_avx2(int which, int ulp);

#endif

/* The public thread count (autograd.h): the kernels' pool (kernels/
 * parallel.h) and, set together with it, OpenBLAS's when it is the GEMM. */
#include <tapegrad/autograd.h>

#include <string.h>

#include "error.h"
#include "gemm.h"
#include "parallel.h"

ag_status ag_set_num_threads(int n) {
    if (n < 1 || n > AG__PARALLEL_MAX_THREADS) {
        ag__error_set_last("ag_set_num_threads: %d threads, must be 1 to %d", n,
                           AG__PARALLEL_MAX_THREADS);
        return AG_ERR_ARG;
    }
    ag__parallel_set_threads(n);
    /* OpenBLAS's count only when it runs the products: setting it wakes its
     * threads, which then spin (sched_yield) on the cores the pool uses. */
    if (strcmp(ag__gemm_backend(), "openblas") == 0) ag_set_blas_threads(n);
    return AG_OK;
}

int ag_get_num_threads(void) { return ag__parallel_threads(); }

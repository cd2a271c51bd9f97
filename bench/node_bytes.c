/* scalar_node_bytes: tape memory per recorded scalar node, from the tape's
 * own statistics over a long chain of scalar ops (a requires-grad leaf and
 * 10^6 alternating sin / x*c nodes), so fixed costs are amortised away. */
#include "bench.h"

#include <tapegrad/autograd.h>
#include <math.h>
#include <stdio.h>

#define CHAIN 1000000

void bench_scalar_node_bytes(void) {
    const char *W = "scalar_node_bytes";
    ag_tape *t = ag_tape_new(0);
    if (!t) return;
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, 0.5));
    for (int i = 0; i < CHAIN / 2; i++) x = ag_mul_c(t, ag_sin(t, x), 1.5);
    ag_tape_stats st = ag_tape_get_stats(t);
    bool ok = ag_tape_status(t) == AG_OK && st.nodes > 0;
    double per = ok ? (double)st.bytes_in_use / (double)st.nodes : NAN;
    bench_emit(NULL, &(bench_row){W, "bytes_per_node", per, "B", NULL, 64,
                                  ok ? "bytes_in_use / nodes" : "FAILED"});
    char buf[160];
    snprintf(buf, sizeof buf, "bytes_per_node <= 64: %s (%zu nodes, %zu bytes in use, %zu reserved)",
             per <= 64 ? "met" : "NOT met", st.nodes, st.bytes_in_use, st.bytes_reserved);
    bench_target_line(W, buf);
    ag_tape_free(t);
}

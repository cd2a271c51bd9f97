/* NumPy broadcasting: result shapes and the operand iterator. */
#include "bcast.h"

bool ag__bcast_shape(int nda, const int64_t *sa, int ndb, const int64_t *sb, int *nd,
                         int64_t *shape) {
    int n = nda > ndb ? nda : ndb;
    for (int i = 0; i < n; i++) {
        int64_t da = i < n - nda ? 1 : sa[i - (n - nda)];
        int64_t db = i < n - ndb ? 1 : sb[i - (n - ndb)];
        if (da != db && da != 1 && db != 1) return false;
        shape[i] = da == 1 ? db : da;
    }
    *nd = n;
    return true;
}

void ag__bcast_init(ag_bcast *bc, int out_nd, const int64_t *out_shape, int nops,
                    const int *nds, const int64_t *const *shapes) {
    /* Full strides per operand, aligned at the last dimension. */
    int64_t full[3][AG_MAX_DIMS] = {{0}};
    int64_t shp[AG_MAX_DIMS] = {0};
    int nd = out_nd ? out_nd : 1;
    for (int i = 0; i < nd; i++) shp[i] = out_nd ? out_shape[i] : 1;
    for (int k = 0; k < nops; k++) {
        int64_t stride = 1;
        for (int i = nd - 1; i >= 0; i--) {
            int j = i - (nd - nds[k]);
            int64_t d = (j >= 0 && nds[k] > 0) ? shapes[k][j] : 1;
            full[k][i] = (d == 1) ? 0 : stride;
            stride *= d;
        }
    }
    /* Collapse adjacent dimensions that every operand walks contiguously. */
    int m = 0;
    bc->shape[0] = shp[0];
    for (int k = 0; k < 3; k++) bc->st[k][0] = full[k][0];
    for (int i = 1; i < nd; i++) {
        bool merge = true;
        for (int k = 0; k < nops; k++)
            if (bc->st[k][m] != full[k][i] * shp[i]) merge = false;
        if (merge) {
            bc->shape[m] *= shp[i];
            for (int k = 0; k < 3; k++) bc->st[k][m] = full[k][i];
        } else {
            m++;
            bc->shape[m] = shp[i];
            for (int k = 0; k < 3; k++) bc->st[k][m] = full[k][i];
        }
    }
    bc->nd = m + 1;
}

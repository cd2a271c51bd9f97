/* nn_ddp without mpirun, in every build: the local world of one process,
 * the bucket layout and packing (white box), and argument errors. The
 * ranks themselves are tested by test_ddp.c under mpirun. */
#include "testutil.h"

#include "ddp_internal.h"
#include "nn_testfiles.h"

#include <sys/wait.h>
#include <unistd.h>

/* f32 a (7), f64 b (2, 3), f32 c (0-d), f64 e (0 elements), in that order. */
static nn_params *mixed_store(void) {
    nn_params *ps = nn_params_new();
    ck_assert_ptr_nonnull(nn_params_create(ps, "a", AG_F32, 1, (const int64_t[]){7}, NULL));
    ck_assert_ptr_nonnull(nn_params_create(ps, "b", AG_F64, 2, (const int64_t[]){2, 3}, NULL));
    ck_assert_ptr_nonnull(nn_params_create(ps, "c", AG_F32, 0, NULL, NULL));
    ck_assert_ptr_nonnull(nn_params_create(ps, "e", AG_F64, 1, (const int64_t[]){0}, NULL));
    for (size_t k = 0; k < nn_params_count(ps); k++) {
        ag_tensor *p = nn_params_at(ps, k);
        void *g = ag_grad_data(p);
        for (int64_t i = 0; i < ag_numel(p); i++) {
            double v = 10.0 * (double)k + (double)i; /* a: 0..6, b: 10..15, c: 20 */
            if (ag_dtype_of(p) == AG_F32) ((float *)g)[i] = (float)v;
            else ((double *)g)[i] = v;
        }
    }
    return ps;
}

START_TEST(layout_groups_and_buckets) {
    nn_params *ps = mixed_store();
    nn__ddp_layout L;
    /* Each its own dtype, 12-byte buckets: f32 (a, c: 8 elements) in 3 per
     * bucket, f64 (b, e: 6) in 1 per bucket. */
    ck_assert_int_eq(nn__ddp_layout_make(&L, ps, 0, 12), NN_OK);
    ck_assert_int_eq(L.ngroups, 2);
    ck_assert_int_eq(L.group[0].wire, AG_F32);
    ck_assert_int_eq(L.group[0].elems, 8);
    ck_assert_int_eq(L.group[0].cap, 3);
    ck_assert_uint_eq(L.group[0].n, 2);
    ck_assert_int_eq(L.group[0].offsets[1], 7);
    ck_assert_int_eq(L.group[1].elems, 6);
    ck_assert_int_eq(L.buckets, 3 + 6);
    ck_assert_int_eq(L.bytes, 8 * 4 + 6 * 8);
    ck_assert_uint_eq(L.max_bucket_bytes, 12);
    /* Every bucket packed in turn is the flat concatenation: a, c | b, e. */
    const double want[2][8] = {{0, 1, 2, 3, 4, 5, 6, 20}, {10, 11, 12, 13, 14, 15}};
    for (int g = 0; g < 2; g++) {
        const nn__ddp_group *G = &L.group[g];
        for (int64_t s = 0; s < G->elems; s += G->cap) {
            int64_t len = G->elems - s < G->cap ? G->elems - s : G->cap;
            double buf[3];
            float fbuf[3];
            nn__ddp_pack(G, NN__GRADS, s, len, g == 0 ? (void *)fbuf : (void *)buf);
            for (int64_t i = 0; i < len; i++)
                ck_assert_double_eq(g == 0 ? fbuf[i] : buf[i], want[g][s + i]);
            nn__ddp_unpack(G, NN__GRADS, s, len, g == 0 ? (void *)fbuf : (void *)buf, 0.5);
        }
    }
    ck_assert_double_eq(ag_grad_get(nn_params_get(ps, "a"), 6), 3);
    ck_assert_double_eq(ag_grad_get(nn_params_get(ps, "c"), 0), 10);
    ck_assert_double_eq(ag_grad_get(nn_params_get(ps, "b"), 5), 7.5);
    nn__ddp_layout_free(&L);
    /* One reduce dtype: one group in registration order, f32 converted. */
    ck_assert_int_eq(nn__ddp_layout_make(&L, ps, AG_F64, NN_DDP_BUCKET_BYTES), NN_OK);
    ck_assert_int_eq(L.ngroups, 1);
    ck_assert_int_eq(L.buckets, 1);
    double flat[14];
    nn__ddp_pack(&L.group[0], NN__GRADS, 0, 14, flat);
    ck_assert_double_eq(flat[6], 3);     /* a[6], halved above */
    ck_assert_double_eq(flat[7], 5);     /* b[0] */
    ck_assert_double_eq(flat[13], 10);   /* c */
    ck_assert_uint_eq(L.max_bucket_bytes, 14 * 8);
    /* Values move the same way, through ag_data_mut (the version counts). */
    uint32_t v0 = ag_param_version(nn_params_get(ps, "b"));
    for (int i = 0; i < 14; i++) flat[i] = -i;
    nn__ddp_unpack(&L.group[0], NN__VALUES, 0, 14, flat, 1);
    ck_assert_double_eq(ag_get(nn_params_get(ps, "b"), 0), -7);
    ck_assert_double_eq(ag_get(nn_params_get(ps, "c"), 0), -13);
    ck_assert_uint_gt(ag_param_version(nn_params_get(ps, "b")), v0);
    nn__ddp_layout_free(&L);
    nn_params_free(ps);
}
END_TEST

START_TEST(local_world_is_one_process) {
    nn_params *ps = mixed_store();
    nn_ddp *d = nn_ddp_local(ps, NULL);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(nn_ddp_rank(d), 0);
    ck_assert_int_eq(nn_ddp_size(d), 1);
    ck_assert_int_eq(nn_ddp_allreduce_grads(d), NN_OK);
    ck_assert_double_eq(ag_grad_get(nn_params_get(ps, "b"), 2), 12); /* unchanged */
    nn_ddp_stats st = nn_ddp_get_stats(d);
    ck_assert_int_eq(st.calls, 1);
    ck_assert_int_eq(st.allreduces, 0);
    ck_assert_int_eq(st.bytes_per_call, 8 * 4 + 6 * 8);
    double v[2] = {3, 4};
    ck_assert_int_eq(nn_ddp_mean(d, v, 2), NN_OK);
    ck_assert_double_eq(v[1], 4);
    ck_assert_int_eq(nn_ddp_broadcast(d, ps), NN_OK);
    /* The batcher is the whole data. */
    double x[10] = {0};
    int64_t y[10] = {0};
    nn_dataset *ds = nn_dataset_new_labels(10, 1, x, y, 2);
    nn_batcher *a = nn_ddp_batcher_new(d, ds, 3, true, 4, false), *b = nn_batcher_new(ds, 3, true, 4, false);
    const int64_t *ia, *ib;
    int64_t m;
    while ((m = nn_batcher_next(a, &ia)) > 0) {
        ck_assert_int_eq(nn_batcher_next(b, &ib), m);
        ck_assert_mem_eq(ia, ib, (size_t)m * sizeof *ia);
    }
    nn_batcher_free(a);
    nn_batcher_free(b);
    nn_dataset_free(ds);
    /* Files are nn_save / nn_load and the optimizer's. */
    char *dir = tf_mkdtemp();
    ck_assert_int_eq(nn_ddp_save(d, ps, tf_path(dir, "p", 0)), NN_OK);
    *(double *)ag_data_mut(nn_params_get(ps, "b")) = 99;
    ck_assert_int_eq(nn_ddp_load(d, ps, tf_path(dir, "p", 0), NULL), NN_OK);
    ck_assert_double_eq(ag_get(nn_params_get(ps, "b"), 0), 0);
    ck_assert_int_eq(nn_ddp_load(d, ps, tf_path(dir, "missing", 1), NULL), NN_ERR_IO);
    nn_optim_opts oo = nn_adam_opts(0.1);
    nn_optim *o = nn_optim_new(ps, &oo);
    ck_assert_int_eq(nn_optim_step(o), NN_OK);
    ck_assert_int_eq(nn_ddp_save_optim(d, o, tf_path(dir, "o", 1)), NN_OK);
    nn_optim *o2 = nn_optim_new(ps, &oo);
    ck_assert_int_eq(nn_ddp_load_optim(d, o2, tf_path(dir, "o", 1), 0), NN_OK);
    ck_assert_int_eq(nn_optim_steps(o2), 1);
    nn_optim_free(o);
    nn_optim_free(o2);
    tf_rmdir(dir);
    nn_ddp_free(d);
    nn_params_free(ps);
}
END_TEST

START_TEST(arguments) {
    ck_assert_ptr_null(nn_ddp_local(NULL, NULL));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "store is NULL"));
    nn_params *ps = nn_params_new();
    ck_assert_ptr_null(nn_ddp_local(ps, &(nn_ddp_opts){.reduce_dtype = 9}));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "reduce_dtype 9"));
    ck_assert_int_eq(nn_ddp_allreduce_grads(NULL), NN_ERR_NULL);
    ck_assert_int_eq(nn_ddp_broadcast(NULL, ps), NN_ERR_NULL);
    ck_assert_int_eq(nn_ddp_sum(NULL, NULL, 0), NN_ERR_NULL);
    ck_assert_int_eq(nn_ddp_save(NULL, ps, "x"), NN_ERR_NULL);
    ck_assert_int_eq(nn_ddp_load(NULL, ps, "x", NULL), NN_ERR_NULL);
    ck_assert_int_eq(nn_ddp_save_optim(NULL, NULL, "x"), NN_ERR_NULL);
    ck_assert_int_eq(nn_ddp_load_optim(NULL, NULL, "x", 0), NN_ERR_NULL);
    ck_assert_ptr_null(nn_ddp_batcher_new(NULL, NULL, 1, false, 0, false));
    ck_assert_int_eq(nn_ddp_rank(NULL), 0);
    ck_assert_int_eq(nn_ddp_size(NULL), 1);
    ck_assert_int_eq(nn_ddp_get_stats(NULL).calls, 0);
    nn_ddp_free(NULL);
    /* An empty store is a ddp with nothing to average. */
    nn_ddp *d = nn_ddp_local(ps, NULL);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(nn_ddp_get_stats(d).buckets, 0);
    ck_assert_int_eq(nn_ddp_allreduce_grads(d), NN_OK);
    nn_ddp_free(d);
    if (!nn_ddp_available()) { /* with MPI, nn_ddp_init would start it in this process */
        ck_assert_ptr_null(nn_ddp_init(NULL, NULL, ps, NULL));
        ck_assert_ptr_nonnull(strstr(nn_last_error(), "built without MPI"));
    }
    nn_params_free(ps);
}
END_TEST

/* nn_ddp_abort on a local world ends the process with the code and says why. */
START_TEST(abort_ends_a_local_run) {
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        nn_params *ps = nn_params_new();
        nn_ddp_abort(nn_ddp_local(ps, NULL), 7, "the data ran out");
    }
    close(fds[1]);
    char buf[256] = "";
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 7);
    ck_assert_int_gt(n, 0);
    ck_assert_ptr_nonnull(strstr(buf, "tapegrad ddp: rank 0 of 1: the data ran out"));
}
END_TEST

int main(void) {
    Suite *s = suite_create("nn_ddp");
    TCase *c = tcase_create("local");
    tcase_add_test(c, layout_groups_and_buckets);
    tcase_add_test(c, local_world_is_one_process);
    tcase_add_test(c, arguments);
    tcase_add_test(c, abort_ends_a_local_run);
    suite_add_tcase(s, c);
    return tu_run(s);
}

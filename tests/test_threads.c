/* Threads (autograd.h, "Threads"): separate tapes train in parallel
 * exactly as they do alone; a parameter shared by the tapes of several
 * threads can be recorded by all of them at once, while backward calls
 * that reach it are exclusive (an overlapping one is refused). Built a
 * second time under ThreadSanitizer by ./dev test, with 2 and 4 threads.
 * The model uses elementwise ops and reductions on small tensors only, so
 * no kernel thread pool takes part. */
#include "testutil.h"

#include "tape.h" /* white box: taking a parameter as a backward does */

#include <pthread.h>
#include <string.h>

enum { STEPS = 60, N = 8 };

typedef struct model {
    ag_tensor *w, *b, *v, *c; /* (N), (N), (N), scalar */
} model;

static void model_init(model *m) {
    double w[N], b[N], v[N];
    for (int i = 0; i < N; i++) {
        w[i] = 0.3 - 0.07 * i;
        b[i] = 0.01 * i;
        v[i] = 0.2 + 0.05 * (i % 3);
    }
    m->w = ag_param_new(AG_F64, AG_SHAPE(N), w);
    m->b = ag_param_new(AG_F64, AG_SHAPE(N), b);
    m->v = ag_param_new(AG_F64, AG_SHAPE(N), v);
    m->c = ag_param_scalar(AG_F64, 0.1);
}

static void model_free(model *m) {
    ag_param_free(m->w);
    ag_param_free(m->b);
    ag_param_free(m->v);
    ag_param_free(m->c);
}

/* loss = mean over 4 points x of (sum(v·tanh(w·x + b)) + c - target)²,
 * with a scalar tail through the 0-d fast path. */
static ag_tensor *loss_of(ag_tape *t, const model *m) {
    static const double xs[4] = {-1.0, -0.3, 0.4, 1.1}, ys[4] = {0.5, -0.2, 0.3, 0.9};
    ag_tensor *loss = NULL;
    for (int k = 0; k < 4; k++) {
        ag_tensor *h = ag_tanh(t, ag_add(t, ag_mul_c(t, m->w, xs[k]), m->b));
        ag_tensor *out = ag_add(t, ag_sum(t, ag_mul(t, m->v, h), AG_ALL, false), m->c);
        ag_tensor *e = ag_square(t, ag_add_c(t, out, -ys[k]));
        loss = loss ? ag_add(t, loss, e) : e;
    }
    return ag_mul_c(t, loss, 0.25);
}

static void sgd(model *m, double lr) {
    ag_tensor *ps[4] = {m->w, m->b, m->v, m->c};
    for (int i = 0; i < 4; i++) {
        double *v = ag_data_mut(ps[i]);
        const double *g = ag_grad_data(ps[i]);
        for (int64_t k = 0; k < ag_numel(ps[i]); k++) v[k] -= lr * g[k];
        ag_zero_grad(ps[i]);
    }
}

/* Trains a model of its own on a tape of its own; the final loss. */
static double train_alone(void) {
    model m;
    model_init(&m);
    ag_tape *t = ag_tape_new(0);
    double loss = NAN;
    for (int s = 0; s < STEPS; s++) {
        ag_tape_reset(t);
        ag_tensor *l = loss_of(t, &m);
        if (ag_backward(t, l) != AG_OK) break;
        loss = ag_item(l);
        sgd(&m, 0.1);
    }
    ag_no_grad_begin(t); /* and an evaluation, recording nothing */
    ag_tape_reset(t);
    double eval = ag_item(loss_of(t, &m));
    ag_no_grad_end(t);
    ag_tape_free(t);
    model_free(&m);
    return isfinite(eval) ? loss : NAN;
}

static void *train_thread(void *out) {
    *(double *)out = train_alone();
    return NULL;
}

/* Each thread gets the bits the serial run gets. */
START_TEST(separate_tapes_train_alike) {
    const double serial = train_alone();
    ck_assert(isfinite(serial));
    for (int nt = 2; nt <= 4; nt += 2) {
        pthread_t th[4];
        double got[4];
        for (int i = 0; i < nt; i++) ck_assert_int_eq(pthread_create(&th[i], NULL, train_thread, &got[i]), 0);
        for (int i = 0; i < nt; i++) pthread_join(th[i], NULL);
        for (int i = 0; i < nt; i++) ck_assert_mem_eq(&got[i], &serial, sizeof serial);
    }
}
END_TEST

/* One model, recorded by every thread's tape at once (grad and no-grad
 * mode); the backward calls are taken in turn under the program's lock, as
 * the contract asks, so the gradients add up exactly. */
typedef struct shared {
    model *m;
    pthread_mutex_t *lock;
    int steps;
    double eval; /* this thread's */
} shared;

static void *shared_thread(void *arg) {
    shared *sh = arg;
    ag_tape *t = ag_tape_new(0);
    for (int s = 0; s < sh->steps; s++) {
        ag_tape_reset(t);
        ag_tensor *l = loss_of(t, sh->m); /* concurrent with the other threads' recording */
        pthread_mutex_lock(sh->lock);
        ag_status st = ag_backward(t, l);
        pthread_mutex_unlock(sh->lock);
        if (st != AG_OK) break;
    }
    ag_tape_reset(t);
    ag_no_grad_begin(t);
    sh->eval = ag_item(loss_of(t, sh->m));
    ag_no_grad_end(t);
    ag_tape_free(t);
    return NULL;
}

START_TEST(shared_parameters_recorded_at_once) {
    model m;
    model_init(&m);
    ag_tape *t = ag_tape_new(0);
    ck_assert_int_eq(ag_backward(t, loss_of(t, &m)), AG_OK);
    double one[N], g1c = ag_grad_item(m.c);
    const double value = ag_item(loss_of(t, &m));
    for (int i = 0; i < N; i++) one[i] = ag_grad_get(m.w, i);
    ag_tensor *ps[4] = {m.w, m.b, m.v, m.c};
    for (int i = 0; i < 4; i++) ag_zero_grad(ps[i]);
    ag_tape_free(t);
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    for (int nt = 2; nt <= 4; nt += 2) {
        shared sh[4];
        pthread_t th[4];
        for (int i = 0; i < nt; i++) {
            sh[i] = (shared){.m = &m, .lock = &lock, .steps = 25};
            ck_assert_int_eq(pthread_create(&th[i], NULL, shared_thread, &sh[i]), 0);
        }
        for (int i = 0; i < nt; i++) pthread_join(th[i], NULL);
        const double count = 25.0 * nt;
        for (int i = 0; i < N; i++) ck_assert_double_eq_tol(ag_grad_get(m.w, i), count * one[i], 1e-12 * count);
        ck_assert_double_eq_tol(ag_grad_item(m.c), count * g1c, 1e-12 * count);
        for (int i = 0; i < nt; i++) ck_assert_double_eq(sh[i].eval, value);
        for (int i = 0; i < 4; i++) ag_zero_grad(ps[i]);
    }
    model_free(&m);
}
END_TEST

/* A backward that would overlap another thread's on a shared parameter is
 * refused; once that one is done, it runs. The other thread's backward is
 * held open with the hook it uses (ag__tape_lock_params). */
typedef struct overlap {
    ag_tensor *p;
    pthread_barrier_t held, tried;
    ag_status taken; /* no ck_assert off the main thread */
    ag_status first;
    char message[512];
    ag_status second;
    double grad;
} overlap;

static void *holder_thread(void *arg) {
    overlap *o = arg;
    ag_tape *t = ag_tape_new(0);
    ag_tensor *y = ag_mul(t, o->p, o->p);
    (void)y;
    o->taken = ag__tape_lock_params(t, "test"); /* a backward in progress */
    pthread_barrier_wait(&o->held);
    pthread_barrier_wait(&o->tried);
    ag__tape_unlock_params(t);
    pthread_barrier_wait(&o->held);
    ag_tape_free(t);
    return NULL;
}

static void *second_thread(void *arg) {
    overlap *o = arg;
    ag_tape *t = ag_tape_new(0);
    ag_tensor *y = ag_mul_c(t, o->p, 3.0); /* recording is fine meanwhile */
    pthread_barrier_wait(&o->held);
    o->first = ag_backward(t, y);
    snprintf(o->message, sizeof o->message, "%s", ag_tape_error(t) ? ag_tape_error(t) : "");
    pthread_barrier_wait(&o->tried);
    pthread_barrier_wait(&o->held);
    ag_tape_clear_error(t);
    o->second = ag_backward(t, y);
    o->grad = ag_grad_item(o->p);
    ag_tape_free(t);
    return NULL;
}

START_TEST(overlapping_backward_is_refused) {
    overlap o = {.p = ag_param_scalar(AG_F64, 2.0)};
    ag_set_name(NULL, o.p, "p");
    pthread_barrier_init(&o.held, NULL, 2);
    pthread_barrier_init(&o.tried, NULL, 2);
    pthread_t a, b;
    pthread_create(&a, NULL, holder_thread, &o);
    pthread_create(&b, NULL, second_thread, &o);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    ck_assert_int_eq(o.taken, AG_OK);
    ck_assert_int_eq(o.first, AG_ERR_STATE);
    ck_assert_msg(strstr(o.message, "parameter 'p' is being written by a backward in another thread"), "%s",
                  o.message);
    ck_assert_int_eq(o.second, AG_OK);
    ck_assert_double_eq(o.grad, 3.0);
    pthread_barrier_destroy(&o.held);
    pthread_barrier_destroy(&o.tried);
    ag_param_free(o.p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, separate_tapes_train_alike);
    tcase_add_test(tc, shared_parameters_recorded_at_once);
    tcase_add_test(tc, overlapping_backward_is_refused);
    suite_add_tcase(s, tc);
    return tu_run(s);
}

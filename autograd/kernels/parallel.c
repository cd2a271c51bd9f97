/* The kernels' thread pool: persistent workers that sleep on a condition
 * variable, one job at a time. Everything shared is under one mutex; a
 * job's chunks are claimed by index, by the workers and by the caller
 * (which so never waits on a worker that has not woken yet). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#endif
#include "parallel.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cv = PTHREAD_COND_INITIALIZER; /* a job was posted, or stop */
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER; /* a job finished, or the pool freed */

/* Under mu. */
static int nthreads;         /* the count; 0 until first read */
static pthread_t *workers;   /* the started workers */
static int nworkers;
static bool stop;            /* workers exit */
static bool busy;            /* a job (or a change of count) holds the pool */
static bool atexit_done;     /* join_at_exit and the fork handlers are registered */
static bool forked;          /* a child of fork: no workers, ever */

/* The job in progress. */
static ag_parallel_fn *job_fn;
static void *job_ctx;
static int64_t job_n;
static int job_chunks, job_next, job_done;

static _Thread_local bool in_worker;

bool ag__parallel_in_worker(void) { return in_worker; }

/* The cores this process may run on. */
static int default_threads(void) {
#ifdef CPU_COUNT
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int c = CPU_COUNT(&set);
        if (c >= 1) return c > AG__PARALLEL_MAX_THREADS ? AG__PARALLEL_MAX_THREADS : c;
    }
#endif
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    if (c < 1) return 1;
    return c > AG__PARALLEL_MAX_THREADS ? AG__PARALLEL_MAX_THREADS : (int)c;
}

/* TAPEGRAD_NUM_THREADS if it is an integer in range, else the default. */
static int initial_threads(void) {
    const char *env = getenv("TAPEGRAD_NUM_THREADS");
    if (env && *env) {
        char *end;
        errno = 0;
        long v = strtol(env, &end, 10);
        if (!errno && *end == '\0' && v >= 1 && v <= AG__PARALLEL_MAX_THREADS) return (int)v;
    }
    return default_threads();
}

/* Under mu. */
static int count_locked(void) {
    if (!nthreads) nthreads = initial_threads();
    return nthreads;
}

int ag__parallel_threads(void) {
    pthread_mutex_lock(&mu);
    int n = count_locked();
    pthread_mutex_unlock(&mu);
    return n;
}

/* The start of chunk c of n indices in `chunks` chunks: the first n %
 * chunks chunks hold one index more. */
static int64_t chunk_start(int64_t n, int chunks, int c) {
    const int64_t q = n / chunks, r = n % chunks;
    return c * q + (c < r ? c : r);
}

static void run_chunk(ag_parallel_fn *fn, void *ctx, int64_t n, int chunks, int c) {
    fn(ctx, chunk_start(n, chunks, c), chunk_start(n, chunks, c + 1));
}

/* Claims and runs chunks of the job until none is left. Called with mu
 * held; returns with it held. */
static void work_locked(void) {
    while (job_next < job_chunks) {
        const int c = job_next++;
        ag_parallel_fn *fn = job_fn;
        void *ctx = job_ctx;
        const int64_t n = job_n;
        const int chunks = job_chunks;
        pthread_mutex_unlock(&mu);
        run_chunk(fn, ctx, n, chunks, c);
        pthread_mutex_lock(&mu);
        if (++job_done == job_chunks) pthread_cond_broadcast(&done_cv);
    }
}

static void *worker_main(void *arg) {
    (void)arg;
    in_worker = true;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (!stop && job_next >= job_chunks) pthread_cond_wait(&work_cv, &mu);
        if (stop) break;
        work_locked();
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

/* Stops and joins every worker. Called with mu held and busy set by the
 * caller (no job can start); returns with mu held. */
static void join_locked(void) {
    pthread_t *w = workers;
    const int k = nworkers;
    stop = true;
    pthread_cond_broadcast(&work_cv);
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < k; i++) pthread_join(w[i], NULL);
    pthread_mutex_lock(&mu);
    free(w);
    workers = NULL;
    nworkers = 0;
    stop = false;
}

/* At exit: the workers are joined unless a job is running (another thread
 * may call exit while a kernel runs; its workers then die with the
 * process). */
static void join_at_exit(void) {
    pthread_mutex_lock(&mu);
    if (!busy && nworkers) {
        busy = true;
        join_locked();
        busy = false;
    }
    pthread_mutex_unlock(&mu);
}

/* fork: the child has none of the workers, so it forgets them and runs
 * every call inline (starting threads after a fork of a threaded process
 * is what POSIX leaves undefined, and ThreadSanitizer refuses); it takes
 * mu in a known state, as the parent holds it across the fork. */
static void fork_prepare(void) { pthread_mutex_lock(&mu); }
static void fork_parent(void) { pthread_mutex_unlock(&mu); }
static void fork_child(void) {
    free(workers);
    workers = NULL;
    nworkers = 0;
    stop = busy = false;
    job_chunks = job_next = job_done = 0;
    forked = true;
    pthread_mutex_unlock(&mu);
}

/* Starts workers up to want (count - 1); keeps those that started if
 * pthread_create fails. Under mu. */
static void start_locked(int want) {
    if (nworkers >= want) return;
    pthread_t *w = realloc(workers, sizeof *w * (size_t)want);
    if (!w) return;
    workers = w;
    if (!atexit_done) {
        atexit_done = atexit(join_at_exit) == 0;
        pthread_atfork(fork_prepare, fork_parent, fork_child);
    }
    while (nworkers < want && pthread_create(&workers[nworkers], NULL, worker_main, NULL) == 0)
        nworkers++;
}

void ag__parallel_for_split(int64_t n, int64_t grain, ag_parallel_fn *fn, void *ctx) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (n < 2 * grain || in_worker) {
        fn(ctx, 0, n);
        return;
    }
    pthread_mutex_lock(&mu);
    const int count = count_locked();
    if (count == 1 || busy || forked) {
        pthread_mutex_unlock(&mu);
        fn(ctx, 0, n);
        return;
    }
    start_locked(count - 1);
    int64_t chunks = n / grain;
    if (chunks > nworkers + 1) chunks = nworkers + 1;
    if (chunks < 2) { /* no worker started */
        pthread_mutex_unlock(&mu);
        fn(ctx, 0, n);
        return;
    }
    busy = true;
    job_fn = fn;
    job_ctx = ctx;
    job_n = n;
    job_chunks = (int)chunks;
    job_done = 0;
    job_next = 0;
    pthread_cond_broadcast(&work_cv);
    work_locked(); /* the caller takes chunks too, the first one at least */
    while (job_done < job_chunks) pthread_cond_wait(&done_cv, &mu);
    job_fn = NULL;
    job_ctx = NULL;
    busy = false;
    pthread_cond_broadcast(&done_cv); /* a change of count may wait for the pool */
    pthread_mutex_unlock(&mu);
}

bool ag__parallel_set_threads(int n) {
    if (n < 1 || n > AG__PARALLEL_MAX_THREADS) return false;
    pthread_mutex_lock(&mu);
    while (busy) pthread_cond_wait(&done_cv, &mu);
    count_locked(); /* the environment is read once, even when set first */
    if (n != nthreads && nworkers) {
        busy = true;
        join_locked();
        busy = false;
        pthread_cond_broadcast(&done_cv);
    }
    nthreads = n;
    pthread_mutex_unlock(&mu);
    return true;
}

/* --trace, --dot, --svg and --png: the chain rule step by step and the
 * graph as a picture, through ag_trace and ag_write_dot (autograd/trace.h).
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <tapegrad/trace.h>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int write_dot_file(ag_tape *t, ag_tensor *y, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "tapegrad grad: --dot: cannot write %s: %s\n", path, strerror(errno));
        return EXIT_ERROR;
    }
    ag_status st = ag_write_dot(f, t, y);
    if (fclose(f) != 0 && st == AG_OK) st = AG_ERR_ARG;
    if (st != AG_OK) {
        fprintf(stderr, "tapegrad grad: --dot: writing %s failed: %s\n", path, ag_status_str(st));
        return EXIT_ERROR;
    }
    return EXIT_OK;
}

/* Pipes the DOT text into Graphviz: dot -T<format> -o <path>. */
static int render_with_dot(ag_tape *t, ag_tensor *y, const char *format, const char *path) {
    int fds[2];
    if (pipe(fds) != 0) {
        fprintf(stderr, "tapegrad grad: --%s: pipe: %s\n", format, strerror(errno));
        return EXIT_ERROR;
    }
    char fmt_arg[16];
    snprintf(fmt_arg, sizeof fmt_arg, "-T%s", format);
    char *argv[] = {"dot", fmt_arg, "-o", (char *)path, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[0], STDIN_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    pid_t pid;
    int err = posix_spawnp(&pid, "dot", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[0]);
    if (err != 0) {
        close(fds[1]);
        if (err == ENOENT)
            fprintf(stderr, "tapegrad grad: --%s needs Graphviz's 'dot', which is not on PATH: "
                    "install graphviz (Debian: apt-get install graphviz), or write DOT with "
                    "--dot FILE\n", format);
        else
            fprintf(stderr, "tapegrad grad: --%s: cannot run dot: %s\n", format, strerror(err));
        return EXIT_ERROR;
    }
    FILE *f = fdopen(fds[1], "w");
    ag_status st = f ? ag_write_dot(f, t, y) : AG_ERR_ARG;
    if (f) fclose(f);
    else close(fds[1]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (st != AG_OK || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "tapegrad grad: --%s: dot failed to write %s\n", format, path);
        return EXIT_ERROR;
    }
    return EXIT_OK;
}

/* --html (with --trace's text from the same sweep): the JSON trace, then
 * the page. */
static int render_html(const grad_args *a, ag_tape *t, ag_tensor *y, FILE *trace_out) {
    char *js = NULL;
    size_t len = 0;
    FILE *jf = open_memstream(&js, &len);
    if (!jf) {
        fprintf(stderr, "tapegrad grad: --html: out of memory\n");
        return EXIT_ERROR;
    }
    ag_trace_opts o = {.width = 80, .ascii = a->ascii};
    ag_status st = ag_trace_json(jf, a->trace ? trace_out : NULL, t, y, &o);
    if (fclose(jf) != 0 && st == AG_OK) st = AG_ERR_MEMORY;
    int rc = EXIT_OK;
    if (st != AG_OK) {
        fprintf(stderr, "tapegrad grad: --html: %s\n", ag_tape_error(t) ? ag_tape_error(t) : ag_status_str(st));
        rc = EXIT_ERROR;
    } else {
        rc = write_explorer(a, t, y, js);
    }
    free(js);
    return rc;
}

int render(const grad_args *a, ag_tape *t, ag_tensor *y, FILE *trace_out) {
    int rc = EXIT_OK;
    if (a->html) {
        if ((rc = render_html(a, t, y, trace_out)) != EXIT_OK) return rc;
    } else if (a->trace) {
        ag_trace_opts o = {.width = 80, .ascii = a->ascii};
        ag_status st = ag_trace(trace_out, t, y, &o);
        if (st != AG_OK) {
            fprintf(stderr, "tapegrad grad: --trace: %s\n", ag_tape_error(t));
            return EXIT_ERROR;
        }
    } else if (a->dot || a->svg || a->png) {
        /* The pictures show gradients: run one backward first (none for a
         * program that depends on no input). */
        if (ag_backward_ex(t, y, &(ag_backward_opts){.allow_unused = true}) != AG_OK) {
            fprintf(stderr, "tapegrad grad: %s\n", ag_tape_error(t));
            return EXIT_ERROR;
        }
    }
    if (a->dot && rc == EXIT_OK) rc = write_dot_file(t, y, a->dot);
    if (a->svg && rc == EXIT_OK) rc = render_with_dot(t, y, "svg", a->svg);
    if (a->png && rc == EXIT_OK) rc = render_with_dot(t, y, "png", a->png);
    return rc;
}


/* --html FILE: the chain-rule explorer, one self-contained page. The data
 * is the JSON trace (ag_trace_json: every step's upstream, terms, locals
 * and shares, computed by the engine's own sweep; the page recomputes
 * nothing), the graph Graphviz's SVG where `dot` is installed (its boxes
 * carry the trace's ids nK), else laid out by the page's script. CSS and
 * script are inline (explorer.css, explorer.js, embedded at build time):
 * no network, no external file. */
#include "cli.h"
#include "explorer_assets.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tapegrad/trace.h>

extern char **environ;

/* Reads a whole file (NULL on failure); *len gets its size. */
static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *b = realloc(buf, cap);
            if (!b) break;
            buf = b;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    bool bad = ferror(f) || !buf;
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The graph as Graphviz's SVG (malloc'd), or NULL when dot is not
 * installed or fails: the page then lays the graph out itself. The DOT and
 * the SVG go through temporary files, so no pipe can fill up both ways. */
static char *graphviz_svg(ag_tape *t, ag_tensor *y) {
    const char *dir = getenv("TMPDIR");
    char dot_path[4096], svg_path[4096];
    snprintf(dot_path, sizeof dot_path, "%s/tapegrad-dot-XXXXXX", dir && *dir ? dir : "/tmp");
    snprintf(svg_path, sizeof svg_path, "%s/tapegrad-svg-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(dot_path);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(dot_path);
        return NULL;
    }
    ag_status st = ag_write_dot(f, t, y);
    if (fclose(f) != 0 || st != AG_OK) {
        unlink(dot_path);
        return NULL;
    }
    int sfd = mkstemp(svg_path);
    if (sfd < 0) {
        unlink(dot_path);
        return NULL;
    }
    close(sfd);
    char *argv[] = {"dot", "-Tsvg", "-o", svg_path, dot_path, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int err = posix_spawnp(&pid, "dot", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    char *svg = NULL;
    if (err == 0) {
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        size_t len;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) svg = slurp(svg_path, &len);
    }
    unlink(dot_path);
    unlink(svg_path);
    /* Inline SVG starts at <svg: the XML prolog and DOCTYPE are dropped. */
    char *start = svg ? strstr(svg, "<svg") : NULL;
    if (!start) {
        free(svg);
        return NULL;
    }
    memmove(svg, start, strlen(start) + 1);
    return svg;
}

/* Text inside an HTML element: &, < and > escaped. */
static void html_text(FILE *out, const char *s) {
    for (; *s; s++) {
        if (*s == '&') fputs("&amp;", out);
        else if (*s == '<') fputs("&lt;", out);
        else if (*s == '>') fputs("&gt;", out);
        else fputc(*s, out);
    }
}

int write_explorer(const grad_args *a, ag_tape *t, ag_tensor *y, const char *trace_json) {
    FILE *out = fopen(a->html, "w");
    if (!out) {
        fprintf(stderr, "tapegrad grad: --html: cannot write %s: %s\n", a->html, strerror(errno));
        return EXIT_ERROR;
    }
    char *svg = graphviz_svg(t, y);
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<title>tapegrad: the chain rule, step by step</title>\n<style>\n", out);
    fputs(explorer_css, out);
    fputs("</style>\n</head>\n<body>\n<h1>The chain rule, step by step</h1>\n<p class=\"program\"><code>", out);
    html_text(out, a->program);
    fputs("</code></p>\n", out);
    fprintf(out, "<div id=\"graph\" data-layout=\"%s\">\n", svg ? "graphviz" : "layered");
    if (svg) fputs(svg, out);
    fputs("</div>\n", out);
    /* The JSON's strings escape <, > and &: it cannot end the element. */
    fputs("<script type=\"application/json\" id=\"trace-data\">\n", out);
    fputs(trace_json, out);
    fputs("</script>\n<script>\n", out);
    fputs(explorer_js, out);
    fputs("</script>\n</body>\n</html>\n", out);
    free(svg);
    if (fclose(out) != 0) {
        fprintf(stderr, "tapegrad grad: --html: writing %s failed: %s\n", a->html, strerror(errno));
        return EXIT_ERROR;
    }
    return EXIT_OK;
}

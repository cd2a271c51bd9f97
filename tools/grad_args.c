/* Arguments of `tapegrad grad`: options may come before or after the
 * positionals (PROGRAM, then NAME=VALUE pairs); `--` ends the options, for a
 * program that starts with '-'. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "tapegrad %s: ", cli_command);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    print_usage_hint(stderr);
    return EXIT_ERROR;
}

static bool parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v)) return false;
    *out = v;
    return true;
}

/* LO:HI; the split is at the ':' so negative bounds work ("-3:3"). */
static bool parse_range(const char *s, double *lo, double *hi) {
    const char *colon = strchr(s, ':');
    if (!colon || strchr(colon + 1, ':')) return false;
    char buf[128];
    size_t n = (size_t)(colon - s);
    if (n == 0 || n >= sizeof buf) return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return parse_double(buf, lo) && parse_double(colon + 1, hi) && *lo < *hi;
}

/* A name as the language spells it. */
static bool is_name(const char *s, size_t n) {
    if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* NAME=VALUE on the command line; VALUE may be a constant formula (pi/4). */
static int add_value(grad_args *a, const char *arg) {
    const char *eq = strchr(arg, '=');
    if (!eq || !is_name(arg, (size_t)(eq - arg)))
        return usage_error("expected NAME=VALUE after the program, got '%s'", arg);
    char *name = strndup(arg, (size_t)(eq - arg));
    if (!name) return usage_error("out of memory at '%s'", arg);
    /* a tensor, W=[[0.1, 0.2], [0.3, 0.4]], or a scalar formula */
    ag_expr_shape shape;
    double *data;
    if (!eval_constant_tensor(eq + 1, name, &shape, &data)) {
        free(name);
        return EXIT_ERROR;
    }
    a->names[a->nvalues] = name;
    a->shapes[a->nvalues] = shape;
    a->values[a->nvalues] = data[0];
    if (shape.ndim == 0) free(data);
    else a->data[a->nvalues] = data;
    a->nvalues++;
    return 0;
}

/* The whole of --file F (F = "-": standard input) into a->program_text. */
static int read_program_file(grad_args *a, const char *path) {
    const bool is_stdin = !strcmp(path, "-");
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "tapegrad %s: cannot read --file '%s': %s\n", cli_command, path, strerror(errno));
        return EXIT_ERROR;
    }
    size_t n = 0, cap = 4096;
    char *buf = malloc(cap);
    int rc = 0;
    while (buf) {
        if (n + 1 >= cap) {
            if (cap >= PROGRAM_FILE_MAX) {
                fprintf(stderr, "tapegrad %s: --file '%s' is over %d MiB\n", cli_command, path, PROGRAM_FILE_MAX >> 20);
                rc = EXIT_ERROR;
                break;
            }
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) break;
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                fprintf(stderr, "tapegrad %s: cannot read --file '%s': %s\n", cli_command, path, strerror(errno));
                rc = EXIT_ERROR;
            }
            break;
        }
    }
    if (!is_stdin) fclose(f);
    if (!buf) {
        fprintf(stderr, "tapegrad %s: out of memory reading --file '%s'\n", cli_command, path);
        return EXIT_ERROR;
    }
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    if (strlen(buf) != n) {
        free(buf);
        fprintf(stderr, "tapegrad %s: --file '%s' holds a NUL byte: not a program\n", cli_command, path);
        return EXIT_ERROR;
    }
    a->program_text = buf;
    a->program = buf;
    return 0;
}

void grad_args_free(grad_args *a) {
    free(a->program_text);
    for (int i = 0; i < a->nvalues; i++) {
        free((char *)a->names[i]);
        if (a->data) free(a->data[i]);
    }
    free(a->data);
    free(a->shapes);
    free(a->names);
    free(a->values);
    free(a->expect);
    *a = (grad_args){0};
}

static int parse_options(int argc, char **argv, grad_args *a, const char **positional, int *npositional);

int grad_args_parse(int argc, char **argv, grad_args *a) {
    *a = (grad_args){.order = 1, .points = 100, .seed = 1, .rtol = 1e-7, .atol = 1e-9};
    a->names = calloc((size_t)argc + 1, sizeof *a->names);
    a->values = calloc((size_t)argc + 1, sizeof *a->values);
    a->expect = calloc((size_t)argc + 1, sizeof *a->expect);
    a->shapes = calloc((size_t)argc + 1, sizeof *a->shapes);
    a->data = calloc((size_t)argc + 1, sizeof *a->data);
    if (!a->names || !a->values || !a->expect || !a->shapes || !a->data) return usage_error("%s", "out of memory");
    /* Positionals wait until the options are read: with --file, all of
     * them are NAME=VALUE; without, the first is the program. */
    const char **positional = calloc((size_t)argc + 1, sizeof *positional);
    int npositional = 0;
    int rc = positional ? parse_options(argc, argv, a, positional, &npositional)
                        : usage_error("%s", "out of memory");
    if (rc == 0 && a->file) rc = read_program_file(a, a->file);
    for (int i = 0; rc == 0 && i < npositional; i++) {
        if (!a->program) a->program = positional[i];
        else rc = add_value(a, positional[i]);
    }
    free(positional);
    if (rc == 0 && !a->program) rc = usage_error("%s", "missing PROGRAM (or --file F)");
    return rc;
}

static int parse_options(int argc, char **argv, grad_args *a, const char **positional, int *npositional) {
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (options_done || arg[0] != '-' || arg[1] == '\0') {
            positional[(*npositional)++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            print_help(stdout);
            return -1;
        }
        /* --opt VALUE or --opt=VALUE */
        char opt[32];
        const char *eq = strchr(arg, '=');
        size_t olen = eq ? (size_t)(eq - arg) : strlen(arg);
        if (olen >= sizeof opt || arg[1] != '-') {
            return usage_error("unknown option '%s' (a program that starts with '-' goes after "
                               "'--', e.g. tapegrad grad -- '-x^2' x=1)", arg);
        }
        memcpy(opt, arg, olen);
        opt[olen] = '\0';
        static const char *const flags[] = {"--json", "--trace", "--ascii"};
        static const char *const valued[] = {"--order", "--expect", "--points", "--range", "--seed",
                                             "--rtol", "--atol", "--dot", "--svg", "--png", "--file",
                                             "--html"};
        bool is_flag = false, is_valued = false;
        for (size_t k = 0; k < sizeof flags / sizeof *flags; k++) is_flag |= !strcmp(opt, flags[k]);
        for (size_t k = 0; k < sizeof valued / sizeof *valued; k++) is_valued |= !strcmp(opt, valued[k]);
        if (!is_flag && !is_valued) return usage_error("unknown option '%s'", opt);
        if (is_flag && eq) return usage_error("option '%s' takes no value", opt);
        const char *val = NULL;
        if (is_valued) {
            if (eq) val = eq + 1;
            else if (i + 1 < argc) val = argv[++i];
            else return usage_error("option '%s' needs a value", opt);
        }
        long l;
        if (!strcmp(opt, "--json")) a->json = true;
        else if (!strcmp(opt, "--trace")) a->trace = true;
        else if (!strcmp(opt, "--ascii")) a->ascii = true;
        else if (!strcmp(opt, "--order")) {
            if (!parse_long(val, 1, 2, &l)) return usage_error("--order takes 1 or 2, not '%s'", val);
            a->order = (int)l;
        } else if (!strcmp(opt, "--expect")) {
            a->expect[a->nexpect++] = val;
        } else if (!strcmp(opt, "--points")) {
            if (!parse_long(val, 0, 10000000, &a->points))
                return usage_error("--points takes a count from 0 to 10000000, not '%s'", val);
        } else if (!strcmp(opt, "--range")) {
            if (!parse_range(val, &a->lo, &a->hi))
                return usage_error("--range takes LO:HI with finite LO < HI, e.g. -3:3, not '%s'", val);
            a->have_range = true;
        } else if (!strcmp(opt, "--seed")) {
            if (!parse_long(val, 0, LONG_MAX, &l)) return usage_error("--seed takes a count, not '%s'", val);
            a->seed = (uint64_t)l;
        } else if (!strcmp(opt, "--rtol") || !strcmp(opt, "--atol")) {
            double d;
            if (!parse_double(val, &d) || d < 0)
                return usage_error("--rtol and --atol take a number >= 0, not '%s'", val);
            *(opt[2] == 'r' ? &a->rtol : &a->atol) = d;
        } else if (!strcmp(opt, "--dot")) a->dot = val;
        else if (!strcmp(opt, "--svg")) a->svg = val;
        else if (!strcmp(opt, "--png")) a->png = val;
        else if (!strcmp(opt, "--html")) a->html = val;
        else if (!strcmp(opt, "--file")) {
            if (a->file) return usage_error("--file is given twice ('%s')", val);
            a->file = val;
        }
    }
    return 0;
}

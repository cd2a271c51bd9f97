/* svg: see svg.h. */
#include "svg.h"

#include <errno.h>
#include <math.h>
#include <string.h>

bool svg_open(svg *s, const char *path, int width, int height) {
    s->f = fopen(path, "w");
    if (!s->f) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        return false;
    }
    fprintf(s->f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            width, height, width, height);
    return true;
}

bool svg_close(svg *s) {
    fprintf(s->f, "</svg>\n");
    bool ok = !ferror(s->f);
    return (fclose(s->f) == 0) && ok;
}

static unsigned char lerp8(unsigned char a, unsigned char b, double u) {
    return (unsigned char)lround(a + (b - a) * u);
}

const char *svg_mix(char buf[8], svg_rgb a, svg_rgb b, double u) {
    u = u < 0 ? 0 : u > 1 ? 1 : u;
    snprintf(buf, 8, "#%02x%02x%02x", lerp8(a.r, b.r, u), lerp8(a.g, b.g, u), lerp8(a.b, b.b, u));
    return buf;
}

void svg_rect(svg *s, double x, double y, double w, double h, const char *fill) {
    fprintf(s->f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n", x, y,
            w, h, fill);
}

void svg_circle(svg *s, double cx, double cy, double r, const char *fill, const char *stroke) {
    fprintf(s->f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" stroke=\"%s\"/>\n", cx, cy, r,
            fill, stroke);
}

void svg_line(svg *s, double x1, double y1, double x2, double y2, const char *stroke, double width) {
    fprintf(s->f,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%.1f\"/>\n",
            x1, y1, x2, y2, stroke, width);
}

void svg_text(svg *s, double x, double y, const char *anchor, int size, const char *text) {
    fprintf(s->f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\">", x, y, anchor,
            size);
    for (const char *c = text; *c; c++) { /* escape the XML specials */
        if (*c == '<') fputs("&lt;", s->f);
        else if (*c == '>') fputs("&gt;", s->f);
        else if (*c == '&') fputs("&amp;", s->f);
        else fputc(*c, s->f);
    }
    fprintf(s->f, "</text>\n");
}

double svg_px(const svg_plot *p, double x) {
    return p->left + (x - p->xmin) / (p->xmax - p->xmin) * p->width;
}

double svg_py(const svg_plot *p, double y) {
    return p->top + (p->ymax - y) / (p->ymax - p->ymin) * p->height;
}

/* A "nice" tick step (1, 2 or 5 times a power of ten) giving about 5 ticks. */
static double tick_step(double lo, double hi) {
    double raw = (hi - lo) / 5, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

void svg_axes(svg *s, const svg_plot *p, const char *xlabel, const char *ylabel, const char *title) {
    fprintf(s->f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n",
            p->left, p->top, p->width, p->height);
    char buf[32];
    double step = tick_step(p->xmin, p->xmax);
    for (double v = ceil(p->xmin / step) * step; v <= p->xmax + step * 1e-9; v += step) {
        double x = svg_px(p, v), y = p->top + p->height;
        svg_line(s, x, y, x, y + 5, "#333", 1);
        snprintf(buf, sizeof buf, "%g", fabs(v) < step * 1e-9 ? 0 : v);
        svg_text(s, x, y + 18, "middle", 11, buf);
    }
    step = tick_step(p->ymin, p->ymax);
    for (double v = ceil(p->ymin / step) * step; v <= p->ymax + step * 1e-9; v += step) {
        double y = svg_py(p, v);
        svg_line(s, p->left - 5, y, p->left, y, "#333", 1);
        snprintf(buf, sizeof buf, "%g", fabs(v) < step * 1e-9 ? 0 : v);
        svg_text(s, p->left - 8, y + 4, "end", 11, buf);
    }
    svg_text(s, p->left + p->width / 2, p->top + p->height + 38, "middle", 13, xlabel);
    fprintf(s->f,
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\" "
            "transform=\"rotate(-90 %.1f %.1f)\">%s</text>\n",
            p->left - 45, p->top + p->height / 2, p->left - 45, p->top + p->height / 2, ylabel);
    svg_text(s, p->left + p->width / 2, p->top - 12, "middle", 15, title);
}

void svg_curve(svg *s, const svg_plot *p, int n, const double *x, const double *y,
               const char *stroke, double width) {
    fprintf(s->f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" points=\"", stroke,
            width);
    for (int i = 0; i < n; i++) fprintf(s->f, "%.1f,%.1f ", svg_px(p, x[i]), svg_py(p, y[i]));
    fprintf(s->f, "\"/>\n");
}

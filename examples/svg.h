/* svg: the few drawing calls the examples need to write pictures a browser
 * shows — rectangles, circles, lines, text, and a plot frame that maps data
 * coordinates to pixels with ticked axes. Plain stdio, no dependencies. */
#ifndef TAPEGRAD_EXAMPLES_SVG_H
#define TAPEGRAD_EXAMPLES_SVG_H

#include <stdbool.h>
#include <stdio.h>

typedef struct svg {
    FILE *f;
} svg;

/* A plot: the pixel box (left, top, width, height) showing the data range
 * [xmin, xmax] × [ymin, ymax], y growing upwards. */
typedef struct svg_plot {
    double left, top, width, height;
    double xmin, xmax, ymin, ymax;
} svg_plot;

typedef struct svg_rgb {
    unsigned char r, g, b;
} svg_rgb;

/* Starts a width × height picture at path on a white background; false
 * (with a message on stderr) if the file cannot be opened. */
bool svg_open(svg *s, const char *path, int width, int height);

/* Ends the picture and closes the file; false if any write failed. */
bool svg_close(svg *s);

/* The colour a + (b - a)·u, u in [0, 1], as "#rrggbb" into buf[8]. */
const char *svg_mix(char buf[8], svg_rgb a, svg_rgb b, double u);

void svg_rect(svg *s, double x, double y, double w, double h, const char *fill);
void svg_circle(svg *s, double cx, double cy, double r, const char *fill, const char *stroke);
void svg_line(svg *s, double x1, double y1, double x2, double y2, const char *stroke, double width);
/* anchor: "start", "middle" or "end". */
void svg_text(svg *s, double x, double y, const char *anchor, int size, const char *text);

/* Pixel coordinates of a data point in a plot. */
double svg_px(const svg_plot *p, double x);
double svg_py(const svg_plot *p, double y);

/* The plot's frame, about five ticks with values on each axis, the axis
 * labels and a title above. */
void svg_axes(svg *s, const svg_plot *p, const char *xlabel, const char *ylabel, const char *title);

/* A polyline through n data points (x[i], y[i]) of the plot. */
void svg_curve(svg *s, const svg_plot *p, int n, const double *x, const double *y,
               const char *stroke, double width);

#endif

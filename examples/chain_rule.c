/* The chain rule, by hand and by the engine.
 *
 * Part 1: y = e^(x²), split as z = x² and y = e^z. The chain rule says
 *   dy/dx = dy/dz · dz/dx = e^z · 2x,
 * one path from x to y, one product of local derivatives along it.
 *
 * Part 2: y = u·v with u = sin x and v = x². Now x reaches y along two
 * paths (through u and through v), and the derivative is the sum over them:
 *   dy/dx = ∂y/∂u · du/dx + ∂y/∂v · dv/dx = v·cos x + u·2x.
 * The engine gets the same sum because x's gradient receives one addition
 * per path during the backward sweep; the trace at the end shows both.
 *
 * Exit status 1 if any hand value differs from the engine's by more than
 * 1e-12 (relative to the value's size). */
#include <tapegrad/autograd.h>
#include <tapegrad/trace.h>

#include <math.h>
#include <stdio.h>

static int failures = 0;

static void compare(const char *what, double hand, double engine) {
    double err = fabs(hand - engine);
    bool ok = err <= 1e-12 * fmax(1.0, fabs(engine));
    if (!ok) failures++;
    printf("    %-22s by hand %.15g, engine %.15g  %s\n", what, hand, engine,
           ok ? "agree" : "DISAGREE");
}

static void part1(ag_tape *t, double x0) {
    ag_tape_reset(t);
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, x0));
    ag_tensor *z = ag_square(t, x); /* z = x² */
    ag_tensor *y = ag_exp(t, z);    /* y = e^z */
    if (ag_backward(t, y) != AG_OK) {
        printf("backward failed: %s\n", ag_tape_error(t));
        failures++;
        return;
    }
    double zv = x0 * x0, dy_dz = exp(zv), dz_dx = 2 * x0;
    printf("  x = %g:  z = x² = %g,  y = e^z = %.12g\n", x0, zv, exp(zv));
    printf("    dy/dz = e^z = %.12g,  dz/dx = 2x = %g\n", dy_dz, dz_dx);
    printf(dz_dx < 0 ? "    dy/dx = dy/dz · dz/dx = %.12g · (%g) = %.12g\n"
                     : "    dy/dx = dy/dz · dz/dx = %.12g · %g = %.12g\n", dy_dz, dz_dx, dy_dz * dz_dx);
    compare("dy/dx", dy_dz * dz_dx, ag_grad_item(x));
}

int main(void) {
    ag_tape *t = ag_tape_new(0);
    if (!t) return 1;
    printf("Part 1: y = e^(x²) as z = x², y = e^z: one path, one product\n\n");
    const double xs[] = {-1.0, 0.0, 0.5, 1.5};
    for (int i = 0; i < 4; i++) part1(t, xs[i]);

    printf("\nPart 2: y = u·v with u = sin x, v = x²: two paths from x to y\n\n");
    const double x0 = 0.5;
    ag_tape_reset(t);
    ag_tensor *x = ag_set_name(t, ag_requires_grad(t, ag_scalar(t, x0)), "x");
    ag_tensor *u = ag_set_name(t, ag_sin(t, x), "u");
    ag_tensor *v = ag_set_name(t, ag_square(t, x), "v");
    ag_tensor *y = ag_set_name(t, ag_mul(t, u, v), "y");
    double uv = sin(x0), vv = x0 * x0;
    double path_u = vv * cos(x0); /* ∂y/∂u · du/dx = v · cos x */
    double path_v = uv * 2 * x0;  /* ∂y/∂v · dv/dx = u · 2x */
    printf("  x = %g: u = sin x = %.12g, v = x² = %g, y = u·v = %.12g\n", x0, uv, vv, uv * vv);
    printf("    path through u: ∂y/∂u · du/dx = v · cos x = %g · %.12g = %.12g\n", vv, cos(x0), path_u);
    printf("    path through v: ∂y/∂v · dv/dx = u · 2x    = %.12g · %g = %.12g\n", uv, 2 * x0, path_v);
    printf("    dy/dx = sum over the two paths = %.12g + %.12g = %.12g\n\n", path_u, path_v,
           path_u + path_v);

    printf("The engine's trace of part 2 (ag_trace):\n\n");
    if (ag_trace(stdout, t, y, NULL) != AG_OK) {
        printf("trace failed: %s\n", ag_tape_error(t));
        failures++;
    }
    printf("\n");
    compare("dy/dx", path_u + path_v, ag_grad_item(x));
    compare("path through u", path_u, ag_grad_item(u) * cos(x0));
    compare("path through v", path_v, ag_grad_item(v) * 2 * x0);
    ag_tape_free(t);
    printf("\n%s\n", failures ? "Some hand values DISAGREE with the engine." :
                                "Every hand value agrees with the engine within 1e-12.");
    return failures ? 1 : 0;
}

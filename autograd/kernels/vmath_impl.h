/* The f32 vector math kernels, written once over a small vector layer and
 * compiled once per vector level: vmath_<level>.c defines the layer (types
 * VF, VI, VM, width VW, the v_* operations, VM_FMA when v_fma is fused and
 * v_fms exists) and VM_TABLE, the name of the ag_vmath it defines, then
 * includes this file.
 *
 * Each kernel reduces its argument exactly (or with the rounding error
 * carried on), evaluates a minimax polynomial whose own error is below
 * 0.05 ulp, and keeps the number of roundings after it small; README
 * "Vector math" gives the algorithms and the measured errors. The
 * polynomial coefficients were fitted for this file (Lawson's iteration on
 * a 40-digit reference) and rounded to float. */
#include <math.h>
#include <string.h>

#include "vmath.h"

/* ---- helpers over the layer ---- */

#define K(c) v_set((float)(c))

/* c0 + v c1 + v^2 c2 + ... by Horner's rule. */
#define POLY2(v, c0, c1, c2) v_fma(v_fma(K(c2), v, K(c1)), v, K(c0))
#define POLY3(v, c0, c1, c2, c3) v_fma(POLY2(v, c1, c2, c3), v, K(c0))
#define POLY4(v, c0, c1, c2, c3, c4) v_fma(POLY3(v, c1, c2, c3, c4), v, K(c0))
#define POLY5(v, c0, c1, c2, c3, c4, c5) v_fma(POLY4(v, c1, c2, c3, c4, c5), v, K(c0))

static inline VF v_neg(VF a) { return v_xor(a, K(-0.0f)); }
/* |a| with the sign of s. */
static inline VF v_copysign(VF a, VF s) { return v_or(v_andnot(K(-0.0f), a), v_and(K(-0.0f), s)); }

/* a·b - p exactly, for p = fl(a·b) (no overflow or underflow). */
static inline VF v_prod_err(VF a, VF b, VF p) {
#if VM_FMA
    return v_fms(a, b, p);
#else /* Dekker's product: a and b split into 12-bit halves */
    VF ca = v_mul(K(4097.0f), a), cb = v_mul(K(4097.0f), b);
    VF ah = v_sub(ca, v_sub(ca, a)), al = v_sub(a, ah);
    VF bh = v_sub(cb, v_sub(cb, b)), bl = v_sub(b, bh);
    VF e = v_sub(v_mul(ah, bh), p);
    e = v_add(e, v_mul(ah, bl));
    e = v_add(e, v_mul(al, bh));
    return v_add(e, v_mul(al, bl));
#endif
}

/* y·2^n for integral n in [-217, 129] (float), with correct overflow to
 * inf and rounding into the denormals. */
static inline VF v_scale(VF y, VF n) {
#ifdef v_scalef
    return v_scalef(y, n);
#else
    VI ni = v_cvt_i(n);
    if (!m_any(m_or(v_lt(n, K(-126.0f)), v_gt(n, K(127.0f)))))
        return v_mul(y, v_as_f(vi_shl(vi_add(ni, vi_set(127)), 23)));
    /* 2^n as two normal factors: y·2^n1 is exact, the second rounds once. */
    VI n1 = vi_sra(ni, 1), n2 = vi_sub(ni, n1);
    VF s1 = v_as_f(vi_shl(vi_add(n1, vi_set(127)), 23));
    VF s2 = v_as_f(vi_shl(vi_add(n2, vi_set(127)), 23));
    return v_mul(v_mul(y, s1), s2);
#endif
}

/* ---- exp ---- */

#define LOG2E 0x1.715476p+0f
#define L2HI 0x1.62e4p-1f        /* ln 2 to 15 bits: n·L2HI is exact for |n| < 512 */
#define L2LO 0x1.7f7d1cp-20f     /* ln 2 - L2HI */

/* The exp in three steps, so callers can carry extra bits into the reduced
 * argument and fold a factor into the result:
 *   n = round(x / ln 2), r = x - n ln 2 in |r| <= 0.354 (callers' own
 *   reduction, exact up to its last addition),
 *   e^r - 1 = r + r^2 P(r) (P of degree 4, error 3.5e-9 relative),
 *   w·e^x = (w + w·(e^r - 1))·2^n: one rounding for the factor w, and a
 *   result in the denormals rounded once, after everything else. */
static inline VF exp_n(VF x) { return v_round(v_mul(x, K(LOG2E))); }

static inline VF expm1_reduced(VF r) {
    VF p = POLY4(r, 0.4999999403953552, 0.16666509211063385, 0.04166853055357933,
                 0.008370140567421913, 0.0013811651151627302);
    return v_fma(v_mul(r, r), p, r);
}

static inline VF exp_finish(VF em1, VF w, VF n) { return v_scale(v_fma(em1, w, w), n); }

/* Arguments are clamped to [-150, 89] first: beyond, the result is 0 or
 * inf, and the clamped one still rounds to it. */
static inline VF v_clamp_exp(VF x) { return v_max(v_min(x, K(89.0f)), K(-150.0f)); }

/* Below -104 the result rounds to 0 (e^-104 < 2^-150, half the least
 * denormal). Such lanes are computed from 0 and set to 0 after: scaling
 * down to an underflow costs a microcode assist on Intel cores, some
 * hundred cycles a lane (a causal mask's -inf scores made exp_shift 11 %
 * of attention_step). */
#define EXP_ZERO_BELOW -104.0f

static inline VF k_exp(VF x) {
    const VM zero = v_gt(K(EXP_ZERO_BELOW), x);
    x = v_sel(zero, K(0.0f), v_clamp_exp(x));
    VF n = exp_n(x);
    VF r = v_fnma(n, K(L2LO), v_fnma(n, K(L2HI), x));
    return v_sel(zero, K(0.0f), v_scale(v_add(expm1_reduced(r), K(1.0f)), n));
}

/* e^(x - (hi + lo)): a = x - hi and its rounding error by TwoSum, less lo,
 * go into the reduced argument as exp's a and b. An infinite difference
 * gives 0 or inf (the TwoSum error would be NaN). */
static inline VF k_exp_shift(VF x, VF hi, VF lo) {
    VF nhi = v_neg(hi), a = v_add(x, nhi), ab = v_sub(a, x);
    VF b = v_sub(v_add(v_sub(x, v_sub(a, ab)), v_sub(nhi, ab)), lo);
    const VM zero = v_gt(K(EXP_ZERO_BELOW), a); /* as in k_exp; -inf too */
    VF ac = v_sel(zero, K(0.0f), v_clamp_exp(a));
    b = v_sel(zero, K(0.0f), b);
    VF n = exp_n(ac);
    VF r = v_fnma(n, K(L2LO), v_add(v_fnma(n, K(L2HI), ac), b));
    VF y = v_sel(zero, K(0.0f), v_scale(v_add(expm1_reduced(r), K(1.0f)), n));
    return v_sel(v_eq(v_abs(a), K(INFINITY)), v_sel(v_gt(a, K(0.0f)), a, K(0.0f)), y);
}

/* ---- log and log1p ---- */

#define SQRT_HALF_BITS 0x3f3504f3

/* ln(1 + f) for f in [sqrt(1/2) - 1, sqrt 2 - 1] (exact) plus e·ln 2:
 * f - f^2/2 + f^3 P(f), P of degree 7 (error 6e-9 relative), summed from
 * the small terms up so the roundings stay below the final one. */
static inline VF log1p_reduced(VF f, VF e) {
    VF s = v_mul(f, f), hs = v_mul(K(0.5f), s);
    VF lo = POLY3(f, 0.3333333134651184, -0.25000837445259094, 0.2000129222869873,
                  -0.16622765362262726);
    VF hi = POLY3(f, 0.14199694991111755, -0.13164186477661133, 0.12779119610786438,
                  -0.07646109163761139);
    VF s2 = v_mul(s, s);
    VF poly = v_fma(s2, hi, lo); /* P(f) = lo(f) + f^4 hi(f) */
    VF r = v_fma(v_mul(s, f), poly, v_mul(e, K(L2LO)));
    return v_fma(e, K(L2HI), v_sub(f, v_sub(hs, r)));
}

static inline VF k_log(VF x) {
    /* Denormals are scaled into the normal range first. */
    VM den = v_lt(x, K(0x1p-126f));
    VF xs = v_sel(den, v_mul(x, K(0x1p23f)), x);
    VI ix = vi_sub(v_as_i(xs), vi_set(SQRT_HALF_BITS));
    VF e = v_sub(v_i2f(vi_sra(ix, 23)), v_sel(den, K(23.0f), K(0.0f)));
    VF m = v_as_f(vi_add(vi_and(ix, vi_set(0x7fffff)), vi_set(SQRT_HALF_BITS)));
    VF y = log1p_reduced(v_sub(m, K(1.0f)), e);
    /* x = +inf: inf; x = 0: -inf; x < 0 or NaN: NaN. */
    y = v_sel(v_eq(x, K(INFINITY)), x, y);
    y = v_sel(v_eq(x, K(0.0f)), K(-INFINITY), y);
    return v_sel(m_or(v_lt(x, K(0.0f)), v_isnan(x)), K(NAN), y);
}

/* ln(1 + e) for e in [0, 1]: e itself or (e - 1)/2 (both exact) is the
 * reduced argument, so no rounding of 1 + e is ever made. */
static inline VF log1p_unit(VF e) {
    VM up = v_ge(e, K(0x1.a8279ap-2f)); /* sqrt 2 - 1 */
    VF f = v_sel(up, v_mul(v_sub(e, K(1.0f)), K(0.5f)), e);
    return log1p_reduced(f, v_sel(up, K(1.0f), K(0.0f)));
}

/* ---- tanh, sigmoid, softplus ---- */

/* |x| < 0.625: x + x^3 P(x^2) (degree 5); beyond: 1 - 2/(e^(2|x|) + 1). */
static inline VF k_tanh(VF x) {
    VF s = v_mul(x, x);
    VF p = POLY5(s, -0.3333333134651184, 0.1333320587873459, -0.05394676327705383,
                 0.021700702607631683, -0.008177397772669792, 0.0021429613698273897);
    VF small = v_fma(v_mul(x, s), p, x);
    VF a = v_abs(x);
    VF e = k_exp(v_add(a, a));
    VF big = v_copysign(v_sub(K(1.0f), v_div(K(2.0f), v_add(e, K(1.0f)))), x);
    return v_sel(v_eq(x, K(0.0f)), x, v_sel(v_lt(a, K(0.625f)), small, big)); /* keeps -0 */
}

/* e = e^-|x| in (0, 1]: 1/(1 + e) for x >= 0, e/(1 + e) below, one
 * division either way, and no overflow. 1 + e is rounded, but its rounding
 * error (exact, as 1 >= e) corrects the quotient: q·(1 - lo/d), with 1/d
 * there to 9 % by a line, which is plenty for a term of 2^-25. */
static inline VF k_sigmoid(VF x) {
    VF e = k_exp(v_neg(v_abs(x)));
    VF d = v_add(e, K(1.0f)), dlo = v_add(v_sub(K(1.0f), d), e);
    VF y = v_div(v_sel(v_ge(x, K(0.0f)), K(1.0f), e), d);
    return v_fnma(y, v_mul(dlo, v_fma(d, K(-0.5f), K(1.457f))), y);
}

/* max(x, 0) + ln(1 + e^-|x|). */
static inline VF k_softplus(VF x) {
    VF e = k_exp(v_neg(v_abs(x)));
    return v_add(v_max(x, K(0.0f)), log1p_unit(e));
}

/* ---- sin, cos ---- */

#define TWO_OVER_PI 0x1.45f306p-1f
#if VM_FMA
/* pi/2 in three floats. x - q·P1 is exact (a fused product, and a
 * difference below 1 on the grid of x); q·P2 is split exactly into two
 * floats and the rounding of the subtraction is kept, so r = rh + rl
 * carries 72 bits of pi/2 less those of q. */
#define TRIG_MAX 0x1p17f
#define PIO2_1 0x1.921fb6p+0f
#define PIO2_2 -0x1.777a5cp-25f
#define PIO2_3 -0x1.ee59dap-50f
#else
/* Without fused products, in double: P1 of 33 bits is exact times any
 * q < 2^20, P2 has 53, x - q·P1 is exact (a difference below 1 on a 2^-32
 * grid), so r = rh + rl keeps 86 bits of pi/2 less those of q. */
#define TRIG_MAX 0x1p20f
#define PIO2_1 0x1.921fb544p+0
#define PIO2_2 0x1.0b4611a626331p-34
#endif

/* sin(x + qoff·pi/2): qoff 0 sin, 1 cos, 2 -sin. q = round(x·2/pi),
 * r = x - q·pi/2 = rh + rl in |r| <= 0.8, then by the quadrant
 *   sin r = rh + (rh^3 S(rh^2) + rl (1 - rh^2/2)),
 *   cos r = 1 - rh^2/2 + rh^4 C(rh^2) - rh rl,
 * the first-order terms in rl being all it needs (rl < 2^-23 |rh|).
 * |x| above TRIG_MAX, inf and NaN take C's sin and cos in double, lane by
 * lane: the rare huge argument needs pi/2 to hundreds of bits. */
static inline VF k_sincos(VF x, int qoff) {
    VF q = v_round(v_mul(x, K(TWO_OVER_PI)));
    VF rh, rl;
#if VM_FMA
    VF r1 = v_fnma(q, K(PIO2_1), x);
    VF p2 = v_mul(q, K(PIO2_2)), p2e = v_prod_err(q, K(PIO2_2), p2);
    rh = v_sub(r1, p2);
    rl = v_sub(v_sub(v_sub(r1, rh), p2), v_fma(q, K(PIO2_3), p2e));
#else
    v_sub2_prod_f64(x, q, PIO2_1, PIO2_2, &rh, &rl);
#endif
    VF s = v_mul(rh, rh);
    VF ps = POLY3(s, -0.1666666716337204, 0.008333329111337662, -0.0001983914989978075,
                  2.7166040581505513e-06);
    VF hs = v_mul(K(0.5f), s);
    VF sn = v_add(rh, v_fma(v_mul(rh, s), ps, v_fnma(rl, hs, rl)));
    VF pc = POLY3(s, 0.0416666679084301, -0.001388888224028051, 2.479928298271261e-05,
                  -2.7191424578631995e-07);
    /* w = 1 - rh^2/2 rounded, and (1 - w) - rh^2/2 its rounding error. */
    VF w = v_sub(K(1.0f), hs);
    VF cs = v_add(w, v_fma(v_mul(s, s), pc, v_fnma(rh, rl, v_sub(v_sub(K(1.0f), w), hs))));
    VI qi = vi_add(v_cvt_i(q), vi_set(qoff));
    VF y = v_sel(vi_eq(vi_and(qi, vi_set(1)), vi_set(1)), cs, sn);
    y = v_xor(y, v_as_f(vi_shl(vi_and(qi, vi_set(2)), 30))); /* quadrants 2, 3: negate */
    if (qoff != 1) y = v_sel(v_eq(x, K(0.0f)), qoff ? v_neg(x) : x, y); /* sin(-0) = -0 */
    VM big = m_not(v_le(v_abs(x), K(TRIG_MAX)));              /* also inf and NaN */
    if (m_any(big)) {
        float xs[VW], ys[VW];
        v_store(xs, x);
        v_store(ys, y);
        for (int i = 0; i < VW; i++) {
            double d = xs[i];
            if (!(fabs(d) <= (double)TRIG_MAX))
                ys[i] = (float)(qoff == 0 ? sin(d) : qoff == 1 ? cos(d) : -sin(d));
        }
        y = v_load(ys);
    }
    return y;
}

static inline VF k_sin(VF x) { return k_sincos(x, 0); }
static inline VF k_cos(VF x) { return k_sincos(x, 1); }
static inline VF k_neg_sin(VF x) { return k_sincos(x, 2); }

/* ---- the normal distribution: Phi, gelu and its derivatives ---- */

#define INV_SQRT_2PI 0x1.988454p-2f        /* 1/sqrt(2 pi) as hi + lo */
#define INV_SQRT_2PI_LO -0x1.857936p-27f
#define LN_SQRT_2PI_HI 0x1.d68p-1f     /* ln sqrt(2 pi) on the 2^-15 grid */
#define LN_SQRT_2PI_LO -0x1.c6f368p-18f

/* hi on the 2^-16 grid, its rest added to *lo: then hi plus a constant of
 * the 2^-15 grid sums exactly while the sum is below 8. hi <= 150. */
static inline VF v_to_grid(VF hi, VF *lo) {
    VF g = v_sub(v_add(hi, K(96.0f)), K(96.0f));
    *lo = v_add(*lo, v_sub(hi, g));
    return g;
}

/* w·e^(-(hi + lo) - (ch + cl)), hi <= 150, ch a constant on the 2^-15
 * grid: it goes into the exact part of the reduced argument, not into a
 * rounded factor. */
static inline VF exp_neg_shifted(VF hi, VF lo, float ch, float cl, VF w) {
    hi = v_to_grid(v_min(hi, K(150.0f)), &lo);
    VF n = exp_n(v_neg(v_add(hi, K(ch))));
    VF r = v_sub(v_fnma(n, K(L2HI), K(-ch)), hi);
    r = v_fnma(n, K(L2LO), v_sub(r, v_add(lo, K(cl))));
    return exp_finish(expm1_reduced(r), w, n);
}

/* w·phi(z) = w·e^(-z^2/2 - ln sqrt(2 pi)) for z^2/2 = hi + lo. */
static inline VF normal_pdf(VF hi, VF lo, VF w) {
    return exp_neg_shifted(hi, lo, LN_SQRT_2PI_HI, LN_SQRT_2PI_LO, w);
}

/* Q(z) = Phi(-z) e^(z^2/2), smooth and between 0.03 and 0.5 on [0, 14.5],
 * on 16 intervals [L, L + w): w = 1/4 on [0, 1), 1/2 on [1, 3), 1 on
 * [3, 7), 2 on [7, 15), so the interval is the top bits of z + 1. There
 * Q = (c0h + c0l) + t R(t), t = z - L (exact), c0 = Q(L) to 48 bits and R
 * of degree 6, fitted for this file with each coefficient refitted after
 * the ones before it were rounded (error 4.7e-10 relative). Rows: L, c0h,
 * c0l, then R's coefficients from t^0. */
_Alignas(64) static const float PHI_TAB[10][16] = {
    {0.0f, 0.25f, 0.5f, 0.75f, 1.0f, 1.5f, 2.0f, 2.5f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f, 9.0f,
     11.0f, 13.0f},
    {0.5f, 0.414032102f, 0.349618822f, 0.30023247f, 0.261578292f, 0.20578067f, 0.168101996f,
     0.14133133f, 0.121513948f, 0.094410643f, 0.0769193023f, 0.0647793114f, 0.0558934808f,
     0.0437987894f, 0.03597489f, 0.0305094142f},
    {0.0f, 1.31657085e-09f, 1.23842012e-08f, -7.69560238e-09f, 2.10536574e-10f,
     -3.06941161e-09f, 5.03977526e-09f, 1.43882573e-09f, 5.11056863e-10f, -1.67956027e-09f,
     2.63068411e-09f, 2.90591351e-09f, 1.66280001e-09f, -5.11114095e-10f, -3.72533254e-10f,
     3.43946233e-10f},
    {-0.398942292f, -0.295434266f, -0.224132866f, -0.173767939f, -0.137363985f, -0.0902712792f,
     -0.062738277f, -0.045613952f, -0.0344004333f, -0.0212997142f, -0.0143457558f,
     -0.0102663944f, -0.00768790301f, -0.00475318031f, -0.00321849459f, -0.00231989194f},
    {0.250000566f, 0.170087352f, 0.118776329f, 0.0849535316f, 0.0621070638f, 0.0351868533f,
     0.0213126987f, 0.0136482259f, 0.00915628951f, 0.00460587721f, 0.00259526703f,
     0.00159047253f, 0.00103907334f, 0.000510080194f, 0.000285724731f, 0.000175409339f},
    {-0.132989645f, -0.0843133703f, -0.0549168177f, -0.0366886146f, -0.0250846483f,
     -0.0124967294f, -0.00670406083f, -0.00383111672f, -0.00231023133f, -0.000958644843f,
     -0.000456489099f, -0.000241177695f, -0.000138083051f, -5.41426925e-05f, -2.51740421e-05f,
     -1.31893667e-05f},
    {0.06255427f, 0.0373100936f, 0.0228398759f, 0.0143861137f, 0.00924886111f, 0.00410833023f,
     0.00197499525f, 0.00101741182f, 0.000555037695f, 0.000192503867f, 7.82091156e-05f,
     3.58245088e-05f, 1.79948001e-05f, 5.67836332e-06f, 2.2002996e-06f, 9.86545956e-07f},
    {-0.0266751703f, -0.0151021332f, -0.00870195217f, -0.00522587774f, -0.00313707837f,
     -0.00125682796f, -0.000547030184f, -0.000256317056f, -0.000125424325f, -3.69808149e-05f,
     -1.29898535e-05f, -5.18872776e-06f, -2.24049336e-06f, -5.80268591e-07f, -1.89034964e-07f,
     -7.38170698e-08f},
    {0.00998545252f, 0.00529315975f, 0.00292578829f, 0.0016010846f, 0.000935852353f,
     0.000342689484f, 0.000137808136f, 5.91041789e-05f, 2.43802169e-05f, 6.33055743e-06f,
     1.96819565e-06f, 6.98391148e-07f, 2.37106079e-07f, 5.30707318e-08f, 1.48707224e-08f,
     5.646136e-09f},
    {-0.00224192231f, -0.000842837908f, -0.000586830662f, -8.29260971e-05f, -0.000186880847f,
     -6.36891491e-05f, -2.48532706e-05f, -9.69722805e-06f, -2.92548361e-06f, -7.08068455e-07f,
     -2.0023316e-07f, -6.65347599e-08f, -1.49396762e-08f, -3.12182169e-09f, -7.80748854e-10f,
     -3.77571946e-10f},
};

static inline VI phi_interval(VF z) {
    VI top = vi_sra(v_as_i(v_add(z, K(1.0f))), 21); /* exponent and 2 mantissa bits */
    return vi_and(vi_sub(top, vi_set(127 << 2)), vi_set(15)); /* the mask keeps NaN in range */
}

/* For z in [0, 14.5]: returns t R(t) and sets c0h, c0l of Q(z) = c0h +
 * c0l + t R(t); and e^(-z^2/2) = (1 + *em1)·2^*n, from -z^2/2 given as
 * nhi + nlo (the reduced argument exact up to its last addition). */
static inline VF normal_parts_from(VF z, VF nhi, VF nlo, VF *c0h, VF *c0l, VF *em1, VF *n) {
    *n = exp_n(nhi);
    VF r = v_fnma(*n, K(L2LO), v_add(v_fnma(*n, K(L2HI), nhi), nlo));
    *em1 = expm1_reduced(r);
    VI i = phi_interval(z);
    VF t = v_sub(z, v_lookup16(PHI_TAB[0], i));
    VF p = v_lookup16(PHI_TAB[9], i);
    for (int k = 8; k >= 3; k--) p = v_fma(p, t, v_lookup16(PHI_TAB[k], i));
    *c0h = v_lookup16(PHI_TAB[1], i);
    *c0l = v_lookup16(PHI_TAB[2], i);
    return v_mul(t, p);
}

/* The same for z itself, -z^2/2 split exactly. */
static inline VF normal_parts(VF z, VF *c0h, VF *c0l, VF *em1, VF *n) {
    VF zz = v_mul(z, z);
    VF nhi = v_mul(zz, K(-0.5f)), nlo = v_mul(v_prod_err(z, z, zz), K(-0.5f)); /* -z^2/2 */
    return normal_parts_from(z, nhi, nlo, c0h, c0l, em1, n);
}

/* m·Phi(-z) = m·Q(z)·e^(-z^2/2), z = min(|x|, 14.5) (beyond, Phi(-z) is
 * far below the denormals), m a factor of the result (|m| <= 16) applied
 * before the final scaling so a denormal result rounds once. m·Q is kept as
 * wh + wl (wh = m·c0h, its rounding error exact), and
 *   m·Q·(1 + em1) = wh + (wh·em1 + wl·(1 + em1)),
 * so the roundings are those of the small terms and the last addition. */
static inline VF tail_from_parts(VF rest, VF c0h, VF c0l, VF em1, VF n, VF m) {
    VF wh = v_mul(m, c0h);
    VF wl = v_fma(m, v_add(c0l, rest), v_prod_err(m, c0h, wh));
    return v_scale(v_add(wh, v_fma(em1, wh, v_fma(em1, wl, wl))), n);
}

static inline VF normal_tail(VF z, VF m) {
    VF c0h, c0l, em1, n;
    VF rest = normal_parts(z, &c0h, &c0l, &em1, &n);
    return tail_from_parts(rest, c0h, c0l, em1, n, m);
}

static inline VF v_clamp_z(VF x) { return v_min(v_abs(x), K(14.5f)); }

/* Phi(x) = Phi(-|x|) left of 0, 1 - Phi(-|x|) right of it. */
static inline VF k_normcdf(VF x) {
    VF tail = normal_tail(v_clamp_z(x), K(1.0f));
    return v_sel(v_lt(x, K(0.0f)), tail, v_sub(K(1.0f), tail));
}

/* x Phi(x): x multiplied into the tail before its scaling left of 0,
 * x - x·Phi(-x) in one rounding right of it (x capped at 16 in the product,
 * where Phi(-x) is 0, so gelu(+inf) = inf). gelu(±0) = ±0 and gelu(-inf) =
 * NaN, as x·Phi(x) in double gives. */
static inline VF k_gelu(VF x) {
    VM neg = v_lt(x, K(0.0f));
    VF tail = normal_tail(v_clamp_z(x), v_sel(neg, v_max(x, K(-16.0f)), K(1.0f)));
    VF y = v_sel(neg, tail, v_fnma(v_min(x, K(16.0f)), tail, x));
    y = v_sel(v_eq(x, K(0.0f)), x, y);
    return v_sel(v_eq(x, K(-INFINITY)), K(NAN), y);
}

/* Phi(x) + x phi(x) = d left of 0 and 1 - d right of it, for
 * d = e^(-z^2/2) (Q(z) - z/sqrt(2 pi)): one exp for both terms. gelu'(±inf)
 * = NaN, as the formula in double gives (inf·0). */
static inline VF k_gelu_grad(VF x) {
    VF z = v_clamp_z(x), c0h, c0l, em1, n;
    VF rest = normal_parts(z, &c0h, &c0l, &em1, &n);
    VF zc = v_mul(z, K(INV_SQRT_2PI)), zc_err = v_prod_err(z, K(INV_SQRT_2PI), zc);
    VF small = v_sub(v_add(c0l, rest), v_fma(z, K(INV_SQRT_2PI_LO), zc_err));
    /* Q - z/sqrt(2 pi) = dh + dl: c0h - zc by TwoSum (exact), then as the
     * tail: (dh + dl)(1 + em1) = dh + (dh em1 + dl (1 + em1)). */
    VF dh = v_sub(c0h, zc), bb = v_sub(dh, c0h);
    VF dl = v_add(v_add(v_sub(c0h, v_sub(dh, bb)), v_sub(v_neg(zc), bb)), small);
    VF d = v_scale(v_add(dh, v_fma(em1, dh, v_fma(em1, dl, dl))), n);
    VF y = v_sel(v_lt(x, K(0.0f)), d, v_sub(K(1.0f), d));
    return v_sel(v_eq(v_abs(x), K(INFINITY)), K(NAN), y);
}

/* phi(x) (2 - x^2), 2 - x^2 from x^2 as hi + lo so it is exact near sqrt 2,
 * and multiplied in before the exp's scaling. */
static inline VF k_gelu_grad2(VF x) {
    VF xx = v_mul(x, x), lo = v_prod_err(x, x, xx);
    VF two_minus = v_sub(v_sub(K(2.0f), xx), lo);
    VF y = normal_pdf(v_mul(xx, K(0.5f)), v_mul(lo, K(0.5f)), two_minus);
    /* Beyond |x| = 15 the result is -0 (phi underflows; x^2 may overflow),
     * at ±inf NaN (0·-inf, as in double). */
    y = v_sel(v_gt(v_abs(x), K(15.0f)), K(-0.0f), y);
    return v_sel(v_eq(v_abs(x), K(INFINITY)), K(NAN), y);
}

/* erf x = x (c0 + x^2 R(x^2)) for |x| < 1 (c0 = 2/sqrt pi as hi + lo, R of
 * degree 6, error 4.2e-11), else ±(1 - 2 Phi(-sqrt 2 |x|)), sqrt 2 |x| as
 * zh + zl: zl goes into the exp's argument as -zh·zl, where a rounded zh
 * alone would cost up to an ulp near 1. */
#define SQRT2_HI 0x1.6a09e6p+0f
#define SQRT2_LO 0x1.9fcef4p-26f
#define TWO_OVER_SQRT_PI_HI 0x1.20dd76p+0f
#define TWO_OVER_SQRT_PI_LO -0x1.f7ac92p-25f
static inline VF k_erf(VF x) {
    VF a = v_abs(x), s = v_mul(x, x);
    VF p = POLY5(s, 0.112837829, -0.0268654097, 0.00522091705, -0.000848181371, 0.000112460431,
                 -9.60173293e-06);
    VF r = v_fma(s, v_fma(p, s, K(-0.376126379f)), K(TWO_OVER_SQRT_PI_LO)); /* c0l + s R(s) */
#if VM_FMA
    VF small = v_fma(x, K(TWO_OVER_SQRT_PI_HI), v_mul(x, r));
#else /* x·c0h exactly as two floats, so only the sum rounds */
    VF xh = v_mul(x, K(TWO_OVER_SQRT_PI_HI));
    VF small = v_add(xh, v_add(v_prod_err(x, K(TWO_OVER_SQRT_PI_HI), xh), v_mul(x, r)));
#endif
    VF ac = v_min(a, K(10.25f)); /* sqrt 2 ac <= 14.5; beyond, erf is ±1 */
    VF zh = v_mul(ac, K(SQRT2_HI));
    VF zl = v_fma(ac, K(SQRT2_LO), v_prod_err(ac, K(SQRT2_HI), zh));
    VF zz = v_mul(zh, zh);
    VF nhi = v_mul(zz, K(-0.5f));
    VF nlo = v_fnma(zh, zl, v_mul(v_prod_err(zh, zh, zz), K(-0.5f)));
    VF c0h, c0l, em1, n;
    VF rest = normal_parts_from(zh, nhi, nlo, &c0h, &c0l, &em1, &n);
    VF big = v_copysign(v_sub(K(1.0f), tail_from_parts(rest, c0h, c0l, em1, n, K(2.0f))), x);
    VF y = v_sel(v_lt(a, K(1.0f)), small, v_sel(v_isnan(x), x, big));
    return v_sel(v_eq(x, K(0.0f)), x, y); /* erf(-0) = -0 */
}

/* erf'(x) = 2/sqrt(pi) e^(-x^2) = e^(-x^2 - ln(sqrt(pi)/2)). */
#define LN_HALF_SQRT_PI_HI -0x1.eecp-4f
#define LN_HALF_SQRT_PI_LO 0x1.a93dacp-18f
static inline VF k_erf_grad(VF x) {
    VF xx = v_mul(x, x);
    VF y = exp_neg_shifted(xx, v_prod_err(x, x, xx), LN_HALF_SQRT_PI_HI, LN_HALF_SQRT_PI_LO, K(1.0f));
    return v_sel(v_gt(v_abs(x), K(12.0f)), K(0.0f), y); /* x^2 may overflow; e^-144 is 0 */
}

/* ---- the array loops ---- */

/* y[i] = k(x[i]): whole vectors, then the last partial one through a
 * zero-padded buffer, so every element takes the same path. */
#define VM_ARRAY(name)                                                       \
    static void a_##name(const float *x, float *y, int64_t n) {             \
        int64_t i = 0;                                                       \
        for (; i + VW <= n; i += VW) v_store(y + i, k_##name(v_load(x + i))); \
        if (i < n) {                                                         \
            float buf[VW] = {0};                                             \
            memcpy(buf, x + i, (size_t)(n - i) * sizeof *buf);               \
            v_store(buf, k_##name(v_load(buf)));                             \
            memcpy(y + i, buf, (size_t)(n - i) * sizeof *buf);               \
        }                                                                    \
    }

/* gx[i] += g[i]·D, D an expression of the vectors xv and yv; the last
 * partial vector through zero-padded buffers, as above. */
#define VM_GRAD_ARRAY(name, D)                                               \
    static inline VF d_##name(VF xv, VF yv) {                               \
        (void)xv;                                                            \
        (void)yv;                                                            \
        return D;                                                            \
    }                                                                        \
    static void b_##name(const float *x, const float *y, const float *g, float *gx, int64_t n) { \
        int64_t i = 0;                                                       \
        for (; i + VW <= n; i += VW)                                         \
            v_store(gx + i, v_fma(v_load(g + i), d_##name(v_load(x + i), v_load(y + i)), v_load(gx + i))); \
        if (i < n) {                                                         \
            float bx[VW] = {0}, by[VW] = {0}, bg[VW] = {0}, bgx[VW] = {0};   \
            size_t rest = (size_t)(n - i) * sizeof *bx;                      \
            memcpy(bx, x + i, rest);                                         \
            memcpy(by, y + i, rest);                                         \
            memcpy(bg, g + i, rest);                                         \
            memcpy(bgx, gx + i, rest);                                       \
            v_store(bgx, v_fma(v_load(bg), d_##name(v_load(bx), v_load(by)), v_load(bgx))); \
            memcpy(gx + i, bgx, rest);                                       \
        }                                                                    \
    }

static void a_exp_shift(const float *x, int64_t stride, float *y, int64_t n, float hi, float lo) {
    const VF h = K(hi), l = K(lo);
    float buf[VW] = {0};
    for (int64_t i = 0; i < n; i += VW) {
        const int64_t m = n - i < VW ? n - i : VW;
        VF xv;
        if (stride == 1 && m == VW) {
            xv = v_load(x + i);
        } else { /* gathered, and the last partial vector zero-padded */
            for (int64_t k = 0; k < m; k++) buf[k] = x[(i + k) * stride];
            xv = v_load(buf);
        }
        if (m == VW) {
            v_store(y + i, k_exp_shift(xv, h, l));
        } else {
            v_store(buf, k_exp_shift(xv, h, l));
            memcpy(y + i, buf, (size_t)m * sizeof *buf);
        }
    }
}

VM_ARRAY(exp)
VM_ARRAY(log)
VM_ARRAY(tanh)
VM_ARRAY(sigmoid)
VM_ARRAY(softplus)
VM_ARRAY(sin)
VM_ARRAY(cos)
VM_ARRAY(normcdf)
VM_ARRAY(gelu)
VM_ARRAY(gelu_grad)
VM_ARRAY(erf)

/* 1 - y^2 as (1 - y)(1 + y), and 1 - y in sigmoid's: exact where y is
 * near 1, so no cancellation. */
VM_GRAD_ARRAY(exp, yv)
VM_GRAD_ARRAY(log, v_div(K(1.0f), xv))
VM_GRAD_ARRAY(tanh, v_mul(v_sub(K(1.0f), yv), v_add(K(1.0f), yv)))
VM_GRAD_ARRAY(sigmoid, v_mul(yv, v_sub(K(1.0f), yv)))
VM_GRAD_ARRAY(softplus, k_sigmoid(xv))
VM_GRAD_ARRAY(sin, k_cos(xv))
VM_GRAD_ARRAY(cos, k_neg_sin(xv))
VM_GRAD_ARRAY(gelu, k_gelu_grad(xv))
VM_GRAD_ARRAY(gelu_grad, k_gelu_grad2(xv))
VM_GRAD_ARRAY(erf, k_erf_grad(xv))

const ag_vmath VM_TABLE = {
    .exp = a_exp,
    .log = a_log,
    .tanh = a_tanh,
    .sigmoid = a_sigmoid,
    .softplus = a_softplus,
    .sin = a_sin,
    .cos = a_cos,
    .normcdf = a_normcdf,
    .gelu = a_gelu,
    .gelu_grad = a_gelu_grad,
    .erf = a_erf,
    .exp_shift = a_exp_shift,
    .exp_bwd = b_exp,
    .log_bwd = b_log,
    .tanh_bwd = b_tanh,
    .sigmoid_bwd = b_sigmoid,
    .softplus_bwd = b_softplus,
    .sin_bwd = b_sin,
    .cos_bwd = b_cos,
    .gelu_bwd = b_gelu,
    .gelu_grad_bwd = b_gelu_grad,
    .erf_bwd = b_erf,
};

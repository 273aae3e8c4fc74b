/* line_search.c — see line_search.h. */
#include "core/line_search.h"

#include <math.h>

#include "util/error.h"

/* ---- More and Thuente (MINPACK-2 dcsrch/dcstep) ---------------------------- */

#define MT_MAX_EVALUATIONS 100
#define MT_XTOL 1e-14
#define MT_STEP_MIN 1e-100
#define MT_STEP_MAX 1e100
#define MT_EXTRAPOLATE_LOW 1.1
#define MT_EXTRAPOLATE_HIGH 4.0

/* One end of the interval of uncertainty: step, value, slope. */
typedef struct mt_point {
    double step, f, g;
} mt_point;

/* The safeguarded cubic/quadratic step of dcstep; updates the interval
 * [x, y] with the trial point t and returns the next trial step. */
static double mt_step(mt_point *x, mt_point *y, mt_point t, int *bracketed, double step_min,
                      double step_max)
{
    double sign = t.g * (x->g / fabs(x->g));
    double next;
    if (t.f > x->f) { /* higher value: the minimum is bracketed */
        double theta = 3 * (x->f - t.f) / (t.step - x->step) + x->g + t.g;
        double s = fmax(fabs(theta), fmax(fabs(x->g), fabs(t.g)));
        double gamma = s * sqrt((theta / s) * (theta / s) - (x->g / s) * (t.g / s));
        if (t.step < x->step)
            gamma = -gamma;
        double r = ((gamma - x->g) + theta) / (((gamma - x->g) + gamma) + t.g);
        double cubic = x->step + r * (t.step - x->step);
        double quadratic = x->step + ((x->g / ((x->f - t.f) / (t.step - x->step) + x->g)) / 2) *
                                         (t.step - x->step);
        next = fabs(cubic - x->step) < fabs(quadratic - x->step) ? cubic
                                                                 : cubic + (quadratic - cubic) / 2;
        *bracketed = 1;
    } else if (sign < 0) { /* slopes of opposite sign: bracketed */
        double theta = 3 * (x->f - t.f) / (t.step - x->step) + x->g + t.g;
        double s = fmax(fabs(theta), fmax(fabs(x->g), fabs(t.g)));
        double gamma = s * sqrt((theta / s) * (theta / s) - (x->g / s) * (t.g / s));
        if (t.step > x->step)
            gamma = -gamma;
        double r = ((gamma - t.g) + theta) / (((gamma - t.g) + gamma) + x->g);
        double cubic = t.step + r * (x->step - t.step);
        double secant = t.step + (t.g / (t.g - x->g)) * (x->step - t.step);
        next = fabs(cubic - t.step) > fabs(secant - t.step) ? cubic : secant;
        *bracketed = 1;
    } else if (fabs(t.g) < fabs(x->g)) { /* same sign, slope shrinking */
        double theta = 3 * (x->f - t.f) / (t.step - x->step) + x->g + t.g;
        double s = fmax(fabs(theta), fmax(fabs(x->g), fabs(t.g)));
        double gamma = s * sqrt(fmax(0.0, (theta / s) * (theta / s) - (x->g / s) * (t.g / s)));
        if (t.step > x->step)
            gamma = -gamma;
        double r = ((gamma - t.g) + theta) / ((gamma + (x->g - t.g)) + gamma);
        double cubic;
        if (r < 0 && gamma != 0)
            cubic = t.step + r * (x->step - t.step);
        else
            cubic = t.step > x->step ? step_max : step_min;
        double secant = t.step + (t.g / (t.g - x->g)) * (x->step - t.step);
        if (*bracketed) {
            next = fabs(cubic - t.step) < fabs(secant - t.step) ? cubic : secant;
            if (t.step > x->step)
                next = fmin(t.step + 0.66 * (y->step - t.step), next);
            else
                next = fmax(t.step + 0.66 * (y->step - t.step), next);
        } else {
            next = fabs(cubic - t.step) > fabs(secant - t.step) ? cubic : secant;
            next = fmax(step_min, fmin(step_max, next));
        }
    } else { /* same sign, slope not shrinking */
        if (*bracketed) {
            double theta = 3 * (t.f - y->f) / (y->step - t.step) + y->g + t.g;
            double s = fmax(fabs(theta), fmax(fabs(y->g), fabs(t.g)));
            double gamma = s * sqrt((theta / s) * (theta / s) - (y->g / s) * (t.g / s));
            if (t.step > y->step)
                gamma = -gamma;
            double r = ((gamma - t.g) + theta) / (((gamma - t.g) + gamma) + y->g);
            next = t.step + r * (y->step - t.step);
        } else {
            next = t.step > x->step ? step_max : step_min;
        }
    }
    if (t.f > x->f) {
        *y = t;
    } else {
        if (sign < 0)
            *y = *x;
        *x = t;
    }
    return next;
}

bpnn_status line_search_more_thuente(const line_search *s, double *alpha, double *f, int *found)
{
    *found = 0;
    double step = s->first_step;
    double g_test = s->c1 * s->slope0;
    double width = MT_STEP_MAX - MT_STEP_MIN, width_before = width / 0.5;
    int bracketed = 0, stage = 1;
    mt_point x = {0, s->f0, s->slope0}, y = x;
    double low = 0, high = step + MT_EXTRAPOLATE_HIGH * step;
    for (int i = 0; i < MT_MAX_EVALUATIONS; i++) {
        mt_point t = {step, 0, 0};
        BPNN_TRY(s->phi(s->context, step, &t.f, &t.g));
        double f_test = s->f0 + step * g_test;
        if (stage == 1 && t.f <= f_test && t.g >= 0)
            stage = 2;
        if (t.f <= f_test && fabs(t.g) <= -s->c2 * s->slope0) {
            *alpha = step;
            *f = t.f;
            *found = 1;
            return BPNN_OK;
        }
        /* dcsrch's warnings end the search without a step. */
        if ((bracketed && (step <= low || step >= high)) ||
            (bracketed && high - low <= MT_XTOL * high) ||
            (step == MT_STEP_MAX && t.f <= f_test && t.g <= g_test) ||
            (step == MT_STEP_MIN && (t.f > f_test || t.g >= g_test)))
            return BPNN_OK;
        if (stage == 1 && t.f <= x.f && t.f > f_test) {
            /* Work on the modified function psi(a) = f(a) - f(0) - c1 a f'(0). */
            mt_point xm = {x.step, x.f - x.step * g_test, x.g - g_test};
            mt_point ym = {y.step, y.f - y.step * g_test, y.g - g_test};
            mt_point tm = {t.step, t.f - t.step * g_test, t.g - g_test};
            step = mt_step(&xm, &ym, tm, &bracketed, low, high);
            x = (mt_point){xm.step, xm.f + xm.step * g_test, xm.g + g_test};
            y = (mt_point){ym.step, ym.f + ym.step * g_test, ym.g + g_test};
        } else {
            step = mt_step(&x, &y, t, &bracketed, low, high);
        }
        if (bracketed) {
            if (fabs(y.step - x.step) >= 0.66 * width_before)
                step = x.step + 0.5 * (y.step - x.step);
            width_before = width;
            width = fabs(y.step - x.step);
            low = fmin(x.step, y.step);
            high = fmax(x.step, y.step);
        } else {
            low = step + MT_EXTRAPOLATE_LOW * (step - x.step);
            high = step + MT_EXTRAPOLATE_HIGH * (step - x.step);
        }
        step = fmin(fmax(step, MT_STEP_MIN), MT_STEP_MAX);
        if (bracketed && (step <= low || step >= high || high - low <= MT_XTOL * high))
            step = x.step;
    }
    return BPNN_OK;
}

/* ---- Nocedal and Wright: bracket, then zoom --------------------------------- */

#define ZOOM_MAX_BRACKET_STEPS 10
#define ZOOM_MAX_STEPS 10

/* Minimizer of the cubic through (a, fa) with slope fpa, (b, fb), (c, fc). */
static double cubic_min(double a, double fa, double fpa, double b, double fb, double c, double fc)
{
    double db = b - a, dc = c - a;
    double denom = (db * dc) * (db * dc) * (db - dc);
    if (denom == 0)
        return NAN;
    double rb = fb - fa - fpa * db, rc = fc - fa - fpa * dc;
    double A = (dc * dc * rb - db * db * rc) / denom;
    double B = (-dc * dc * dc * rb + db * db * db * rc) / denom;
    double radical = B * B - 3 * A * fpa;
    if (A == 0 || radical < 0)
        return NAN;
    return a + (-B + sqrt(radical)) / (3 * A);
}

/* Minimizer of the quadratic through (a, fa) with slope fpa and (b, fb). */
static double quadratic_min(double a, double fa, double fpa, double b, double fb)
{
    double db = b - a;
    double B = (fb - fa - fpa * db) / (db * db);
    if (!(B > 0) && !(B < 0))
        return NAN;
    return a - fpa / (2 * B);
}

static int outside(double v, double lo, double hi, double margin)
{
    return !isfinite(v) || v > hi - margin || v < lo + margin;
}

/* Shrinks [lo, hi] (lo: the best point so far) until a point meets the
 * strong Wolfe conditions. */
static bpnn_status zoom(const line_search *s, double lo, double hi, double f_lo, double f_hi,
                        double slope_lo, double *alpha, double *f_alpha, int *found)
{
    double f_rec = s->f0, a_rec = 0;
    for (int i = 0; i <= ZOOM_MAX_STEPS; i++) {
        double width = hi - lo;
        double a = fmin(lo, hi), b = fmax(lo, hi);
        double trial = NAN;
        if (i > 0)
            trial = cubic_min(lo, f_lo, slope_lo, hi, f_hi, a_rec, f_rec);
        if (i == 0 || outside(trial, a, b, 0.2 * fabs(width))) {
            trial = quadratic_min(lo, f_lo, slope_lo, hi, f_hi);
            if (outside(trial, a, b, 0.1 * fabs(width)))
                trial = lo + 0.5 * width;
        }
        double f_trial, slope_trial;
        BPNN_TRY(s->phi(s->context, trial, &f_trial, &slope_trial));
        if (f_trial > s->f0 + s->c1 * trial * s->slope0 || f_trial >= f_lo) {
            f_rec = f_hi;
            a_rec = hi;
            hi = trial;
            f_hi = f_trial;
            continue;
        }
        if (fabs(slope_trial) <= -s->c2 * s->slope0) {
            *alpha = trial;
            *f_alpha = f_trial;
            *found = 1;
            return BPNN_OK;
        }
        if (slope_trial * (hi - lo) >= 0) {
            f_rec = f_hi;
            a_rec = hi;
            hi = lo;
            f_hi = f_lo;
        } else {
            f_rec = f_lo;
            a_rec = lo;
        }
        lo = trial;
        f_lo = f_trial;
        slope_lo = slope_trial;
    }
    return BPNN_OK;
}

bpnn_status line_search_zoom(const line_search *s, double *alpha, double *f, int *found)
{
    *found = 0;
    double a0 = 0, a1 = s->first_step;
    double f_a0 = s->f0, slope_a0 = s->slope0, f_a1, slope_a1;
    BPNN_TRY(s->phi(s->context, a1, &f_a1, &slope_a1));
    for (int i = 0; i < ZOOM_MAX_BRACKET_STEPS; i++) {
        if (f_a1 > s->f0 + s->c1 * a1 * s->slope0 || (i > 0 && f_a1 >= f_a0))
            return zoom(s, a0, a1, f_a0, f_a1, slope_a0, alpha, f, found);
        if (fabs(slope_a1) <= -s->c2 * s->slope0) {
            *alpha = a1;
            *f = f_a1;
            *found = 1;
            return BPNN_OK;
        }
        if (slope_a1 >= 0)
            return zoom(s, a1, a0, f_a1, f_a0, slope_a1, alpha, f, found);
        a0 = a1;
        f_a0 = f_a1;
        slope_a0 = slope_a1;
        a1 = 2 * a1;
        BPNN_TRY(s->phi(s->context, a1, &f_a1, &slope_a1));
    }
    /* The doublings ran out. SciPy returns the last step unchecked; it is
     * taken here only when it meets the conditions. */
    if (f_a1 <= s->f0 + s->c1 * a1 * s->slope0 && fabs(slope_a1) <= -s->c2 * s->slope0) {
        *alpha = a1;
        *f = f_a1;
        *found = 1;
    }
    return BPNN_OK;
}

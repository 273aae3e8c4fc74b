#!/usr/bin/python3
"""Reference numbers from SciPy for test_core.c, printed as a C header:

    /usr/bin/python3 tests/make_scipy_reference.py > tests/scipy_reference.h

(Debian's python3 with python3-scipy; the tests never run Python.)

1. The line searches on More and Thuente's test functions (ACM TOMS 20, 1994,
   section 5, with their c1 = mu and c2 = eta): MINPACK-2's dcsrch, driven as
   SciPy's scalar_search_wolfe1 drives it (step bounds 1e-100 and 1e100 and
   xtol 1e-14, as fmin_cg passes them), and SciPy's scalar_search_wolfe2 (the
   bracketing and zoom of Nocedal and Wright). Each case records whether a
   step was found, the step and the evaluations of phi it took.
   One change to SciPy's _zoom: it keeps an interpolated step 0.2 (cubic) or
   0.1 (quadratic) of the interval's width away from its ends, but measures
   that width as a_hi - a_lo, negative when a_hi < a_lo, and then the margins
   point outward and a step outside the bracket is taken. bpnn-cl (as Nocedal
   and Wright) measures |a_hi - a_lo|, and so does _zoom here: 5 of the 18
   cases below take other steps with SciPy's own _zoom.

2. Per-iteration traces of fmin_cg on the seed's debug problem (the network
   and data of bpnn_debug_problem: every Theta_l = sin(1..n)/10 reshaped
   row-major, X by the same rule, labels y_i = i mod K), the regularized
   logistic cost and its gradient by backpropagation in float64. fmin_cg runs
   with its defaults (c1 1e-4, c2 0.4, the infinity norm). One evaluation is
   f and g at one point, as bpnn-cl counts them. fmin_cg never restarts
   along -g by itself, bpnn-cl does every n iterations (docs/contract.md), so a
   trace that does not converge stops at n = the parameter count. Where the
   next Polak-Ribiere direction would descend too little, fmin_cg rejects
   the step and searches again (line_search_wolfe2), while bpnn-cl takes it
   and restarts along -g: `comparable` counts the iterations before the
   first such rejection (all of them when there is none).
"""
import math
import warnings

import numpy as np
import scipy
from scipy.optimize import _minpack2 as minpack2
from scipy.optimize import fmin_cg
from scipy.optimize import _linesearch
from scipy.optimize import _optimize

# ---- 1. line searches --------------------------------------------------------


def zoom_with_inward_margins():
    import inspect
    source = inspect.getsource(_linesearch._zoom)
    fixed = source.replace("cchk = delta1 * dalpha", "cchk = delta1 * abs(dalpha)")
    fixed = fixed.replace("qchk = delta2 * dalpha", "qchk = delta2 * abs(dalpha)")
    assert fixed.count("abs(dalpha)") == 2, "SciPy's _zoom changed: review the patch"
    namespace = dict(vars(_linesearch))
    exec(fixed, namespace)
    _linesearch._zoom = namespace["_zoom"]


zoom_with_inward_margins()


def mt_function(number):
    """phi and phi' of More and Thuente's function `number` (1..6)."""
    if number == 1:
        b = 2.0
        return lambda a: (-a / (a * a + b), (a * a - b) / (a * a + b) ** 2)
    if number == 2:
        b = 0.004
        return lambda a: ((a + b) ** 5 - 2 * (a + b) ** 4, 5 * (a + b) ** 4 - 8 * (a + b) ** 3)
    if number == 3:
        b, l = 0.01, 39.0

        def f(a):
            if a <= 1 - b:
                p, dp = 1 - a, -1.0
            elif a >= 1 + b:
                p, dp = a - 1, 1.0
            else:
                p, dp = (a - 1) ** 2 / (2 * b) + b / 2, (a - 1) / b
            return (p + 2 * (1 - b) / (l * math.pi) * math.sin(l * math.pi * a / 2),
                    dp + (1 - b) * math.cos(l * math.pi * a / 2))
        return f
    b1, b2 = {4: (0.001, 0.001), 5: (0.01, 0.001), 6: (0.001, 0.01)}[number]
    g1, g2 = math.sqrt(1 + b1 * b1) - b1, math.sqrt(1 + b2 * b2) - b2

    def f(a):
        s1, s2 = math.sqrt((1 - a) ** 2 + b2 * b2), math.sqrt(a * a + b1 * b1)
        return (g1 * s1 + g2 * s2, -g1 * (1 - a) / s1 + g2 * a / s2)
    return f


def dcsrch(fn, first, c1, c2):
    f, g = fn(0.0)
    isave, dsave = np.zeros((2,), np.intc), np.zeros((13,), float)
    task, step, evaluations = b'START', first, 0
    for _ in range(100):
        step, f, g, task = minpack2.dcsrch(step, f, g, c1, c2, 1e-14, task, 1e-100, 1e100,
                                           isave, dsave)
        if task[:2] != b'FG':
            break
        f, g = fn(step)
        evaluations += 1
    return task[:4] == b'CONV', step, evaluations


def zoom(fn, first, c1, c2):
    """scalar_search_wolfe2 from `first` (at most 1: SciPy caps its first step
    there; a first step below 1 is passed as fmin_cg's guess from old_phi0, so
    the step actually tried is returned too)."""
    f0, g0 = fn(0.0)
    evaluations = [0]

    def phi(a):
        evaluations[0] += 1
        return fn(a)[0]

    old = None if first == 1.0 else f0 - first * g0 / 2.02
    tried = 1.0 if old is None else min(1.0, 1.01 * 2 * (f0 - old) / g0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        step = _linesearch.scalar_search_wolfe2(phi, lambda a: fn(a)[1], f0, old, g0, c1, c2)[0]
    return step is not None, tried, step if step is not None else 0.0, evaluations[0]


# ---- 2. fmin_cg traces ---------------------------------------------------------


def debug_init(fan_in, fan_out):
    n = fan_out * (fan_in + 1)
    return (np.sin(np.arange(1, n + 1)) / 10.0).reshape(fan_out, fan_in + 1)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softplus(z):
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


class DebugProblem:
    def __init__(self, layers, m, lam):
        self.lam = lam
        self.X = debug_init(layers[0] - 1, m)
        self.Y = np.zeros((m, layers[-1]))
        self.Y[np.arange(m), np.arange(1, m + 1) % layers[-1]] = 1.0
        self.shapes = [(b, a + 1) for a, b in zip(layers[:-1], layers[1:])]
        self.x0 = np.concatenate([debug_init(a, b).ravel()
                                  for a, b in zip(layers[:-1], layers[1:])])
        self.evaluations = 0
        self.last = None

    def thetas(self, flat):
        out, o = [], 0
        for r, c in self.shapes:
            out.append(flat[o:o + r * c].reshape(r, c))
            o += r * c
        return out

    def cost_grad(self, flat):
        thetas = self.thetas(flat)
        m = self.X.shape[0]
        acts, z = [self.X], None
        for T in thetas:
            z = acts[-1] @ T[:, 1:].T + T[:, 0]
            acts.append(sigmoid(z))
        J = np.sum(softplus(z) - self.Y * z) / m
        J += self.lam / (2 * m) * sum(np.sum(T[:, 1:] ** 2) for T in thetas)
        grads = [None] * len(thetas)
        delta = acts[-1] - self.Y
        for l in range(len(thetas) - 1, -1, -1):
            g = np.empty_like(thetas[l])
            g[:, 0] = delta.sum(axis=0) / m
            g[:, 1:] = delta.T @ acts[l] / m + self.lam / m * thetas[l][:, 1:]
            grads[l] = g
            if l > 0:
                delta = (delta @ thetas[l][:, 1:]) * acts[l] * (1 - acts[l])
        return J, np.concatenate([g.ravel() for g in grads])

    def evaluate(self, x):
        if self.last is None or not np.array_equal(self.last[0], x):
            self.evaluations += 1
            self.last = (x.copy(),) + self.cost_grad(x)
        return self.last


def cg_trace(layers, m, lam, gtol, maxiter):
    p = DebugProblem(layers, m, lam)
    rows = []
    # fmin_cg's second search runs only after its first (dcsrch) failed or
    # found a step it rejects
    second_searches = []
    first_search_only = _optimize.line_search_wolfe2

    def second_search(*args, **kwargs):
        second_searches.append(len(rows) + 1)
        return first_search_only(*args, **kwargs)

    _optimize.line_search_wolfe2 = second_search

    def callback(xk):
        J, g = p.cost_grad(xk)
        rows.append((len(rows) + 1, p.evaluations, J, np.max(np.abs(g))))

    warnflag = fmin_cg(lambda x: p.evaluate(x)[1], p.x0, fprime=lambda x: p.evaluate(x)[2],
                       gtol=gtol, maxiter=maxiter, callback=callback, full_output=True,
                       disp=False)[4]
    _optimize.line_search_wolfe2 = first_search_only
    comparable = second_searches[0] - 1 if second_searches else len(rows)
    return rows, warnflag, comparable


# ---- the header -------------------------------------------------------------------


def c(v):
    return repr(float(v))


print("/* Generated by tests/make_scipy_reference.py with SciPy %s and numpy %s:"
      % (scipy.__version__, np.__version__))
print(" * do not edit; the script says what each number is. */")
print("""
typedef struct line_search_reference {
    int function; /* More and Thuente's 1..6 */
    double c1, c2;
    double first_step;
    int found;
    double step;
    int evaluations;
} line_search_reference;
""")
# The paper's constants for each function, then CG's, L-BFGS's and a c1
# close to c2 (sufficient decrease binding often).
MT_CASES = [(1, 1e-3, 0.1), (2, 0.1, 0.1), (3, 0.1, 0.1), (4, 1e-3, 1e-3), (5, 1e-3, 1e-3),
            (6, 1e-3, 1e-3)]
MT_CASES += [(number, c1, c2) for c1, c2 in ((1e-4, 0.4), (1e-4, 0.9), (0.4, 0.45))
             for number in range(1, 7)]
print("/* MINPACK-2 dcsrch */")
print("static const line_search_reference dcsrch_references[] = {")
for number, c1, c2 in MT_CASES:
    for first in (1e-3, 1e-1, 1e1, 1e3):
        found, step, evaluations = dcsrch(mt_function(number), first, c1, c2)
        print("    {%d, %s, %s, %s, %d, %s, %d}," % (number, c(c1), c(c2), c(first), found,
                                                   c(step), evaluations))
print("};\n")
print("/* scalar_search_wolfe2, _zoom's margins inward (step 0 where none was found) */")
print("static const line_search_reference wolfe2_references[] = {")
for number, c1, c2 in MT_CASES:
    for first in (1e-3, 1e-1, 1.0):
        found, tried, step, evaluations = zoom(mt_function(number), first, c1, c2)
        print("    {%d, %s, %s, %s, %d, %s, %d}," % (number, c(c1), c(c2), c(tried), found,
                                                   c(step), evaluations))
print("};")
print("""
typedef struct cg_trace_row {
    int iteration, evaluations;
    double cost, gnorm; /* gnorm: max |g_i| */
} cg_trace_row;

typedef struct cg_trace {
    int layer_count, sizes[4];
    int m;
    double lambda, gtol;
    int max_iter;
    int warnflag; /* fmin_cg's: 0 converged, 1 max_iter */
    int count;
    int comparable; /* iterations before fmin_cg's first second search */
    cg_trace_row rows[40];
} cg_trace;
""")
print("static const cg_trace cg_traces[] = {")
# 10.8323 and 10.837: the first trial step (1) of the first search lowers
# the cost by 5.0e-4 and 4.7e-5 of the linear prediction, between the c1 of
# 1e-4 and 1e-3 or 1e-5: a Wolfe c1 other than 1e-4 takes other steps. 30: the
# first gradient is longer than 1.01, so the first step is fmin_cg's guess
# 1.01 / |g|, not 1.
TRACES = (([3, 5, 3], 5, 0.0), ([3, 5, 3], 5, 3.0), ([3, 5, 4, 3], 5, 1.0), ([3, 5, 3], 5, 10.8323),
          ([3, 5, 3], 5, 10.837), ([3, 5, 3], 5, 30.0))
for layers, m, lam in TRACES:
    n = sum(b * (a + 1) for a, b in zip(layers[:-1], layers[1:]))
    rows, warnflag, comparable = cg_trace(layers, m, lam, 1e-5, n)
    print("    {%d, {%s}, %d, %s, 1e-5, %d, %d, %d, %d, {" % (
        len(layers), ", ".join(str(s) for s in layers), m, c(lam), n, warnflag, len(rows),
        comparable))
    for k, evaluations, J, gnorm in rows:
        print("        {%d, %d, %s, %s}," % (k, evaluations, c(J), c(gnorm)))
    print("    }},")
print("};")

"""The line search of the authors' L-BFGS-GSS, as their public notebook runs it.

The paper's Algorithm 1 says only "Golden Section Search". The authors' notebook
(`L-BFGS_GSS_NN.ipynb` in github.com/jy856-jpg/path-finding, class `LBFGS_Brent`) fixes what
the paper leaves open, and differs from the spec reading (docs/decisions.md#training,
`golden_section_search`) in ways that matter near a minimum:

- steps are distances t along the unit direction; the first trial is t = 0.2 |d| (the direction
  is H grad, so this is 0.2 of the quasi-Newton step) and the bracket grows 0.2 -> 0.8 -> 1.6
  -> 3.2 (x |d|) while the loss keeps falling;
- refinement stops when |f_a - f_b| < tol or |b - a| < tol (tol = 1e-4, absolute): once the
  loss is below 1e-4 the golden-section phase never runs;
- if every trial goes uphill it still returns the last (smallest) uphill trial, and a tie
  returns the midpoint of the last interval: the step is always taken, so it is not monotone.

This is a reimplementation from the notebook's behaviour, not its code. Two deliberate
differences, neither reached in a normal run: non-finite losses count as +inf (the notebook's
comparisons with NaN fall through to the tie branch), and the budget is checked with `>=`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator

GOLDEN = 0.382  # the notebook's rounded 1 - 1/phi


def trial_step(k: int, scale: float) -> float:
    """The k-th bracketing trial distance: 0.2, 0.8, 1.6, 3.2, 6.4, ... times `scale`."""
    return scale * 0.2 * (2 ** (k + 1) if k else 1)


Search = Generator[float, float, tuple[float, float, int]]  # yields t, is sent f(t)


def authors_line_search(
    f: Callable[[float], float], f0: float, scale: float, max_evals: int, tol: float = 1e-4
) -> tuple[float, float, int]:
    """Pick a distance t > 0 along the unit direction; f(t) is the loss there, f(0) = f0.

    `scale` is |d|, the norm of the quasi-Newton direction. Returns (t, f(t), evaluations);
    f(t) may exceed f0 (an accepted uphill step). Evaluations may exceed `max_evals` by one: a
    tie ends the search at the midpoint, which is evaluated outside the budget, as in the
    notebook.
    """
    search = authors_steps(f0, scale, max_evals, tol)
    try:
        t = next(search)
        while True:
            t = search.send(f(t))
    except StopIteration as done:
        return done.value


def authors_steps(f0: float, scale: float, max_evals: int, tol: float = 1e-4) -> Search:
    """`authors_line_search` as a generator: yields each trial t, is sent f(t). One search,
    two drivers: `authors_line_search` above, and lbfgs_pack running many side by side."""
    evals = 0

    def seen(v: float) -> float:
        nonlocal evals
        evals += 1
        return v if math.isfinite(v) else math.inf

    a, fa = 0.0, f0
    t = trial_step(0, scale)
    ft = seen((yield t))
    if ft == fa:  # a tie: the midpoint
        m = (a + t) / 2
        return m, seen((yield m)), evals
    if ft < fa:  # bracketing: grow while the loss keeps falling
        u, fu, k = t, ft, 0
        while True:
            k += 1
            t = trial_step(k, scale)
            ft = seen((yield t))
            if ft < fu:
                a, fa, u, fu = u, fu, t, ft
                if evals >= max_evals:
                    return u, fu, evals
            elif ft > fu:
                b, fb = t, ft
                if evals >= max_evals:
                    return u, fu, evals
                break
            else:
                m = (a + t) / 2
                return m, seen((yield m)), evals
    else:  # uphill at once: shrink [0, b] towards 0 until a point beats f0
        b, fb = t, ft
        while True:
            if abs(b - a) < tol or abs(fa - fb) < tol:
                return b, fb, evals  # accepts the uphill step
            t = a + GOLDEN * (b - a)
            ft = seen((yield t))
            if ft < fa:
                u, fu = t, ft
                if evals >= max_evals:
                    return u, fu, evals
                break
            if ft > fa:
                b, fb = t, ft
                if evals >= max_evals:
                    return b, fb, evals
            else:
                m = (a + t) / 2
                return m, seen((yield m)), evals
    x, fx = u, fu  # golden-section refinement of the bracket [a, b] around x
    while evals < max_evals:
        if abs(b - a) < tol or abs(fa - fb) < tol:
            return x, fx, evals
        shift = GOLDEN * (b - a)
        t = a + shift if (b - x) > (x - a) else b - shift
        ft = seen((yield t))
        if ft < fx:
            if t >= x:
                a, fa = x, fx
            else:
                b, fb = x, fx
            x, fx = t, ft
        elif ft > fx:
            if t < x:
                a, fa = t, ft
            elif t > x:
                b, fb = t, ft
        else:
            return x, fx, evals
    return x, fx, evals

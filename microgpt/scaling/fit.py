"""Fitting a scaling law in numpy alone: L(N, D) = E + A / N^alpha + B / D^beta (Hoffmann et al.
2022, approach 3) and its data-constrained form (Muennighoff et al. 2023), by Levenberg-Marquardt on
a Huber loss of log L's residuals (docs/pages/scaling.md); with bootstrap intervals, the
compute-optimal size of a budget, IsoFLOP parabolas and power laws."""
import itertools
import math
from dataclasses import dataclass

import numpy as np

HUBER_DELTA = 1e-3
PARAMS = ('E', 'A', 'B', 'alpha', 'beta')
CONSTRAINED_PARAMS = PARAMS + ('R_star',)
# Starting exponents: every pair of these (the papers' fits lie between 0.2 and 0.8).
START_EXPONENTS = (0.1, 0.25, 0.4, 0.6, 0.9, 1.3)
MAX_ITERATIONS = 400
BOOTSTRAP_RESAMPLES = 200
CONFIDENCE = 0.95
# R_D* is searched between these (passes); an interval reaching either leaves it undetermined.
R_STAR_BOUNDS = (0.05, 1e4)
LOG_R_STAR_BOUNDS = (math.log(R_STAR_BOUNDS[0]), math.log(R_STAR_BOUNDS[1]))
START_R_STARS = (1.0, 4.0, 16.0, 64.0, 512.0)
# A parameter whose interval spans more than this factor is not determined by the runs.
UNDETERMINED_FACTOR = 10.0


@dataclass(frozen=True)
class Law:
    """L(N, D) = E + A / N^alpha + B / D^beta."""
    E: float
    A: float
    B: float
    alpha: float
    beta: float

    @property
    def a(self):
        """The exponent of the compute-optimal size, N_opt ~ C^a when C ~ N D."""
        return self.beta / (self.alpha + self.beta)

    def loss(self, N, D):
        N, D = np.asarray(N, float), np.asarray(D, float)
        return self.E + self.A / N ** self.alpha + self.B / D ** self.beta

    def to_dict(self):
        return dict(E=self.E, A=self.A, B=self.B, alpha=self.alpha, beta=self.beta, a=self.a)


@dataclass(frozen=True)
class DataConstrainedLaw(Law):
    """L(N, D) = E + A / N^alpha + B / D'^beta: D' the effective tokens of D over a data set of
    `unique_tokens` (one pass), repeated tokens decaying in value over R_star passes."""
    R_star: float = math.inf
    unique_tokens: float = math.inf

    def effective_tokens(self, D):
        return effective_tokens(D, self.unique_tokens, self.R_star)[0]

    def loss(self, N, D):
        return super().loss(N, self.effective_tokens(D))

    def to_dict(self):
        return dict(super().to_dict(), R_star=self.R_star)


def huber(r, delta=HUBER_DELTA):
    """Quadratic within delta of 0, linear beyond (so a few bad runs cannot pull the fit)."""
    r = np.abs(r)
    return np.where(r <= delta, 0.5 * r * r, delta * (r - 0.5 * delta))


# --- the objective over theta = (e, a, b, alpha, beta[, log R_D*]) ---------------------------

def effective_tokens(D, unique_tokens, r_star):
    """(D', R, exp(-R / R*)): D' = U + U R* (1 - exp(-R / R*)) counts the first pass over the U
    unique tokens in full and later ones decayed by the passes made, R = D / U - 1 (>= 0)."""
    D = np.asarray(D, float)
    repeats = np.maximum(D / unique_tokens - 1.0, 0.0)
    decay = np.exp(-repeats / r_star)
    return np.where(repeats > 0, unique_tokens * (1.0 + r_star * (1.0 - decay)), D), repeats, decay


def _log_effective_tokens(log_d, r, unique_tokens):
    """(log D', d log D' / d r), where r = log R_D*."""
    r_star = math.exp(r)
    effective, repeats, decay = effective_tokens(np.exp(log_d), unique_tokens, r_star)
    d_effective = unique_tokens * r_star * ((1.0 - decay) - repeats / r_star * decay)  # R* dD'/dR*
    return np.log(effective), np.where(repeats > 0, d_effective / effective, 0.0)


def _residuals_and_jacobian(theta, log_n, log_d, log_l, unique_tokens=None):
    """log L's residuals and their Jacobian in theta (with log R_D* sixth when unique_tokens is given)."""
    e, a, b, alpha, beta = theta[:5]
    if unique_tokens is not None:
        log_d, d_log_d = _log_effective_tokens(log_d, theta[5], unique_tokens)
    terms = np.stack([np.full_like(log_n, e), a - alpha * log_n, b - beta * log_d], axis=1)
    top = terms.max(axis=1, keepdims=True)
    weights = np.exp(terms - top)
    total = weights.sum(axis=1, keepdims=True)
    log_pred = top[:, 0] + np.log(total[:, 0])
    weights /= total  # each term's share of the predicted loss
    columns = [weights[:, 0], weights[:, 1], weights[:, 2], -log_n * weights[:, 1], -log_d * weights[:, 2]]
    if unique_tokens is not None:
        columns.append(-beta * d_log_d * weights[:, 2])
    return log_pred - log_l, np.column_stack(columns)


def _ranked_starts(N, D, L, delta, unique_tokens):
    """The grid's starts, the lowest objective first."""
    logs = np.log(N), np.log(D), np.log(L)
    return sorted(grid_starts(N, D, L, unique_tokens),
                  key=lambda theta: float(huber(_residuals_and_jacobian(theta, *logs, unique_tokens)[0], delta).sum()))


def _minimize(theta, log_n, log_d, log_l, delta, unique_tokens=None):
    """Levenberg-Marquardt on the Huber objective: each step solves the Gauss-Newton system
    with IRLS weights (1 inside delta, delta/|r| outside), damped until the objective falls;
    log R_D* stays inside LOG_R_STAR_BOUNDS."""
    theta = np.asarray(theta, float)
    size = len(theta)

    def evaluate(t):
        return _residuals_and_jacobian(t, log_n, log_d, log_l, unique_tokens)

    r, jac = evaluate(theta)
    value = float(huber(r, delta).sum())
    damping = 1e-3
    for _ in range(MAX_ITERATIONS):
        abs_r = np.abs(r)
        grad_weight = np.where(abs_r <= delta, r, delta * np.sign(r))  # the Huber loss's derivative
        gradient = jac.T @ grad_weight
        weights = np.where(abs_r <= delta, 1.0, delta / np.maximum(abs_r, 1e-300))
        hessian = jac.T @ (weights[:, None] * jac)
        improved = False
        while damping < 1e12:
            system = hessian + damping * (np.diag(np.diag(hessian)) + 1e-12 * np.eye(size))
            try:
                step = np.linalg.solve(system, -gradient)
            except np.linalg.LinAlgError:
                damping *= 10
                continue
            candidate = theta + step
            if size > 5:
                candidate[5] = min(max(candidate[5], LOG_R_STAR_BOUNDS[0]), LOG_R_STAR_BOUNDS[1])
            new_r, new_jac = evaluate(candidate)
            new_value = float(huber(new_r, delta).sum())
            if np.isfinite(new_value) and new_value < value:
                improved = True
                break
            damping *= 4
        if not improved:
            break
        gain = value - new_value
        theta, r, jac, value = candidate, new_r, new_jac, new_value
        damping = max(damping / 3, 1e-9)
        if gain <= 1e-15 * max(value, 1e-300) and np.max(np.abs(step)) < 1e-10:
            break
    return theta, value


def _linear_start(alpha, beta, N, D, L):
    """For fixed exponents, the log E, A, B (each >= 0) that best fit L in relative error: the best
    least-squares solve of any subset of the three with no negative value."""
    columns = np.column_stack([np.ones_like(N), N ** -alpha, D ** -beta]) / L[:, None]
    best, best_error = None, np.inf
    for k in (1, 2, 3):
        for subset in itertools.combinations(range(3), k):
            coef, *_ = np.linalg.lstsq(columns[:, subset], np.ones_like(L), rcond=None)
            if np.any(coef < 0):
                continue
            error = float(np.sum((columns[:, subset] @ coef - 1) ** 2))
            if error < best_error:
                best, best_error = np.zeros(3), error
                best[list(subset)] = coef
    floor = 1e-6 * float(np.min(L))  # a term the solve leaves out starts negligible, not at log 0
    return np.log(np.maximum(best, floor))


def _as_arrays(N, D, L):
    N, D, L = (np.asarray(v, float).ravel() for v in (N, D, L))
    if not (len(N) == len(D) == len(L)):
        raise ValueError("N, D and L must have the same length")
    if np.any(N <= 0) or np.any(D <= 0) or np.any(L <= 0) or not np.all(np.isfinite(np.r_[N, D, L])):
        raise ValueError("N, D and L must be finite and > 0")
    return N, D, L


def _theta_of(law):
    tiny = 1e-300  # a term a fit drove to nothing (exp underflowed) starts from nearly nothing
    theta = [math.log(max(law.E, tiny)), math.log(max(law.A, tiny)), math.log(max(law.B, tiny)), law.alpha, law.beta]
    if isinstance(law, DataConstrainedLaw):
        theta.append(math.log(law.R_star))
    return np.array(theta)


def _law_of(theta, unique_tokens=None):
    e, a, b, alpha, beta = (float(v) for v in theta[:5])
    common = dict(E=math.exp(e), A=math.exp(a), B=math.exp(b), alpha=alpha, beta=beta)
    if unique_tokens is None:
        return Law(**common)
    return DataConstrainedLaw(**common, R_star=math.exp(float(theta[5])), unique_tokens=float(unique_tokens))


def grid_starts(N, D, L, unique_tokens=None):
    """Every (alpha, beta) pair (with each of START_R_STARS for the data-constrained law), with
    the linear solve's E, A, B on the (effective) tokens."""
    if unique_tokens is None:
        return [np.r_[_linear_start(alpha, beta, N, D, L), alpha, beta]
                for alpha in START_EXPONENTS for beta in START_EXPONENTS]
    starts = []
    for r_star in START_R_STARS:
        effective = effective_tokens(D, unique_tokens, r_star)[0]
        starts += [np.r_[_linear_start(alpha, beta, N, effective, L), alpha, beta, math.log(r_star)]
                   for alpha in START_EXPONENTS for beta in START_EXPONENTS]
    return starts


def fit_law(N, D, L, delta=HUBER_DELTA, starts=None, unique_tokens=None):
    """(law, objective): the law minimizing the Huber loss of log-loss residuals from `starts`
    (thetas; default the grid); the data-constrained law when unique_tokens (one pass) is given."""
    N, D, L = _as_arrays(N, D, L)
    size = len(PARAMS) + (unique_tokens is not None)
    if len(L) < size:
        raise ValueError(f"{len(L)} points cannot fit {size} parameters")
    log_n, log_d, log_l = np.log(N), np.log(D), np.log(L)
    if starts is None and unique_tokens is None:
        starts = grid_starts(N, D, L)
    elif starts is None:  # refine the most promising of the larger grid only
        starts = _ranked_starts(N, D, L, delta, unique_tokens)[:len(START_EXPONENTS) ** 2]
    best, best_value = None, np.inf
    for start in starts:
        theta, value = _minimize(start, log_n, log_d, log_l, delta, unique_tokens=unique_tokens)
        if value < best_value and np.all(np.isfinite(theta)):
            best, best_value = theta, value
    return _law_of(best, unique_tokens), best_value


def percentile_interval(values):
    """[low, high] holding CONFIDENCE of the values; [nan, nan] when there are none."""
    if len(values) == 0:
        return [math.nan, math.nan]
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(np.asarray(values, float), [tail, 100 - tail])
    return [float(low), float(high)]


def bootstrap_laws(N, D, L, law, resamples=BOOTSTRAP_RESAMPLES, seed=0, delta=HUBER_DELTA):
    """Laws of law's kind fitted to resamples of the points drawn with replacement. Each starts
    from the full fit and the grid's best three: seconds for 200."""
    N, D, L = _as_arrays(N, D, L)
    unique_tokens = law.unique_tokens if isinstance(law, DataConstrainedLaw) else None
    rng = np.random.default_rng(seed)
    starts = [_theta_of(law)] + _ranked_starts(N, D, L, delta, unique_tokens)[:3]
    laws = []
    for _ in range(resamples):
        picked = rng.integers(0, len(L), len(L))
        if len(np.unique(picked)) < len(PARAMS) + (unique_tokens is not None):
            continue
        laws.append(fit_law(N[picked], D[picked], L[picked], delta, starts=starts, unique_tokens=unique_tokens)[0])
    return laws


def law_intervals(laws, like=None):
    """{parameter: [low, high]} of bootstrapped laws; [nan, nan] each (keys of `like`) when there are none."""
    if not laws:
        return {key: [math.nan, math.nan] for key in like.to_dict()}
    return {key: percentile_interval([law.to_dict()[key] for law in laws])
            for key in laws[0].to_dict()}


def undetermined(intervals):
    """The parameters whose interval spans more than UNDETERMINED_FACTOR, is not above 0, or
    reaches a bound of R_D*'s search."""
    found = []
    for key, (low, high) in intervals.items():
        at_bound = key == 'R_star' and (low <= R_STAR_BOUNDS[0] * (1 + 1e-6) or high >= R_STAR_BOUNDS[1] * (1 - 1e-6))
        if at_bound or not low > 0 or high / low > UNDETERMINED_FACTOR:
            found.append(key)
    return found


# --- compute, sizes and tokens ------------------------------------------------------------------

@dataclass(frozen=True)
class PowerLaw:
    """y = k * x^exponent, fitted by least squares in log-log space."""
    k: float
    exponent: float

    def __call__(self, x):
        return self.k * np.asarray(x, float) ** self.exponent


def fit_power_law(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2 or len(np.unique(x)) < 2:
        raise ValueError("a power law needs at least two distinct x")
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return PowerLaw(k=float(math.exp(intercept)), exponent=float(slope))


def compute_optimal(law, budget, flops_per_token):
    """(N, D) minimizing law.loss(N, D) at `budget` FLOPs, D = budget / flops_per_token(N): the
    loss along a budget is one valley in log N, found on a coarse grid and refined by golden section."""
    def loss_at(log_n):
        n = math.exp(log_n)
        return float(law.loss(n, budget / float(flops_per_token(n))))

    lo, hi = math.log(1e1), math.log(1e12)
    grid = np.linspace(lo, hi, 400)
    values = [loss_at(x) for x in grid]
    i = int(np.argmin(values))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(100):
        x1, x2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if loss_at(x1) < loss_at(x2):
            hi = x2
        else:
            lo = x1
    n = math.exp((lo + hi) / 2)
    return n, budget / float(flops_per_token(n))


@dataclass(frozen=True)
class Parabola:
    """loss = c2 x^2 + c1 x + c0 with x = ln N: an IsoFLOP curve; its vertex is the optimum."""
    c2: float
    c1: float
    c0: float

    @property
    def vertex(self):
        """(N, loss) at the bottom of the parabola."""
        x = -self.c1 / (2 * self.c2)
        return math.exp(x), self.c2 * x * x + self.c1 * x + self.c0

    def __call__(self, N):
        x = np.log(np.asarray(N, float))
        return self.c2 * x * x + self.c1 * x + self.c0


def fit_parabola(N, L):
    """The least-squares parabola of L against ln N; None below 3 distinct sizes or with no minimum."""
    N, L = np.asarray(N, float), np.asarray(L, float)
    if len(np.unique(N)) < 3:
        return None
    c2, c1, c0 = np.polyfit(np.log(N), L, 2)
    if not c2 > 0:
        return None
    return Parabola(float(c2), float(c1), float(c0))

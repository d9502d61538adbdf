"""The scaling-law fit, on data drawn from laws we know."""
import math

import numpy as np
import pytest

from microgpt.scaling import fit

TRUE = fit.Law(E=1.8, A=30.0, B=400.0, alpha=0.5, beta=0.45)
SIZES = np.array([1.3e3, 4e3, 1.5e4, 2.7e4, 6e4, 1.5e5])
BUDGETS = np.array([1e10, 3e10, 1e11, 3e11, 1e12])


def grid(law=TRUE, noise=0.003, seed=1, seeds=2):
    """Every size at every budget (C = 6 N D), `seeds` runs each, log-normal noise."""
    N = np.repeat(np.tile(SIZES, len(BUDGETS)), seeds)
    C = np.repeat(np.repeat(BUDGETS, len(SIZES)), seeds)
    D = C / (6 * N)
    L = law.loss(N, D) * np.exp(np.random.default_rng(seed).normal(0, noise, len(N)))
    return N, D, L


def test_the_fit_recovers_a_known_law_from_noisy_runs():
    N, D, L = grid()
    law, objective = fit.fit_law(N, D, L)
    assert law.E == pytest.approx(TRUE.E, rel=0.01)
    assert law.alpha == pytest.approx(TRUE.alpha, abs=0.03)
    assert law.beta == pytest.approx(TRUE.beta, abs=0.03)
    assert law.A == pytest.approx(TRUE.A, rel=0.15) and law.B == pytest.approx(TRUE.B, rel=0.15)
    assert law.a == pytest.approx(TRUE.a, abs=0.01)
    assert objective < fit.huber(np.log(L / TRUE.loss(N, D))).sum()  # at least as good as the truth
    assert np.max(np.abs(law.loss(N, D) / L - 1)) < 0.015


def test_noise_free_data_is_fitted_exactly():
    N, D, L = grid(noise=0.0)
    law, objective = fit.fit_law(N, D, L)
    for key in fit.PARAMS:
        assert getattr(law, key) == pytest.approx(getattr(TRUE, key), rel=1e-4), key
    assert objective < 1e-12


def test_the_huber_loss_keeps_one_bad_run_from_pulling_the_fit():
    N, D, L = grid(noise=0.001)
    L[7] *= 1.25  # a run that went wrong
    robust, _ = fit.fit_law(N, D, L)
    squares, _ = fit.fit_law(N, D, L, delta=10.0)  # delta beyond every residual: least squares
    assert robust.alpha == pytest.approx(TRUE.alpha, abs=0.02) and robust.E == pytest.approx(TRUE.E, rel=0.01)
    assert abs(squares.alpha - TRUE.alpha) > 2 * abs(robust.alpha - TRUE.alpha)
    assert fit.huber(np.array([0.5e-3, 2e-3])) == pytest.approx([0.125e-6, 1.5e-6])


def test_bootstrap_intervals_cover_the_truth_and_narrow_with_less_noise():
    N, D, L = grid(noise=0.004)
    law, _ = fit.fit_law(N, D, L)
    intervals = fit.law_intervals(fit.bootstrap_laws(N, D, L, law, resamples=60, seed=2))
    for key in fit.PARAMS + ('a',):
        low, high = intervals[key]
        assert low < law.to_dict()[key] < high, key
        assert low <= getattr(TRUE, key) <= high, (key, intervals[key], getattr(TRUE, key))
    quiet = fit.law_intervals(fit.bootstrap_laws(*grid(noise=0.001), law, resamples=60, seed=2))
    assert np.diff(quiet['alpha']) < np.diff(intervals['alpha']) / 2


def test_compute_optimal_size_matches_the_closed_form_when_c_is_6nd():
    for budget in (1e10, 1e13):
        n, d = fit.compute_optimal(TRUE, budget, lambda n: 6 * n)
        g = (TRUE.alpha * TRUE.A / (TRUE.beta * TRUE.B)) ** (1 / (TRUE.alpha + TRUE.beta))
        assert n == pytest.approx(g * (budget / 6) ** TRUE.a, rel=1e-6)
        assert 6 * n * d == pytest.approx(budget)


def test_parabola_vertex_and_its_refusals():
    N = np.array([1e3, 3e3, 1e4, 3e4, 1e5])
    x = np.log(N)
    parabola = fit.fit_parabola(N, 0.05 * (x - math.log(8e3)) ** 2 + 2.0)
    n, loss = parabola.vertex
    assert n == pytest.approx(8e3, rel=1e-9) and loss == pytest.approx(2.0)
    assert parabola(8e3) == pytest.approx(2.0)
    assert fit.fit_parabola(N, -(x - 9) ** 2) is None  # no minimum
    assert fit.fit_parabola(N[:2], [2.0, 1.9]) is None


def test_power_law_in_log_log_space():
    c = np.array([1e10, 1e11, 1e12])
    law = fit.fit_power_law(c, 3.0 * c ** 0.48)
    assert law.exponent == pytest.approx(0.48) and law.k == pytest.approx(3.0)
    with pytest.raises(ValueError):
        fit.fit_power_law([1e10, 1e10], [1.0, 2.0])


def test_too_few_points_or_bad_values_are_refused():
    N, D, L = grid()
    with pytest.raises(ValueError, match='4 points cannot fit 5 parameters'):
        fit.fit_law(N[:4], D[:4], L[:4])
    with pytest.raises(ValueError, match='finite and > 0'):
        fit.fit_law(N, D, -L)


# --- the data-constrained law (Muennighoff et al. 2023) -------------------------------------------

UNIQUE = 2e5
CONSTRAINED = fit.DataConstrainedLaw(E=1.8, A=30.0, B=400.0, alpha=0.5, beta=0.45, R_star=8.0, unique_tokens=UNIQUE)
LONG_BUDGETS = np.array([1e10, 3e10, 1e11, 3e11, 1e12, 3e12])


def long_grid(law=CONSTRAINED, noise=0.002, seed=1):
    """Every size at budgets that reach hundreds of passes over UNIQUE tokens, two seeds each."""
    N = np.repeat(np.tile(SIZES, len(LONG_BUDGETS)), 2)
    D = np.repeat(np.repeat(LONG_BUDGETS, len(SIZES)), 2) / (6 * N)
    return N, D, law.loss(N, D) * np.exp(np.random.default_rng(seed).normal(0, noise, len(N)))


def test_effective_tokens_count_the_first_pass_fully_and_decay_after():
    law = CONSTRAINED
    assert law.effective_tokens([1e4, UNIQUE]) == pytest.approx([1e4, UNIQUE])  # no repetition yet
    # a repeated token is worth exp(-R / R_D*) of a fresh one (the derivative of D')
    for passes in (2.0, 9.0, 40.0):
        d = passes * UNIQUE
        slope = (law.effective_tokens(d * (1 + 1e-7)) - law.effective_tokens(d * (1 - 1e-7))) / (2e-7 * d)
        assert slope == pytest.approx(math.exp(-(passes - 1) / law.R_star), rel=1e-5)
    assert law.effective_tokens(1e6 * UNIQUE) == pytest.approx(UNIQUE * (1 + law.R_star))  # the ceiling
    fresh = fit.Law(law.E, law.A, law.B, law.alpha, law.beta)
    assert law.loss(1e4, 5e4) == pytest.approx(fresh.loss(1e4, 5e4))
    assert law.loss(1e4, 50 * UNIQUE) > fresh.loss(1e4, 50 * UNIQUE)


@pytest.mark.parametrize('unique_tokens', [None, UNIQUE])
def test_the_jacobian_is_the_residuals_derivative(unique_tokens):
    N, D, L = long_grid()
    theta = fit._theta_of(CONSTRAINED if unique_tokens else TRUE) + 0.05
    args = (np.log(N), np.log(D), np.log(L), unique_tokens)
    _, jac = fit._residuals_and_jacobian(theta, *args)
    for k in range(len(theta)):
        h = np.zeros(len(theta))
        h[k] = 1e-6
        numeric = (fit._residuals_and_jacobian(theta + h, *args)[0] - fit._residuals_and_jacobian(theta - h, *args)[0]) / 2e-6
        assert np.max(np.abs(numeric - jac[:, k])) < 1e-7, k


def test_the_data_constrained_fit_recovers_its_law_where_the_fresh_one_cannot():
    N, D, L = long_grid()
    law, objective = fit.fit_law(N, D, L, unique_tokens=UNIQUE)
    assert isinstance(law, fit.DataConstrainedLaw) and law.unique_tokens == UNIQUE
    assert law.R_star == pytest.approx(CONSTRAINED.R_star, rel=0.1)
    assert law.E == pytest.approx(CONSTRAINED.E, rel=0.01) and law.alpha == pytest.approx(CONSTRAINED.alpha, abs=0.03)
    fresh, fresh_objective = fit.fit_law(N, D, L)
    assert objective < fresh_objective / 5  # the fresh-data law cannot bend to the plateau
    laws = fit.bootstrap_laws(N, D, L, law, resamples=30, seed=1)
    intervals = fit.law_intervals(laws)
    assert set(intervals) == set(fit.CONSTRAINED_PARAMS) | {'a'}
    low, high = intervals['R_star']
    assert low <= CONSTRAINED.R_star <= high and fit.undetermined(intervals) == []


def test_a_parameter_the_runs_leave_open_is_named():
    tight = {'E': [1.85, 1.93], 'alpha': [0.37, 0.57]}
    assert fit.undetermined(tight) == []
    assert fit.undetermined(dict(tight, A=[2.27, 1.16e15])) == ['A']   # more than a factor of 10
    assert fit.undetermined(dict(tight, beta=[-0.1, 0.3])) == ['beta']  # not above 0
    assert fit.undetermined(dict(tight, R_star=[3.0, fit.R_STAR_BOUNDS[1]])) == ['R_star']  # at the search's bound
    assert fit.undetermined(dict(tight, R_star=[3.0, 25.0])) == []

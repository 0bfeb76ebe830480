"""Chapter 2's graded exercises: the references and independent answers pass, wrong answers fail, stubs are
not attempted, and a failing case shows its input."""

import math

import numpy as np
import pytest

from dnncourse.exercises import check, evaluate_function, get

IDS = ("gd_convergence", "optimal_step", "inertia", "jacobi_condition_number")


def looped_gd_convergence(eigenvalues, lr, tol):
    """Pure Python, one eigenvalue at a time."""
    rho = max(abs(1 - lr * lam) for lam in eigenvalues)
    if rho >= 1:
        return rho, -1
    if rho == 0:
        return rho, 1
    return rho, math.ceil(math.log(1 / tol) / math.log(1 / rho))


def numpy_optimal_step(hessian):
    lam = np.linalg.eigvalsh(hessian)
    return 2 / (lam[0] + lam[-1]), (lam[-1] - lam[0]) / (lam[-1] + lam[0])


def numpy_inertia(hessian, tol):
    lam = np.linalg.eigvalsh(hessian)
    return int(np.sum(lam < -tol)), int(np.sum(np.abs(lam) <= tol)), int(np.sum(lam > tol))


def numpy_jacobi_condition_number(hessian):
    """Eigenvalues of P^-1 H through a non-symmetric eigensolver (another route than the library's)."""
    lam = np.sort(np.linalg.eigvals(hessian / np.diag(hessian)[:, None]).real)
    return lam[-1] / lam[0]


INDEPENDENT = {
    "gd_convergence": looped_gd_convergence,
    "optimal_step": numpy_optimal_step,
    "inertia": numpy_inertia,
    "jacobi_condition_number": numpy_jacobi_condition_number,
}


@pytest.mark.parametrize("exercise_id", IDS)
def test_references_and_independent_answers_pass_for_many_seeds(exercise_id):
    exercise = get(exercise_id)
    assert exercise.chapter == "02_optimization_challenges" and exercise.points >= 2
    for seed in range(20):
        for answer in (exercise.reference, INDEPENDENT[exercise_id]):
            verdict = evaluate_function(exercise, answer, seed=seed)
            assert verdict.status == "passed", (seed, answer.__name__, verdict.messages)


def diagonal_optimal_step(hessian):
    """A common mistake: the diagonal entries taken for the eigenvalues."""
    d = np.diag(hessian)
    return 2 / (d.min() + d.max()), (d.max() - d.min()) / (d.max() + d.min())


def safe_step_instead_of_best(hessian):
    """Another one: the largest stable step 2 / lambda_max instead of the best one."""
    lam = np.linalg.eigvalsh(hessian)
    return 2 / lam[-1], max(abs(1 - 2 / lam[-1] * lam))


def diagonal_inertia(hessian, tol):
    d = np.diag(hessian)
    return int(np.sum(d < -tol)), int(np.sum(np.abs(d) <= tol)), int(np.sum(d > tol))


def inertia_without_tolerance(hessian, tol):
    lam = np.linalg.eigvalsh(hessian)
    return int(np.sum(lam < 0)), int(np.sum(lam == 0)), int(np.sum(lam > 0))


def unpreconditioned_condition_number(hessian):
    lam = np.linalg.eigvalsh(hessian)
    return lam[-1] / lam[0]


def preconditioned_without_square_root(hessian):
    """D^-1 H D^-1 instead of D^-1/2 H D^-1/2: not similar to P^-1 H."""
    d = np.diag(hessian)
    lam = np.linalg.eigvalsh(hessian / np.outer(d, d))
    return lam[-1] / lam[0]


WRONG = {
    "gd_convergence": [lambda eigenvalues, lr, tol: looped_gd_convergence(eigenvalues[:1], lr, tol)],
    "optimal_step": [diagonal_optimal_step, safe_step_instead_of_best],
    "inertia": [diagonal_inertia, inertia_without_tolerance],
    "jacobi_condition_number": [unpreconditioned_condition_number, preconditioned_without_square_root],
}


@pytest.mark.parametrize("exercise_id", IDS)
def test_wrong_answers_fail_and_stubs_are_not_attempted(exercise_id):
    exercise = get(exercise_id)
    for wrong in WRONG[exercise_id]:
        verdict = evaluate_function(exercise, wrong, seed=0)
        assert verdict.status == "failed" and verdict.points < exercise.points, verdict.messages

    def stub(*args, **kwargs):
        raise NotImplementedError(f"Exercise {exercise_id}: replace this line with your code")

    verdict = evaluate_function(exercise, stub, seed=0)
    assert verdict.status == "not-attempted" and verdict.points == 0


def test_a_failing_case_shows_the_matrix_in_full(capsys):
    check("inertia", diagonal_inertia)
    out = capsys.readouterr().out
    assert "positive diagonal, yet a saddle" in out and "[[1., 2.]," in out and "expected 1, got 0" in out
    check("jacobi_condition_number", unpreconditioned_condition_number)
    out = capsys.readouterr().out
    assert "an axis-aligned ravine" in out and "100." in out and "Hint:" in out

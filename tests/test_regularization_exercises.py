"""The exercises of chapter 8 ("Regularization"): references checked independently, wrong answers fail,
stubs are not attempted, and the chapter states the points the specifications declare."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from dnncourse.exercises import evaluate_function, get, marked_exercise

CHAPTER = Path(__file__).parents[1] / "book" / "solutions" / "08_regularization.ipynb"
IDS = ("ridge_solution", "early_stopping_epochs", "mc_dropout_predict", "label_smoothing_loss_and_grad")


def _stub(**_):
    raise NotImplementedError("Exercise: replace this line with your code")


@pytest.mark.parametrize("exercise_id", IDS)
def test_the_reference_passes_and_a_stub_is_not_attempted(exercise_id):
    exercise = get(exercise_id)
    assert exercise.chapter == "08_regularization"
    assert len(exercise.public_cases) >= 3 and exercise.random_case is not None
    for seed in (0, 1, 2):
        assert evaluate_function(exercise, exercise.reference, seed).status == "passed"
    assert evaluate_function(exercise, _stub).status == "not-attempted"


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_mc_dropout_reference_matches_a_numpy_computation():
    exercise = get("mc_dropout_predict")
    for case in exercise.cases(seed=5):
        i = case.inputs
        hidden = np.maximum(i["x"] @ i["W1"].T + i["b1"], 0)  # (n, h)
        passes = [_softmax((hidden * m / (1 - i["p"])) @ i["W2"].T + i["b2"]) for m in i["masks"]]
        inputs = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in i.items()}
        ours = exercise.reference(**inputs).numpy()
        np.testing.assert_allclose(ours, np.mean(passes, axis=0), rtol=1e-12)


def test_mc_dropout_with_all_units_kept_is_the_plain_network():
    exercise = get("mc_dropout_predict")
    i = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in exercise.public_cases[0].inputs.items()}
    plain = torch.softmax(torch.relu(i["x"] @ i["W1"].T + i["b1"]) @ i["W2"].T + i["b2"], dim=1)
    assert torch.allclose(exercise.reference(**i), plain)


def test_label_smoothing_reference_is_softmax_minus_the_smoothed_target():
    exercise = get("label_smoothing_loss_and_grad")
    for case in exercise.cases(seed=2):
        z, y, eps = case.inputs["z"], case.inputs["y"], case.inputs["eps"]
        n, K = z.shape
        q = (1 - eps) * np.eye(K)[y] + eps / K  # (n, K)
        log_p = z - z.max(axis=1, keepdims=True)
        log_p = log_p - np.log(np.exp(log_p).sum(axis=1, keepdims=True))
        loss, grad = exercise.reference(torch.from_numpy(z), torch.from_numpy(y), eps)
        assert loss.item() == pytest.approx(-(q * log_p).sum(axis=1).mean(), rel=1e-10)
        np.testing.assert_allclose(grad.numpy(), (np.exp(log_p) - q) / n, rtol=1e-9, atol=1e-15)


def _average_logits(x, W1, b1, W2, b2, masks, p):
    logits = [(torch.relu(x @ W1.T + b1) * m / (1 - p)) @ W2.T + b2 for m in masks]
    return torch.softmax(torch.stack(logits).mean(0), dim=1)


def _no_inverted_scaling(x, W1, b1, W2, b2, masks, p):
    return torch.stack([torch.softmax((torch.relu(x @ W1.T + b1) * m) @ W2.T + b2, dim=1) for m in masks]).mean(0)


def _ignores_eps(z, y, eps):
    p = torch.softmax(z, dim=1)
    target = torch.nn.functional.one_hot(y, z.shape[1]).to(z.dtype)
    return torch.nn.functional.cross_entropy(z, y), (p - target) / len(y)


def _gradient_not_averaged(z, y, eps):
    K = z.shape[1]
    q = (1 - eps) * torch.nn.functional.one_hot(y, K).to(z.dtype) + eps / K
    return -(q * torch.log_softmax(z, dim=1)).sum(1).mean(), torch.softmax(z, dim=1) - q


def _ties_improve(values, patience, min_delta):
    best, best_epoch, wait = float("inf"), None, 0
    for epoch, value in enumerate(values):
        if value <= best - min_delta:
            best, best_epoch, wait = value, epoch, 0
        else:
            wait += 1
            if wait >= patience:
                return best_epoch, epoch
    return best_epoch, None


def _no_penalty(A, b, lam):
    return torch.linalg.lstsq(A, b).solution


@pytest.mark.parametrize(
    "exercise_id, wrong",
    [
        ("mc_dropout_predict", _average_logits),
        ("mc_dropout_predict", _no_inverted_scaling),
        ("label_smoothing_loss_and_grad", _ignores_eps),
        ("label_smoothing_loss_and_grad", _gradient_not_averaged),
        ("early_stopping_epochs", _ties_improve),
        ("ridge_solution", _no_penalty),
    ],
)
def test_a_wrong_answer_fails(exercise_id, wrong):
    verdict = evaluate_function(get(exercise_id), wrong)
    assert verdict.status == "failed" and verdict.passed < verdict.total
    assert verdict.messages and "expected" in verdict.messages[0]


def test_a_failing_early_stopping_case_shows_the_whole_curve():
    verdict = evaluate_function(get("early_stopping_epochs"), lambda values, patience, min_delta: (0, None))
    assert "values=[1.  , 0.8 , 0.6 , 0.65, 0.7 , 0.61, 0.9 , 0.5 ]" in verdict.messages[0]
    exercise = get("early_stopping_epochs")
    for case in exercise.cases(seed=7):  # random curves are short enough to be shown in full too
        assert len(case.inputs["values"]) <= 24


def test_the_chapter_states_the_points_of_each_exercise_as_declared():
    cells = json.loads(CHAPTER.read_text())["cells"]
    stated = {}
    for before, cell in zip(cells, cells[1:]):
        exercise_id = marked_exercise("".join(cell["source"])) if cell["cell_type"] == "code" else None
        if exercise_id is None:
            continue
        assert before["cell_type"] == "markdown", f"the prompt of {exercise_id} must precede its code cell"
        match = re.search(r"\*\*Exercise 8\.(\d+) \((\d+) points?\)\.\*\*", "".join(before["source"]))
        assert match, f"the prompt of {exercise_id} must start with **Exercise 8.k (P points).**"
        stated[exercise_id] = (int(match[1]), int(match[2]))
    assert sorted(stated) == sorted(IDS)
    assert sorted(k for k, _ in stated.values()) == list(range(1, len(IDS) + 1))
    for exercise_id, (_, points) in stated.items():
        assert points == get(exercise_id).points, exercise_id

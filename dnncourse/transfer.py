"""Transfer learning (chapter 8, "Regularization"): reuse a trained network for a new task.

The recipe: copy the trained model with a new output layer (:func:`with_new_head`), freeze the layers
it reuses (:func:`freeze_`) and train only the new head (:func:`trainable_parameters` is what the
optimizer gets), then unfreeze (:func:`unfreeze_`) and fine-tune everything with a small learning rate.
"""

from __future__ import annotations

import copy

from torch import nn

from dnncourse import _validation as check
from dnncourse.core import forked_rng

__all__ = ["freeze_", "unfreeze_", "trainable_parameters", "with_new_head"]


def freeze_(module: nn.Module) -> nn.Module:
    """Freeze ``module`` in place: ``requires_grad = False`` for all its parameters; returns the module.

    A frozen parameter gets no gradient, so optimizers leave it unchanged (they skip ``grad is None``).
    Its batch-norm running statistics still update in training mode; call ``.eval()`` on the frozen part
    too if they must stay fixed.
    """
    check.module("module", module)
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


def unfreeze_(module: nn.Module) -> nn.Module:
    """Undo :func:`freeze_`: ``requires_grad = True`` for all parameters of ``module``; returns the module."""
    check.module("module", module)
    for parameter in module.parameters():
        parameter.requires_grad_(True)
    return module


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters of ``model`` that will be trained (``requires_grad``): what to give the optimizer."""
    check.module("model", model)
    return [parameter for parameter in model.parameters() if parameter.requires_grad]


def with_new_head(model: nn.Module, out_features: int, *, seed: int | None = None) -> nn.Module:
    """A copy of a pretrained ``model`` whose output layer ``head`` is replaced by a new, freshly initialized one.

    Step 1 of transfer learning: the copy keeps every learned layer below the head (as independent
    tensors, so training the copy leaves ``model`` unchanged) and gets
    ``nn.Linear(head.in_features, out_features)`` for the new task's classes, with PyTorch's default
    initialization on the old head's device and dtype, drawn with a generator seeded with ``seed``
    (PyTorch's global generator is left as it was; ``seed=None`` draws from the global generator). The
    requires-grad flags are copied as they are; freeze the reused layers with :func:`freeze_`.

    ``model`` must have a ``head`` attribute that is an ``nn.Linear`` (as :class:`dnncourse.lab.models.MLP`
    has).
    """
    check.module("model", model)
    head = getattr(model, "head", None)
    if not isinstance(head, nn.Linear):
        raise ValueError(f"model must have an nn.Linear attribute 'head', got {type(head).__name__}")
    out_features = check.integer("out_features", out_features, minimum=1)
    new_model = copy.deepcopy(model)
    factory = {"bias": head.bias is not None, "device": head.weight.device, "dtype": head.weight.dtype}
    if seed is None:
        new_model.head = nn.Linear(head.in_features, out_features, **factory)
        return new_model
    with forked_rng(seed, head.weight.device):
        new_model.head = nn.Linear(head.in_features, out_features, **factory)
    return new_model

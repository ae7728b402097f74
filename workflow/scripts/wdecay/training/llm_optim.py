"""Optimisers of the language-model runs and their weight-decay policy.

The decayed set is chosen by name: a parameter is decayed when its name contains one of ``DECAY_SUBSTRINGS``
(embeddings, attention and MLP matrices, the head; with tied embeddings the head is the token embedding), and the
LayerNorm gains join it when ``decay_ln`` is set (ICLR Fig 14). Weight decay is one of:

- decoupled (AdamW's ``weight_decay``): w <- w - lr * wd * w, separate from the adaptive step;
- a coupled l2 penalty c/2 ||w||^2 on the decayed set (ICLR Fig 15): its gradient c * w is added to the gradient
  before clipping and before Adam's moments see it (the authors' code lacked the 1/2; ours is the usual form);
- SGD with momentum (ICLR Fig 16): PyTorch's coupled ``weight_decay`` on the decayed set.
"""

import logging

import torch
from torch import nn

from . import fused

log = logging.getLogger(__name__)

DECAY_SUBSTRINGS = ("wte", "wpe", "attn", "mlp", "lm_head")
LN_SUBSTRINGS = ("ln_",)


def decay_groups(model: nn.Module, decay_ln: bool) -> dict[str, list[tuple[str, nn.Parameter]]]:
    """{'decay': [(name, param)], 'no_decay': [...]} by name substring."""
    substrings = DECAY_SUBSTRINGS + (LN_SUBSTRINGS if decay_ln else ())
    groups = {"decay": [], "no_decay": []}
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups["decay" if any(s in name for s in substrings) else "no_decay"].append((name, p))
    return groups


def make_optimizer(model: nn.Module, run: dict, device: torch.device):
    """AdamW (betas from the run, decoupled ``wd`` on the decayed set) or SGD with momentum (coupled ``wd``).
    One fused kernel per group where PyTorch has it for the device (``fused``: no torch._dynamo import),
    ``torch.optim`` elsewhere."""
    groups = decay_groups(model, run["decay_ln"])
    for kind, members in groups.items():
        log.info("%s group: %d tensors, %d parameters", kind, len(members), sum(p.numel() for _, p in members))
    param_groups = [
        {"params": [p for _, p in groups["decay"]], "weight_decay": run["wd"]},
        {"params": [p for _, p in groups["no_decay"]], "weight_decay": 0.0},
    ]
    own = device.type in fused.FUSED_DEVICES
    if run["optimizer"] == "adamw":
        adamw = fused.AdamW if own else torch.optim.AdamW
        return adamw(param_groups, lr=run["lr"], betas=tuple(run["betas"]), eps=1e-8)
    if run["optimizer"] == "sgdm":
        sgd = fused.SGD if own else torch.optim.SGD
        return sgd(param_groups, lr=run["lr"], momentum=run["momentum"])
    raise ValueError(f"optimizer {run['optimizer']!r} is not adamw or sgdm")


def load_moments(optimizer, state: dict) -> None:
    """Load the per-parameter state (Adam's moments, momentum buffers) of ``state`` and keep this optimizer's
    group settings. ``load_state_dict`` alone would also restore each group's ``weight_decay`` and ``lr`` from the
    checkpoint, so a fine-tuning meant to run at wd 0 would keep the run's lambda."""
    settings = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, own in zip(optimizer.param_groups, settings, strict=True):
        group.update(own)


def l2_gradient_coef(run: dict) -> float:
    """The factor of w in the gradient of the run's coupled penalty: 2c for c ||w||^2 (``l2_penalty`` full, the
    authors' l2_reg), c for c/2 ||w||^2 (half)."""
    return run["l2"] * (2.0 if run.get("l2_penalty") == "full" else 1.0)


def add_l2_gradient(params: list[torch.Tensor], coef: float) -> None:
    """Add the gradient c * w of the penalty c/2 ||w||^2 to each parameter's gradient (one fused foreach op)."""
    if coef:
        torch._foreach_add_([p.grad for p in params], params, alpha=coef)

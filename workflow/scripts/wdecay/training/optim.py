"""Plain SGD with coupled weight decay, an explicit decay policy, and the paper's step schedule.

Coupled weight decay adds lambda * w to the gradient before the SGD step, which for SGD is exactly the gradient of
the l2 penalty lambda/2 * ||w||^2 (the paper's L_lambda). The decay policy says which parameters are penalised:
``all`` (the paper's objective and the authors' code) or ``weights`` (conv and linear weights; biases and
BatchNorm parameters go to the no-decay group). Both groups are reported by ``decay_groups``.
"""

import torch
from torch import nn

from . import fused

WD_POLICIES = ("all", "weights")


def decay_groups(model: nn.Module, policy: str) -> dict[str, list[tuple[str, nn.Parameter]]]:
    """{'decay': [...], 'no_decay': [...]} as (name, parameter) pairs, trainable parameters only."""
    if policy not in WD_POLICIES:
        raise ValueError(f"unknown wd_params {policy!r}; known: {', '.join(WD_POLICIES)}")
    groups = {"decay": [], "no_decay": []}
    for module_name, module in model.named_modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            is_weight = name == "weight" and isinstance(module, (nn.Conv2d, nn.Linear))
            key = "decay" if policy == "all" or is_weight else "no_decay"
            groups[key].append((f"{module_name}.{name}" if module_name else name, p))
    return groups


def make_sgd(model: nn.Module, lr: float, wd: float, momentum: float, policy: str):
    """SGD over the two decay groups: one fused kernel per group (``fused.SGD``, no torch._dynamo import) where
    PyTorch has the kernel for the device, ``torch.optim.SGD`` elsewhere."""
    groups = decay_groups(model, policy)
    param_groups = [
        {"params": [p for _, p in groups["decay"]], "weight_decay": wd, "name": "decay"},
        {"params": [p for _, p in groups["no_decay"]], "weight_decay": 0.0, "name": "no_decay"},
    ]
    if next(model.parameters()).device.type in fused.FUSED_DEVICES:
        return fused.SGD(param_groups, lr=lr, momentum=momentum)
    return torch.optim.SGD(param_groups, lr=lr, momentum=momentum)


def set_lr(optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def step_lr(epoch: int, lr: float, lr_flow: float, decay_epoch: int) -> float:
    """Learning rate used during (1-based) ``epoch``: ``lr`` up to ``decay_epoch``, then ``lr_flow``."""
    return lr if epoch <= decay_epoch else lr_flow


def squared_norm(params) -> torch.Tensor:
    """Sum of squared entries of a list of tensors, in fp32, as a 0-d tensor (no host sync)."""
    params = [p.detach().float() for p in params]
    return torch.nn.utils.get_total_norm(params).square() if params else torch.zeros(())


@torch.no_grad()
def project_to_sphere(params: list[torch.Tensor], radius: float = 1.0) -> None:
    """Rescale the parameters jointly onto the sphere of the given radius (one norm over all of them)."""
    norm = torch.nn.utils.get_total_norm([p.detach() for p in params])
    torch._foreach_mul_(params, radius / norm)

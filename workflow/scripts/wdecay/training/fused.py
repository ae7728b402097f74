"""SGD and AdamW as single fused kernel calls per parameter group, without ``torch.optim``.

Why: every ``torch.optim.Optimizer`` imports ``torch._dynamo`` (and with it sympy: about 1.3 s on a 2-core
machine) the first time a parameter group is added or a step is taken, even in a job that never compiles. The
tiny preset runs a few hundred short jobs, so that import was a large part of each job's start-up.

These classes call the same fused ATen kernels that ``torch.optim.SGD(fused=True)`` and
``torch.optim.AdamW(fused=True)`` call (``torch._fused_sgd_``, ``torch._fused_adamw_``), with the same arguments,
so their steps are bit-identical to PyTorch's (tests/training/test_fused.py checks this step for step). Their
``state_dict`` has PyTorch's layout and keys, so checkpoints load in either. They honour the ``grad_scale`` and
``found_inf`` that ``torch.amp.GradScaler`` hands a fused optimizer, and ``set_lr`` works on their
``param_groups`` as on PyTorch's. Only the features our trainers use are here: no closures, sparse gradients,
Nesterov, dampening, amsgrad or maximize.
"""

import torch

FUSED_DEVICES = ("cpu", "cuda")


class FusedOptimizer:
    """What both optimizers share: groups, per-parameter state, zeroing and PyTorch-compatible state dicts."""

    defaults: dict = {}
    _step_supports_amp_scaling = True  # GradScaler then passes grad_scale and found_inf instead of unscaling

    def __init__(self, param_groups: list[dict], **defaults):
        self.defaults = self.defaults | defaults
        self.param_groups = [self.defaults | group | {"params": list(group["params"])} for group in param_groups]
        self.state: dict[torch.Tensor, dict] = {}
        devices = {p.device.type for group in self.param_groups for p in group["params"]}
        if not devices <= set(FUSED_DEVICES):
            raise ValueError(f"fused optimizers run on {', '.join(FUSED_DEVICES)}, not {', '.join(sorted(devices))}")

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.zero_()

    def _scaling(self) -> dict:
        """The GradScaler's tensors for this step, if it set any."""
        return {"grad_scale": getattr(self, "grad_scale", None), "found_inf": getattr(self, "found_inf", None)}

    def state_dict(self) -> dict:
        """PyTorch's layout: parameters numbered across groups in order, state keyed by number."""
        index, groups = {}, []
        for group in self.param_groups:
            numbers = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append({k: v for k, v in group.items() if k != "params"} | {"params": numbers})
        params = [p for group in self.param_groups for p in group["params"]]
        state = {index[id(p)]: dict(self.state[p]) for p in params if p in self.state}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a state dict of this class or of the matching ``torch.optim`` optimizer (group settings included,
        as PyTorch does); tensors move to each parameter's device, floating ones to its dtype except Adam's step."""
        saved = state_dict["param_groups"]
        sizes = [len(g["params"]) for g in self.param_groups]
        if [len(g["params"]) for g in saved] != sizes:
            raise ValueError(f"optimizer state has groups of {[len(g['params']) for g in saved]} tensors, not {sizes}")
        self.state = {}
        for group, saved_group in zip(self.param_groups, saved, strict=True):
            group.update({k: v for k, v in saved_group.items() if k != "params"})
            for p, number in zip(group["params"], saved_group["params"], strict=True):
                if number in state_dict["state"]:
                    self.state[p] = {k: _placed(k, v, p) for k, v in state_dict["state"][number].items()}


def _placed(key: str, value, param: torch.Tensor):
    if not isinstance(value, torch.Tensor):
        return value
    if key == "step":  # the fused kernels keep the step count as float32 on the parameter's device
        return value.to(device=param.device, dtype=torch.float32)
    return value.to(device=param.device, dtype=param.dtype if value.is_floating_point() else value.dtype)


class SGD(FusedOptimizer):
    """SGD with momentum and coupled weight decay (``torch.optim.SGD(fused=True)`` without the rarer options)."""

    defaults = {
        "momentum": 0.0,
        "dampening": 0.0,
        "weight_decay": 0.0,
        "nesterov": False,
        "maximize": False,
        "foreach": None,
        "differentiable": False,
        "fused": True,
    }

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            with_momentum = group["momentum"] != 0
            buffers = [self.state.get(p, {}).get("momentum_buffer") for p in params] if with_momentum else []
            first = with_momentum and all(b is None for b in buffers)
            if first:
                buffers = [torch.empty_like(p.grad) for p in params]
            torch._fused_sgd_(
                params,
                [p.grad for p in params],
                buffers,
                weight_decay=group["weight_decay"],
                momentum=group["momentum"],
                lr=group["lr"],
                dampening=group["dampening"],
                nesterov=group["nesterov"],
                maximize=group["maximize"],
                is_first_step=first,
                **self._scaling(),
            )
            for p, buf in zip(params, buffers, strict=False):  # no buffers without momentum
                self.state.setdefault(p, {})["momentum_buffer"] = buf


class AdamW(FusedOptimizer):
    """Adam with decoupled weight decay (``torch.optim.AdamW(fused=True)`` without amsgrad)."""

    defaults = {
        "betas": (0.9, 0.999),
        "eps": 1e-8,
        "weight_decay": 1e-2,
        "amsgrad": False,
        "maximize": False,
        "foreach": None,
        "capturable": False,
        "differentiable": False,
        "fused": True,
        "decoupled_weight_decay": True,
    }

    @torch.no_grad()
    def step(self) -> None:
        scaling = self._scaling()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                if p not in self.state:
                    self.state[p] = {
                        "step": torch.zeros((), dtype=torch.float32, device=p.device),
                        "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                        "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
                    }
            states = [self.state[p] for p in params]
            steps = [s["step"] for s in states]
            torch._foreach_add_(steps, 1)
            beta1, beta2 = group["betas"]
            torch._fused_adamw_(
                params,
                [p.grad for p in params],
                [s["exp_avg"] for s in states],
                [s["exp_avg_sq"] for s in states],
                [],
                steps,
                amsgrad=False,
                lr=group["lr"],
                beta1=beta1,
                beta2=beta2,
                weight_decay=group["weight_decay"],
                eps=group["eps"],
                maximize=group["maximize"],
                **scaling,
            )
            if scaling["found_inf"] is not None:  # a skipped step does not count
                torch._foreach_sub_(steps, [scaling["found_inf"]] * len(steps))

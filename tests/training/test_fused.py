"""The fused optimizers against torch.optim's fused ones: bit-identical steps, interchangeable state dicts, the
GradScaler's skipped steps, and no torch._dynamo import."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from small_nets import batches, tiny_net
from torch.nn import functional as F
from wdecay.training import fused

GROUPS = [{"weight_decay": 5e-4}, {"weight_decay": 0.0}]  # decayed matrices, undecayed rest


def _groups(model, **extra):
    matrices = [p for p in model.parameters() if p.requires_grad and p.dim() > 1]
    rest = [p for p in model.parameters() if p.requires_grad and p.dim() <= 1]
    return [{"params": ps} | g | extra for ps, g in zip((matrices, rest), GROUPS, strict=True)]


def _pair(kind: str, **settings):
    """Two identical models, one with torch.optim's fused optimizer and one with ours."""
    models = [tiny_net(), tiny_net()]
    reference = {"sgd": torch.optim.SGD, "adamw": torch.optim.AdamW}[kind]
    ours = {"sgd": fused.SGD, "adamw": fused.AdamW}[kind]
    return models, reference(_groups(models[0]), fused=True, **settings), ours(_groups(models[1]), **settings)


def _train(model, optimizer, rates, scaler=None, poison: int | None = None):
    for i, ((x, y), lr) in enumerate(zip(batches((8, 5, 6, 7, 4, 9)), rates, strict=False)):
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            if i == poison:  # an overflow: the scaler must skip this step and lower its scale
                next(model.parameters()).grad.view(-1)[0] = float("inf")
            scaler.step(optimizer)
            scaler.update()


def _assert_same(a, b, opt_a, opt_b):
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    sa, sb = opt_a.state_dict(), opt_b.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys()
    for k in sa["state"]:
        assert sa["state"][k].keys() == sb["state"][k].keys()
        for name in sa["state"][k]:
            assert torch.equal(sa["state"][k][name], sb["state"][k][name]), (k, name)


RATES = [0.1, 0.1, 0.05, 0.05, 0.01, 0.01]
SETTINGS = {"sgd": [{"momentum": 0.9}, {"momentum": 0.0}], "adamw": [{"betas": (0.9, 0.95), "eps": 1e-8}]}
CASES = [(kind, s) for kind, options in SETTINGS.items() for s in options]


@pytest.mark.parametrize(("kind", "settings"), CASES)
def test_steps_are_bit_identical_to_torch_optim(kind, settings):
    (a, b), reference, ours = _pair(kind, lr=RATES[0], **settings)
    _train(a, reference, RATES)
    _train(b, ours, RATES)
    _assert_same(a, b, reference, ours)


@pytest.mark.parametrize(("kind", "settings"), CASES)
def test_state_dicts_load_in_either_and_training_continues_identically(kind, settings):
    (a, b), reference, ours = _pair(kind, lr=RATES[0], **settings)
    _train(a, reference, RATES[:3])
    _train(b, ours, RATES[:3])
    # swap the states: PyTorch's into ours and ours into PyTorch's (fresh optimizers, as after a resume)
    cls = type(ours)
    resumed_ours = cls(_groups(b), lr=RATES[0], **settings)
    resumed_ours.load_state_dict(reference.state_dict())
    resumed_ref = type(reference)(_groups(a), lr=RATES[0], fused=True, **settings)
    resumed_ref.load_state_dict(ours.state_dict())
    _train(a, resumed_ref, RATES[3:])
    _train(b, resumed_ours, RATES[3:])
    _assert_same(a, b, resumed_ref, resumed_ours)


@pytest.mark.parametrize(("kind", "settings"), CASES)
def test_grad_scaler_skips_the_same_steps(kind, settings):
    (a, b), reference, ours = _pair(kind, lr=RATES[0], **settings)
    scalers = [torch.amp.GradScaler("cpu", init_scale=2.0**10), torch.amp.GradScaler("cpu", init_scale=2.0**10)]
    _train(a, reference, RATES, scalers[0], poison=2)
    _train(b, ours, RATES, scalers[1], poison=2)
    _assert_same(a, b, reference, ours)
    assert scalers[1].get_scale() == scalers[0].get_scale() == 2.0**9  # one overflow halved it
    if kind == "adamw":
        assert ours.state_dict()["state"][0]["step"].item() == len(RATES) - 1  # the skipped step is not counted


def test_state_dict_rejects_other_group_sizes():
    model = tiny_net()
    saved = fused.SGD(_groups(model), lr=0.1, momentum=0.9).state_dict()
    other = fused.SGD([{"params": list(model.parameters())}], lr=0.1)
    with pytest.raises(ValueError, match="groups of"):
        other.load_state_dict(saved)


def test_unsupported_device_is_named():
    p = torch.nn.Parameter(torch.zeros(2, device="meta"))
    with pytest.raises(ValueError, match="not meta"):
        fused.SGD([{"params": [p]}], lr=0.1)


def test_training_steps_import_no_dynamo():
    """Construct, step, save and load each optimizer in a fresh process: torch._dynamo stays unimported."""
    script = """
import sys, torch
from wdecay.training import fused
model = torch.nn.Linear(4, 3)
for opt in (fused.SGD([{"params": model.parameters()}], lr=0.1, momentum=0.9),
            fused.AdamW([{"params": model.parameters()}], lr=1e-3)):
    model(torch.randn(5, 4)).square().sum().backward()
    opt.step(); opt.zero_grad(); opt.load_state_dict(opt.state_dict())
print("torch._dynamo" in sys.modules)
"""
    scripts = Path(fused.__file__).parents[2]
    out = subprocess.run([sys.executable, "-c", script], cwd=scripts, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr

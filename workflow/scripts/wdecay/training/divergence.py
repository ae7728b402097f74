"""Divergence of a language-model run, by claim C24's definition: after the first ``after`` fraction of the run
(10k of 50k iterations in the paper) the loss rises at least ``rise`` nats above its running minimum, and at the end
it is still at least ``remain`` above that minimum; a non-finite loss counts as diverged. A divergence is data:
training logs it and goes on (or ends cleanly on a non-finite loss), and this is evaluated on the logged curve.

Pure Python on sequences, so the trainer, the claims and the tests share it.
"""

import math

RISE, REMAIN, AFTER = 1.0, 0.5, 0.2


def spikes(steps, losses, max_iters: int, rise: float = RISE, after: float = AFTER) -> list[bool]:
    """Per logged point: the loss is non-finite, or (past ``after * max_iters``) ``rise`` above the running minimum
    of the points before it."""
    flags, best = [], math.inf
    for step, loss in zip(steps, losses, strict=True):
        if not math.isfinite(loss):
            flags.append(True)
            continue
        flags.append(step > after * max_iters and loss >= best + rise)
        best = min(best, loss)
    return flags


def diverged(steps, losses, max_iters: int, rise: float = RISE, remain: float = REMAIN, after: float = AFTER) -> bool:
    """Whether the curve diverged: a spike (see ``spikes``) and a last loss still ``remain`` above the minimum, or
    any non-finite loss."""
    losses = list(losses)
    if any(not math.isfinite(x) for x in losses):
        return True
    if not any(spikes(steps, losses, max_iters, rise, after)):
        return False
    return losses[-1] >= min(losses) + remain

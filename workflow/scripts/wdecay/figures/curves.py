"""Reading training curves from a vision_train frame, shared by the figures and the claims.

Functions take pandas frames but this module does not import pandas, so the Snakemake process can import claims.
"""

ROLES = ("large LR + WD", "large LR", "small LR + WD", "small LR")


def config_roles(panel) -> dict[tuple[float, float], str] | None:
    """{(lr, wd): role} with the ROLES above when a panel crosses two learning rates with WD off and on;
    None for any other grid."""
    lrs, wds = sorted(panel.lr.unique()), sorted(panel.wd.unique())
    if len(lrs) != 2 or len(wds) != 2 or wds[0] != 0:
        return None
    return {
        (lr, wd): f"{size} LR{' + WD' if wd else ''}"
        for size, lr in (("large", lrs[1]), ("small", lrs[0]))
        for wd in (wds[1], wds[0])
    }


def decay_epoch(rows) -> int | None:
    """Last epoch at the large learning rate, read from the logged rates (None if the rate never drops, or drops
    within the first epoch, as a per-step schedule does)."""
    if not (rows.lr_now != rows.lr).any():
        return None
    at_large = rows[(rows.lr_now == rows.lr) & (rows.epoch > 0)]
    return None if at_large.empty else int(at_large.epoch.max())


def final_rows(frame):
    """The last evaluated epoch of every run."""
    return frame[frame.epoch == frame.groupby("run_id").epoch.transform("max")]

"""Figures drawn by code alone: the fine-tuning cartoon (ICLR Fig 10, NeurIPS Fig 9) and the related-work tables
(ICLR Table 1, NeurIPS Table 1). Each returns the figure and the data it shows, like every other plot."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

# ICLR Table 1 (appendix A.1): works on implicit regularisation by the noise of the algorithm. The NeurIPS version
# names the Jacobian norm as the regulariser of this work (its conjecture L_lambda + eta sigma^2 ||J||_F^2).
RELATED_WORK = [
    (
        "Damian et al. (2021) & Li et al. (2021)",
        "Squared loss & CE + label smoothing",
        "Label noise GD",
        "Trace of Hessian",
    ),
    ("Blanc et al. (2020)", "Squared loss", "Label noise GD", "Jacobian norm"),
    ("Li et al. (2020)", "Scale-invariant loss", "SGD", "-"),
    ("Andriushchenko et al. (2023)", "Squared loss", "SGD with large LR", "Jacobian norm"),
]
OUR_WORK = {
    "iclr": ("Our work", "Regularized CE", "SGD with large LR", "Trace of Hessian"),
    "neurips": ("Our work", "Regularized CE", "SGD with large LR + WD", "Jacobian norm"),
}
COLUMNS = ["paper", "loss_function", "algorithm", "implicit_regularization"]


def related_work(spec: dict, frames=None):
    """The related-work comparison as a table figure; the data is the table itself."""
    data = pd.DataFrame(RELATED_WORK + [OUR_WORK[spec.get("version", "iclr")]], columns=COLUMNS)
    fig, ax = plt.subplots(figsize=(10, 0.45 * (len(data) + 1) + 0.4))
    ax.axis("off")
    header = ["Paper", "Loss function", "Algorithm", "Implicit regularization"]
    table = ax.table(cellText=data.values, colLabels=header, loc="center", cellLoc="left", colLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.auto_set_column_width(list(range(len(header))))
    for (r, _), cell in table.get_celld().items():
        if r == 0 or r == len(data):
            cell.set_text_props(weight="bold")
    fig.tight_layout()
    return fig, data


def cartoon(spec: dict, frames=None):
    """The fine-tuning projection: noisy large-LR iterates w_t bounce around a valley whose floor (the minimisers)
    is the curve y = 0.3 sin(x); fine-tuning projects each onto the floor (w~_t), and the projected points drift
    to w*_eta, the minimiser the regularised process selects. A fixed seed makes the drawing identical each time."""
    rng = np.random.default_rng(0)
    steps = 40
    t = np.linspace(0, 1, steps)
    floor_x = -2.5 + 4.0 * (1 - np.exp(-3 * t))  # the projections drift along the valley
    floor = 0.3 * np.sin(floor_x)
    iterate_y = floor + rng.normal(0, 0.35, steps) * np.exp(-0.5 * t)
    iterate_x = floor_x + rng.normal(0, 0.08, steps)
    xs, ys = np.meshgrid(np.linspace(-3, 2.5, 200), np.linspace(-1.5, 1.5, 120))
    loss = (ys - 0.3 * np.sin(xs)) ** 2 + 0.02 * (xs - 1.5) ** 2
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.contour(xs, ys, loss, levels=12, colors="0.8", linewidths=0.7)
    ax.plot(iterate_x, iterate_y, "-o", color="#d62728", markersize=3, linewidth=0.8, label="iterates $w_t$")
    ax.plot(floor_x, floor, "o", color="#1f77b4", markersize=3, label=r"fine-tuned $\tilde w_t$")
    for i in range(0, steps, 4):
        ax.annotate(
            "",
            (floor_x[i], floor[i]),
            (iterate_x[i], iterate_y[i]),
            arrowprops={"arrowstyle": "->", "color": "0.4", "linewidth": 0.6},
        )
    ax.plot([floor_x[-1]], [floor[-1]], "*", color="black", markersize=10, label=r"$w^*_\eta$")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Fine-tuning projects the noisy iterates onto the valley of minimisers", fontsize=9)
    fig.tight_layout()
    data = pd.DataFrame(
        {
            "step": np.arange(steps),
            "iterate_x": iterate_x,
            "iterate_y": iterate_y,
            "finetuned_x": floor_x,
            "finetuned_y": floor,
        }
    )
    return fig, data

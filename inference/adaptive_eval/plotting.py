"""Plots of an adaptive test: the ability estimate and the predicted accuracy, question by question.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state, no GUI backend): save one
with ``fig.savefig``, or hand it to Gradio's ``gr.Plot``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .adaptive import Result, Step


def trajectory_figure(
    history: Sequence[Step], title: str = "", figsize: tuple[float, float] = (8, 6)
) -> Figure:
    """Two panels against the number of questions asked: the ability estimate +/- SE, with a
    dot per answer (green right, red wrong), and the predicted bank accuracy with its 95%
    interval (steps without one draw no band).

    ``fig.axes`` is ``[ability, accuracy]``: add series to them (e.g. a random subset's mean)
    and call ``legend()`` again.
    """
    fig = Figure(figsize=figsize)
    top, bottom = fig.subplots(2, 1, sharex=True)
    if history:
        k = np.arange(1, len(history) + 1)
        theta = np.array([s.theta for s in history])
        se = np.array([s.se for s in history])
        top.plot(k, theta, color="C0", label="ability estimate θ")
        top.fill_between(k, theta - se, theta + se, color="C0", alpha=0.25, label="± SE")
        top.scatter(k, theta, c=["C2" if s.correct else "C3" for s in history], s=12, zorder=3)
        band = np.array([s.expected_accuracy_interval or (np.nan, np.nan) for s in history])
        bottom.plot(k, [s.expected_accuracy for s in history], color="C1",
                    label="adaptive test: predicted accuracy")
        bottom.fill_between(k, band[:, 0], band[:, 1], color="C1", alpha=0.2,
                            label="95% interval")
        for ax in (top, bottom):
            ax.legend(loc="best", fontsize=8)
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    top.set_ylabel("ability θ")
    bottom.set_ylabel("accuracy")
    bottom.set_xlabel("questions asked")
    bottom.set_ylim(0, 1)
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    top.set_title(title)
    fig.tight_layout()
    return fig


def save_result_plot(result: Result, path: str | Path, title: str | None = None) -> Path:
    """Save ``result``'s trajectory (``trajectory_figure``) as an image at ``path``; the default
    title states the final ability and accuracy with its interval."""
    lo, hi = result.expected_accuracy_interval
    title = title or (f"theta {result.theta:.2f} +/- {result.se:.2f}, accuracy "
                      f"{result.expected_accuracy:.3f} [{lo:.3f}, {hi:.3f}]")
    trajectory_figure(result.history, title).savefig(path, dpi=100)
    return Path(path)

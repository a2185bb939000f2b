"""Plots of an adaptive test: the ability estimate and the predicted accuracy, question by question;
and of a suite run (one panel per bank, then the suite accuracy).

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
from .suite import SuiteResult


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


def suite_figure(result: SuiteResult, title: str = "") -> Figure:
    """A suite run (``SuiteTest.run``): one panel per bank with its ability estimate +/- SE
    against the suite's question number (a dot per answer, green right, red wrong; a bank never
    asked shows only its final estimate as a dashed line), then a panel of each bank's predicted
    accuracy with its 95% interval beside the suite accuracy (their mean) and its interval.

    ``fig.axes`` is ``[bank_1, ..., bank_K, accuracies]``.
    """
    names = list(result.banks)
    fig = Figure(figsize=(8, 2.2 * (len(names) + 1) + 0.6))
    axes = fig.subplots(len(names) + 1, 1)
    for ax, name in zip(axes, names, strict=False):
        asked = [(k, step) for k, (bank, step) in enumerate(result.history, start=1)
                 if bank == name]
        final = result.banks[name]
        if asked:
            k = np.array([n for n, _ in asked])
            theta = np.array([s.theta for _, s in asked])
            se = np.array([s.se for _, s in asked])
            ax.plot(k, theta, color="C0", marker=".", label="ability estimate θ")
            ax.fill_between(k, theta - se, theta + se, color="C0", alpha=0.25, label="± SE")
            ax.scatter(k, theta, c=["C2" if s.correct else "C3" for _, s in asked], s=14,
                       zorder=3)
        ax.axhline(final.theta, color="C0", ls="--", lw=1,
                   label=f"final θ {final.theta:+.2f} ± {final.se:.2f}")
        ax.set_xlim(0.5, max(len(result.history), 1) + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("ability θ")
        ax.set_title(f"{name}: {len(asked)} question{'' if len(asked) == 1 else 's'}",
                     fontsize=10)
        ax.legend(loc="best", fontsize=7)
        ax.grid(alpha=0.3)
    axes[-2].set_xlabel("question number in the suite")
    summary = axes[-1]
    accuracy = np.array([result.banks[n].expected_accuracy for n in names])
    band = np.array([result.banks[n].expected_accuracy_interval for n in names])
    y = np.arange(len(names))
    summary.errorbar(accuracy, y, xerr=[accuracy - band[:, 0], band[:, 1] - accuracy], fmt="o",
                     color="C1", capsize=3, label="bank: predicted accuracy, 95% interval")
    lo, hi = result.suite_accuracy_interval
    summary.axvspan(lo, hi, color="C4", alpha=0.2)
    summary.axvline(result.suite_accuracy, color="C4",
                    label=f"suite accuracy {result.suite_accuracy:.3f} [{lo:.3f}, {hi:.3f}]")
    summary.set_yticks(y, names)
    summary.set_ylim(len(names) - 0.5, -0.5)
    summary.set_xlim(0, 1)
    summary.set_xlabel("predicted accuracy")
    summary.legend(loc="best", fontsize=7)
    summary.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def save_suite_plot(result: SuiteResult, path: str | Path, title: str | None = None) -> Path:
    """Save ``suite_figure(result)`` as an image at ``path``; the default title states the suite
    accuracy with its interval and the number of questions."""
    lo, hi = result.suite_accuracy_interval
    title = title or (f"suite accuracy {result.suite_accuracy:.3f} [{lo:.3f}, {hi:.3f}] from "
                      f"{result.n_items} questions")
    suite_figure(result, title).savefig(path, dpi=100)
    return Path(path)

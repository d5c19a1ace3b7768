"""The course's figures: one function per figure, each returning the matplotlib Figure.

Every figure has a title, axis labels with units and a legend when it shows more than one
line (STYLE.md). Functions take plain data (lists, tensors, the ``History`` that
``rnnlib.train.fit`` returns, or that history as a dict read back from JSON), so a figure can
be redrawn later from saved results.

- ``plot_history(history)``: training and validation loss, gradient norms, metrics.
- ``LiveLossPlot``: the small loss figure that ``fit`` redraws in place in a notebook.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["in_notebook", "plot_history", "LiveLossPlot"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, classic notebook, VS Code), False elsewhere."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _as_dict(history: Any) -> Mapping[str, Any]:
    """A ``History`` (anything with ``to_dict``) or a mapping with the same keys."""
    if hasattr(history, "to_dict"):
        return history.to_dict()
    if isinstance(history, Mapping):
        return history
    raise TypeError(f"expected the History returned by rnnlib.train.fit (or its dict), "
                    f"got {type(history).__name__}")


def _epoch_ends(h: Mapping[str, Any]) -> list[int]:
    """The optimizer step at which each epoch ended: where per-epoch values are drawn."""
    return list(h.get("epoch_steps", []))


def _draw_loss(ax: Axes, h: Mapping[str, Any]) -> None:
    """Per-step training loss (thin), epoch means of training and validation loss (dots)."""
    loss = np.asarray(h.get("loss", []), dtype=float)
    steps = np.arange(1, len(loss) + 1)
    if len(loss):
        ax.plot(steps, loss, color="C0", alpha=0.3, linewidth=0.8, label="train (each step)")
    ends = _epoch_ends(h)
    if h.get("train_loss"):
        ax.plot(ends[:len(h["train_loss"])], h["train_loss"], "o-", color="C0",
                label="train (epoch mean)")
    if h.get("val_loss"):
        ax.plot(ends[:len(h["val_loss"])], h["val_loss"], "s-", color="C1", label="validation")
    ax.set_title("Loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (as loss_fn measures it)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()


def _draw_grad_norm(ax: Axes, h: Mapping[str, Any]) -> None:
    """Gradient norm of every step, before clipping, with the clipping threshold."""
    norms = np.asarray(h.get("grad_norm", []), dtype=float)
    ax.plot(np.arange(1, len(norms) + 1), norms, color="C2", linewidth=0.8,
            label="‖∇θ L‖ before clipping")
    clip = h.get("settings", {}).get("clip_norm")
    if clip is not None:
        ax.axhline(clip, color="C3", linestyle="--", label=f"clip_norm = {clip:g}")
    if len(norms) and np.all(norms[np.isfinite(norms)] > 0):
        ax.set_yscale("log")
    ax.set_title("Gradient norm")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("L2 norm of all gradients")
    ax.legend()


def _draw_metrics(ax: Axes, h: Mapping[str, Any]) -> None:
    """Each validation metric per epoch."""
    for i, (name, values) in enumerate(h.get("val_metrics", {}).items()):
        ax.plot(range(1, len(values) + 1), values, "o-", color=f"C{i + 4}", label=name)
    ax.set_title("Validation metrics")
    ax.set_xlabel("epoch")
    ax.set_ylabel("value")
    ax.legend()


def plot_history(history: Any, *, title: str | None = None,
                 figsize: tuple[float, float] | None = None) -> Figure:
    """Draw what ``rnnlib.train.fit`` recorded: loss, gradient norms and validation metrics.

    Left: the training loss of every step and the per-epoch means of the training and
    validation losses. Middle: the gradient norm of every step before clipping, on a log scale,
    with the clipping threshold when there was one (steps above the line were clipped). Right,
    when there are validation metrics: each metric per epoch.

    ``history`` is the ``History`` that ``fit`` returned, or its ``to_dict()`` (e.g. from
    JSON). Returns the Figure; in a notebook, ``plt.show()`` displays it.
    """
    h = _as_dict(history)
    panels = [_draw_loss, _draw_grad_norm]
    if h.get("val_metrics"):
        panels.append(_draw_metrics)
    fig, axes = plt.subplots(1, len(panels), figsize=figsize or (4.5 * len(panels), 3.4),
                             layout="constrained")
    for draw, ax in zip(panels, axes, strict=True):
        draw(ax, h)
    if title:
        fig.suptitle(title)
    return fig


class LiveLossPlot:
    """A loss figure that redraws in place in a notebook while ``fit`` trains.

    ``fit`` makes one when it runs in a notebook and is not quiet, and calls ``update`` at the
    end of every epoch (and now and then within long epochs). The figure is drawn off-screen
    (no pyplot, so the notebook never shows a stale copy of it) and sent to the cell's output as
    a PNG that replaces the previous one.
    """

    def __init__(self, title: str = "Training (live)", figsize: tuple[float, float] = (6, 3.2)):
        from IPython.display import display

        self.fig = Figure(figsize=figsize, layout="constrained")
        self.ax = self.fig.add_subplot()
        self.title = title
        self._handle = display(display_id=True)

    def update(self, history: Any) -> None:
        """Redraw from ``history`` and replace the figure shown in the cell's output."""
        from IPython.display import Image

        self.ax.clear()
        _draw_loss(self.ax, _as_dict(history))
        self.ax.set_title(self.title)
        png = io.BytesIO()
        self.fig.savefig(png, format="png", dpi=90)
        self._handle.update(Image(png.getvalue()))

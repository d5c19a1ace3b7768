"""What a run shows while it trains: printed lines, a progress bar, a live loss plot.

All of it stays quiet in tests and smoke mode (``quiet=True``), and under torchrun only the
first process speaks.
"""

from __future__ import annotations

import sys
from time import perf_counter
from typing import Any

from tqdm.auto import tqdm

# A redraw of the live plot takes about 0.1 s (a PNG of every step's loss): at most one every
# 5 s keeps it near 2% of a run's time.
REDRAW_EVERY_S = 5.0


def in_notebook() -> bool:
    if "IPython" not in sys.modules:  # a notebook's kernel imported it long before this
        return False
    from rnnlib.plots import in_notebook as plots_in_notebook

    return plots_in_notebook()


def live_plot() -> Any:
    from rnnlib.plots import LiveLossPlot  # matplotlib is imported only to draw

    return LiveLossPlot()


class Progress:
    """One printed line per event, a ``tqdm`` bar per step, and a live plot redrawn at most
    every ``REDRAW_EVERY_S`` seconds (drawing is slow) and at the end of every epoch."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar: Any = None
        self.live: Any = None
        self.drawn = 0.0

    def say(self, line: str) -> None:
        if not self.quiet:
            tqdm.write(line)

    def start(self, total: int | None, done: int) -> None:
        self.bar = tqdm(total=total, initial=done, disable=self.quiet, unit="step",
                        dynamic_ncols=True)
        if not self.quiet and in_notebook():
            self.live = live_plot()

    def step(self) -> None:
        self.bar.update()

    def loss(self, last: float | None, history: Any) -> None:
        """After a read-back: the last loss on the bar, and the plot if it is due."""
        if last is None:
            return
        self.bar.set_postfix(loss=f"{last:.4g}")
        if self.live and perf_counter() - self.drawn >= REDRAW_EVERY_S:
            self.live.update(history)
            self.drawn = perf_counter()

    def epoch(self, history: Any, n_epochs: int) -> None:
        self.say(history.epoch_line(n_epochs))
        if self.live:
            self.live.update(history)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

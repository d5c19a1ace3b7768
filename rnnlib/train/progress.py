"""What a run shows while it trains: printed lines, a progress bar, a live loss plot.

All of it stays quiet in tests and smoke mode (``quiet=True``), and under torchrun only the
first process speaks.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from tqdm.auto import tqdm


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
    every 2 seconds (drawing is slow) and at the end of every epoch."""

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
        if self.live and time.perf_counter() - self.drawn > 2:
            self.live.update(history)
            self.drawn = time.perf_counter()

    def epoch(self, history: Any, n_epochs: int) -> None:
        self.say(history.epoch_line(n_epochs))
        if self.live:
            self.live.update(history)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

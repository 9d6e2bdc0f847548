"""The search for the deepest model an engine can train at a fixed width:
double the layer count from a start while probes fit, then bisect between
the deepest fit and the shallowest failure. A start that fails is bisected
down towards zero the same way. The caller runs each probe and reports
whether it fit; the search itself is pure so it can be tested on thresholds.
"""


class DepthSearch:
    """Usage: `while (layers := search.next_probe()) is not None: search.record(layers, run(layers))`."""

    def __init__(self, start, max_layers, resolution=1):
        if start < 1 or max_layers < start or resolution < 1:
            raise ValueError(f"depth search needs 1 <= start ({start}) <= max_layers ({max_layers}), "
                             f"resolution ({resolution}) >= 1")
        self.start, self.max_layers, self.resolution = start, max_layers, resolution
        self.fits = 0          # deepest count known to fit (0: none yet)
        self.fails = None      # shallowest count known not to fit
        self.probes = []       # (layers, fit) in the order run

    def next_probe(self):
        """Layer count to try next, or None when the search is over."""
        if self.fails is None:
            if self.fits == 0:
                return self.start
            if self.fits >= self.max_layers:
                return None
            return min(self.fits * 2, self.max_layers)
        if self.fails - self.fits <= self.resolution:
            return None
        return (self.fits + self.fails) // 2

    def record(self, layers, fit):
        self.probes.append((layers, bool(fit)))
        if fit:
            self.fits = max(self.fits, layers)
        else:
            self.fails = layers if self.fails is None else min(self.fails, layers)
        if self.fails is not None and self.fits >= self.fails:
            raise ValueError(f"inconsistent probes: {self.fits} layers fit but {self.fails} did not "
                             "(a flaky run? rerun the search)")

    @property
    def capped(self):
        """True when the deepest probe allowed fit, so the real limit may lie beyond max_layers."""
        return self.fails is None and self.fits >= self.max_layers

    def describe(self):
        if self.fits == 0:
            return f"none fits (even {self.fails} layers failed)"
        if self.capped:
            return f"{self.fits} layers fit (the search's cap; more may fit)"
        return f"{self.fits} layers fit, {self.fails} do not"

"""Counting conventions: which weight arrays count as parameters, and which operations as MACs.

Published parameter counts differ mostly by what they count (biases, batch-norm γ/β, running
statistics), so a convention is data: the set of weight kinds it counts, and whether batch norms are
folded into the convolution before them. The operation count's convention (the paper's MACs, or what a
PyTorch counting tool adds to them) rides along in the same object, from
:mod:`costmodel.macs_conventions`: every count, closed form and table takes both at once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from costmodel.errors import UsageError, did_you_mean
from costmodel.macs_conventions import PAPER, MacsConvention, get_convention
from costmodel.ops import BIAS, NORM_AFFINE, NORM_STATS, WEIGHT

MACS_CONVENTION = (
    "MACs = multiply-accumulates of convolutions, fully-connected layers and attention's matrix products "
    "(the MobileNet papers' Mult-Adds); bias adds, batch norm, activations, pooling and adds are counted "
    "apart as other ops; FLOPs = 2 x MACs"
)


def macs_description(convention: MacsConvention) -> str:
    """What a report says its MACs are."""
    if not convention.rules:
        return MACS_CONVENTION
    return (
        f"MACs as {convention.tool} counts them ('{convention.name}' convention): the paper's "
        f"multiply-accumulates plus what it adds ({convention.description}); FLOPs = 2 x MACs"
    )


@dataclass(frozen=True)
class Counting:
    name: str
    kinds: frozenset[str]
    fold_norms: bool
    description: str
    macs: MacsConvention = PAPER

    @property
    def label(self) -> str:
        """How outputs name it: ``torchvision``, or ``torchvision, MACs as thop counts them``."""
        return self.name + (f", MACs as {self.macs.name} counts them" if self.macs.rules else "")

    def with_macs(self, convention: MacsConvention | str) -> Counting:
        """This parameter preset with the operation count of ``convention`` (a name or one)."""
        return replace(self, macs=get_convention(convention))


PRESETS: dict[str, Counting] = {
    c.name: c
    for c in (
        Counting(
            "torchvision",
            frozenset({WEIGHT, BIAS, NORM_AFFINE}),
            False,
            "weights + biases + batch-norm gamma/beta (torchvision num_params, Keras trainable)",
        ),
        Counting(
            "keras",
            frozenset({WEIGHT, BIAS, NORM_AFFINE, NORM_STATS}),
            False,
            "weights + biases + batch-norm gamma/beta + running mean/variance (Keras total)",
        ),
        Counting("paper", frozenset({WEIGHT, BIAS}), False, "weights + biases, batch norm not counted"),
        Counting("weights", frozenset({WEIGHT}), False, "weights only (MobileNet paper Table 2)"),
        Counting(
            "folded",
            frozenset({WEIGHT, BIAS}),
            True,
            "as deployed: batch norm folded into the preceding convolution, which gains a bias",
        ),
    )
}
DEFAULT = "torchvision"


def get_counting(name: Counting | str) -> Counting:
    """The preset of that name (a Counting is returned as it is): the one place a name is looked up."""
    if isinstance(name, Counting):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise UsageError(
            f"unknown counting preset '{name}'{did_you_mean(name, PRESETS)} (presets: {', '.join(PRESETS)})"
        ) from None

"""ddspfx: differentiable DSP research framework (synths, effects, encoders, heads, losses, tasks)."""

__version__ = "0.1.0"

"""Differentiable audio effects: `effect(audio, controls)` → audio `(batch, samples)`."""

"""Block-based streaming processors: `StreamingRemapper` (drum audio → TR-808 snare hits)."""

from ddspfx.realtime.remap import Hit, StreamingRemapper, trigger_positions

__all__ = ["Hit", "StreamingRemapper", "trigger_positions"]

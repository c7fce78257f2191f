"""Data: synthetic generators, audio-folder datasets and preset readers."""

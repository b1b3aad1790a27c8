"""Small helpers every level may use: atomic checkpoints, dataclass-driven command-line flags, on/off switches."""

"""Gesture and activity recognition: a many-to-one classifier of multichannel real-valued series."""

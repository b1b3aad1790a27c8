"""See inside recurrent networks: long-term dependency tasks, gradient flow through time,
and recordings of every gate and state of a character model rendered as PNG and HTML.

Level: beside ``rnnkit.lm``; imports from cells, layers, models and lm, never from tasks.
"""

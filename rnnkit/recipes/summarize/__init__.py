"""Summarise manual pages: a pointer-generator with coverage (See et al., 2017) writes the NAME line from
DESCRIPTION."""

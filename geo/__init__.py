"""Spatial functions: grid index and point→grid assignment, coordinate transforms, map layers."""

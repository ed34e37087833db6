"""Plots and the report assembled from a run folder."""

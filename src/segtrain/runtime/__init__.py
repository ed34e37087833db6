"""Run folder, console and environment."""

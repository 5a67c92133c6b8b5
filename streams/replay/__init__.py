"""Replaying recorded histories (files, datasets) as segstream events."""

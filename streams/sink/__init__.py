"""Where segment membership leaves segstream: Redis for front ends."""

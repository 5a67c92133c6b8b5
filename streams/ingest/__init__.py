"""Ingest: the public events topic, rebatched into envelopes for the Faust agent."""

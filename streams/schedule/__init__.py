"""Re-evaluating profiles without new events: when time passes and when rules change."""

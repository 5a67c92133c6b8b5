"""segstream stream processing: Faust app, agents, settings, CLI, event schemas, profiles."""

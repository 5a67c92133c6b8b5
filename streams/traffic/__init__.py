"""Demo traffic: personas, a deterministic session generator, and a paced Kafka producer."""

from streams.traffic.generator import SimEvent, generate, live, make_shoppers, session_events
from streams.traffic.personas import PERSONAS, Persona
from streams.traffic.producer import (
    SimulationError,
    SimulationReport,
    read_truth,
    run_simulation,
    write_truth,
)

__all__ = [
    "PERSONAS",
    "Persona",
    "SimEvent",
    "SimulationError",
    "SimulationReport",
    "generate",
    "live",
    "make_shoppers",
    "read_truth",
    "run_simulation",
    "session_events",
    "write_truth",
]

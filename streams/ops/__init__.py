"""Operations: Prometheus metrics, consumer lag, health endpoints, status and structured logs."""

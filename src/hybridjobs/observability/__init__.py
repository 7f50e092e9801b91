"""What an operator sees of a running service: Prometheus metrics and the service log
(access log lines, job lifecycle lines, text or JSON)."""

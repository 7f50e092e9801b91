"""Runners start, watch and stop the instance processes of a job (contract.py: what they see)."""

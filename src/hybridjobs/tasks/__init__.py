"""Quantum tasks: the domain of CreateQuantumTask, GetQuantumTask, CancelQuantumTask and
SearchQuantumTasks."""

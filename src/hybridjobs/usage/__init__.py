"""Usage accounting: usage records, prices, spending limits on QPU tasks and job budgets."""

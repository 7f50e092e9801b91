"""The scheduler: claims queued jobs, admits them by capacity, runs and watches them."""

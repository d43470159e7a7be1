"""Static universe data and the facts derived from it."""

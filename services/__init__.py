"""The application layer: what a person may do to the system, and doing it."""

"""Thin Temporal activities: parse input, call a layer or connector, record the outcome, map errors."""

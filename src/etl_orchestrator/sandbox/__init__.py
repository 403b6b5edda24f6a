"""A DV360-compatible DSP sandbox: synthetic reports, insertion orders and scripted faults."""

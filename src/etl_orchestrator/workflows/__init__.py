"""Temporal workflows, one per module: ETLWorkflow, DataIngestionWorkflow, BackfillWorkflow, OnboardingWorkflow."""

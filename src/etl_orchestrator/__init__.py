"""ETL Orchestrator: durable Bronze → Silver → Gold pipelines for DSP reports, run on Temporal."""

__version__ = "0.1.0"

"""The command-line client of the REST API: ``etl-orchestrator trigger|executions|logs|quality|watch|
pipelines|backfill|onboard|cancel|retry``. Rich tables for people, ``--json`` for scripts."""

"""The REST adapter: FastAPI routes under /api/v1/etl, problem+json errors, bearer API keys."""

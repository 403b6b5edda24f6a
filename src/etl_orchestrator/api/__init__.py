"""Adapters over the service layer: REST (FastAPI) and gRPC."""

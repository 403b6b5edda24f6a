"""The gRPC adapter on :9004: the standard health service, reflection, and the ETL service."""

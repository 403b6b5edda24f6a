"""The operations REST and gRPC share. Adapters call these; these call ``db`` and Temporal (by name)."""

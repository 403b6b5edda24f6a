"""Data quality: declarative per-pipeline rules (``rules``), their evaluation over Polars frames
(``engine``) and the issues a layer reports (``report``)."""

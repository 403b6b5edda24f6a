"""The medallion layers as plain synchronous functions (no Temporal, no HTTP), one module each:

- ``bronze.land_to_bronze``: a landing file → ``bronze/<format>_report`` (strings + lineage);
- ``silver.bronze_to_silver`` / ``replay_quarantine`` / ``list_quarantine``: Bronze → canonical, validated,
  deduplicated Silver, and the quarantine;
- ``gold.load_campaign_daily`` / ``load_budgets`` / ``recompute_pacing``: Silver → PostgreSQL ``gold``.

Helpers: ``readers`` (file formats), ``mappings`` and ``parsing`` (source → canonical), ``pacing``
(pure formulas), ``pgcopy`` (binary COPY encoding), ``pg`` (the psycopg boundary).
"""

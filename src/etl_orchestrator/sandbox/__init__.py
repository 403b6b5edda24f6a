"""A DV360-compatible DSP sandbox: synthetic reports, insertion orders and scripted faults.

Run it with ``python -m etl_orchestrator.sandbox --host H --port P [--token T] [--seed N]
[--rows-per-day N] [--report-delay-s S]``, ``etl_orchestrator.sandbox.server.serve(settings)``
(blocking; SIGTERM/SIGINT stop it) or mount ``etl_orchestrator.sandbox.app.create_app(settings)``.
The package root imports nothing heavy, because the settings tree imports ``sandbox.settings``.

APIs (real field names; every one needs ``Authorization: Bearer <token>``, TTD's also take ``TTD-Auth``):

- Bid Manager v2: ``POST /v2/queries``, ``GET|DELETE /v2/queries/{id}``, ``GET /v2/queries``,
  ``POST /v2/queries/{id}:run?synchronous=false``, ``GET /v2/queries/{id}/reports/{reportId}``,
  ``GET /v2/queries/{id}/reports?pageSize&pageToken``. Reports go ``QUEUED → RUNNING → DONE | FAILED``
  over the report delay; ``googleCloudStoragePath`` is a pre-signed URL on the sandbox
  (``/storage/…?Expires&Signature``), fetched without the token, with ``Content-Length`` and ``Range``.
- DV360 v4: ``GET /v4/advertisers?partnerId``, ``GET /v4/advertisers/{id}`` (``generalConfig.currencyCode``),
  ``GET /v4/advertisers/{id}/insertionOrders?pageSize&pageToken`` (budgets consistent with the spend).
- The Trade Desk MyReports under ``/ttd/v3/myreports/…`` (see ``routes/ttd.py``).
- Admin, no token: ``GET /healthz``, ``/_sandbox/info|faults|stats|tokens`` (see ``routes/admin.py``).

Data (``hierarchy.py``, ``generator.py``, ``dv360_report.py``, ``ttd_report.py``): a deterministic
partner of advertisers → campaigns → insertion orders → line items; the same (advertiser, date,
seed) always gives the same rows, except that dates in the last 7 days of the sandbox's today drift
on each pull (``restatement_drift``). Generated vectorised with Polars, in chunks, into part files.

Fault scoping — several tests share one sandbox, so faults belong to a *scope*, which is a bearer
token. The sandbox accepts its token ``T`` and any ``T.<suffix>`` (plus tokens registered with
``POST /_sandbox/tokens`` or ``extra_tokens``). A test picks a fresh token such as
``f"{T}.{uuid4()}"`` and scripts it::

    PUT /_sandbox/faults
    {"token": "T.3f2a…",
     "rules": [{"endpoint": "run_query", "status": 429, "retry_after_s": 2, "times": 1},
               {"endpoint": "download", "truncate_fraction": 0.5, "times": 1},
               {"endpoint": "get_report", "status": 503, "rate": 0.2},
               {"endpoint": "insertion_orders", "advertiser_id": "1234567", "delay_s": 5}],
     "bad_rows": {"duplicates": {"count": 3}, "negative": {"rate": 0.01}},
     "report_delay_s": 1.5}

Rules match by endpoint (``faults.ENDPOINTS`` or ``*``) and optionally advertiser; the first match
fires. ``times`` counts down exactly; ``rate`` is a seeded fraction, deterministic per scope; a
rule with neither fires always. Effects: ``status`` (Google error body; 429 with ``Retry-After``
only when ``retry_after_s`` is set), ``delay_s`` (slow response), ``truncate_fraction`` (downloads:
full ``Content-Length`` declared, connection closed early), ``malformed_json``, ``fail_report``.
Downloads carry no token; they fall in the scope of the token that ran the report.
``GET /_sandbox/stats?token=…`` gives that scope's request and fault counts per endpoint;
``DELETE /_sandbox/faults?token=…`` forgets it. One request can also be scripted with the header
``X-Sandbox-Fault: 503`` / ``429; retry-after=2`` / ``delay=3`` / ``truncate=0.5`` / ``malformed``.
Rules without a token (settings ``faults``, ``--faults``) are global: they hit every scope.
"""

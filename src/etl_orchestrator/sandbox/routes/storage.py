"""Pre-signed report downloads, like Cloud Storage serves them: no bearer token, Range requests.

The URL carries ``Expires`` and an HMAC ``Signature``; a tampered URL is 403, an expired one 400.
Responses declare ``Content-Length`` and honour one ``Range`` (``bytes=a-b``, ``bytes=a-``,
``bytes=-n``) with 206 and ``Content-Range``, so a client can resume. Faults are scoped to the token
that ran the report. A truncation fault declares the full length but closes the connection early.
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from etl_orchestrator.sandbox.api_errors import ApiError
from etl_orchestrator.sandbox.generator import ReportFile
from etl_orchestrator.sandbox.reports import Report, ReportState
from etl_orchestrator.sandbox.state import StateDep, inject

router = APIRouter(tags=["storage"])

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class DeliberateTruncationError(Exception):
    """Raised mid-body to make the server drop the connection (a scripted fault, not a bug)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range a ``Range`` header asks for; None for the whole file.

    Several ranges or a malformed header are ignored (the whole file is served), as RFC 9110 allows.
    """
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None or match.group(0) == "bytes=-":
        return None
    first, last = match.groups()
    if first == "":
        suffix = int(last)
        if suffix == 0:
            raise ApiError(416, "The requested range cannot be satisfied.")
        return max(0, size - suffix), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise ApiError(416, "The requested range cannot be satisfied.")
    return start, end


async def _read(
    report: Report, written: ReportFile, start: int, stop: int, chunk_bytes: int, truncate_after: int | None
) -> AsyncIterator[bytes]:
    """Bytes ``start`` … ``stop - 1`` of the concatenated parts."""
    report.active_downloads += 1
    try:
        sent = 0
        offset = 0
        for part, size in zip(written.parts, written.part_sizes, strict=True):
            if offset + size <= start or offset >= stop:
                offset += size
                continue
            with part.open("rb") as handle:
                handle.seek(max(0, start - offset))
                remaining = min(stop, offset + size) - max(start, offset)
                while remaining > 0:
                    data = handle.read(min(chunk_bytes, remaining))
                    if not data:
                        raise RuntimeError(f"{part} is shorter than recorded")
                    remaining -= len(data)
                    if truncate_after is not None and sent + len(data) >= truncate_after:
                        yield data[: truncate_after - sent]
                        raise DeliberateTruncationError(
                            f"report {report.report_id} cut after {truncate_after} bytes"
                        )
                    sent += len(data)
                    yield data
            offset += size
    finally:
        report.active_downloads -= 1


@router.get("/storage/{bucket}/{report_id}/{filename}")
async def download(
    bucket: str,
    report_id: str,
    filename: str,
    request: Request,
    state: StateDep,
    expires: Annotated[int, Query(alias="Expires")] = 0,
    signature: Annotated[str, Query(alias="Signature")] = "",
) -> StreamingResponse:
    expected = state.reports.signature(report_id, expires)
    if not hmac.compare_digest(expected, signature):
        raise ApiError(403, "The request signature we calculated does not match the signature you provided.")
    if expires < time.time():
        raise ApiError(400, "The provided token has expired.")
    report = state.reports.reports.get(report_id)
    if report is None or await state.reports.state(report) is not ReportState.DONE:
        raise ApiError(404, "The specified key does not exist.")
    decision = await inject(
        state, request, token=report.token, endpoint="download", advertiser_ids=report.content.advertiser_ids
    )
    written = await state.reports.file(report)
    byte_range = parse_range(request.headers.get("Range"), written.size)
    start, end = byte_range or (0, written.size - 1)
    length = end - start + 1 if written.size else 0
    headers = {
        "Content-Length": str(length),
        "Accept-Ranges": "bytes",
        "ETag": f'"{report.report_id}-{written.size}"',
        "Content-Disposition": f'attachment; filename="{filename}"',
    }
    if byte_range is not None:
        headers["Content-Range"] = f"bytes {start}-{end}/{written.size}"
    truncate_after = None
    if decision is not None and decision.truncate_fraction is not None:
        truncate_after = int(length * decision.truncate_fraction)
    body = _read(report, written, start, start + length, state.settings.download_chunk_bytes, truncate_after)
    return StreamingResponse(
        body, status_code=206 if byte_range is not None else 200, headers=headers, media_type="text/csv"
    )

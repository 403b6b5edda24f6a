"""Page tokens and page slicing shared by every list endpoint of the sandbox."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query

from etl_orchestrator.sandbox.api_errors import ApiError

Item = TypeVar("Item")
DEFAULT_PAGE_SIZE = 100


@dataclass(frozen=True)
class PageRequest:
    """``pageSize`` and ``pageToken`` of a list request.

    Tokens are opaque to clients (base64 of an offset), as Google's are; a token the sandbox did
    not issue is 400 INVALID_ARGUMENT, and so is a page size above the API's maximum.
    """

    page_size: int | None = None
    page_token: str | None = None

    def page(self, items: Sequence[Item], *, max_size: int) -> tuple[list[Item], str | None]:
        """One page of ``items`` and the token of the next page (None on the last page)."""
        size = self.page_size or DEFAULT_PAGE_SIZE
        if size < 1 or size > max_size:
            raise ApiError(400, f"Invalid value at 'page_size': must be between 1 and {max_size}")
        offset = _decode(self.page_token) if self.page_token else 0
        next_offset = offset + size
        return list(items[offset:next_offset]), (_encode(next_offset) if next_offset < len(items) else None)


def page_request(
    page_size: Annotated[int | None, Query(alias="pageSize")] = None,
    page_token: Annotated[str | None, Query(alias="pageToken")] = None,
) -> PageRequest:
    return PageRequest(page_size=page_size, page_token=page_token)


PageDep = Annotated[PageRequest, Depends(page_request)]


def listing(key: str, items: list[Any], next_token: str | None) -> dict[str, Any]:
    """A list response: ``{key: items}`` plus ``nextPageToken`` when there is a next page."""
    return {key: items, **({"nextPageToken": next_token} if next_token else {})}


def _encode(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _decode(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        label, _, number = text.partition(":")
        if label != "offset":
            raise ValueError(text)
        return int(number)
    except ValueError as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise ApiError(400, "Invalid value at 'page_token': not a token this API issued") from exc

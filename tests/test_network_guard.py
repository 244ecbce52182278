from __future__ import annotations

import httpx
import pytest


async def test_a_request_past_loopback_fails_the_test() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(pytest.fail.Exception, match="never leave the machine"):
            await client.get("https://api.openai.com/v1/models")

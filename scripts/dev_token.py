"""Sign a bearer token for chat's `AUTH_MODE=jwt` with the shared HS256 key (development and
tests; in production an identity provider issues the tokens).

    uv run python scripts/dev_token.py alice --key "$AUTH_JWT_KEY"
    make k8s-token USER_ID=alice NAMESPACE=agents-dev     # the key from the chat-auth Secret
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

import jwt


def sign(user_id: str, *, key: str, audience: str | None, issuer: str | None, ttl: int) -> str:
    now = int(time.time())
    claims: dict[str, object] = {"sub": user_id, "iat": now, "exp": now + ttl}
    if audience:
        claims["aud"] = audience
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, key, algorithm="HS256")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("user_id")
    parser.add_argument("--key", default=os.environ.get("AUTH_JWT_KEY"), help="the HS256 key")
    parser.add_argument("--audience", default=os.environ.get("AUTH_JWT_AUDIENCE", "agent-chat"))
    parser.add_argument("--issuer", default=os.environ.get("AUTH_JWT_ISSUER"))
    parser.add_argument("--ttl", type=int, default=3600, help="seconds (default 3600)")
    args = parser.parse_args(argv)
    if not args.key:
        parser.error("give --key or set AUTH_JWT_KEY")
    print(sign(args.user_id, key=args.key, audience=args.audience, issuer=args.issuer,
               ttl=args.ttl))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

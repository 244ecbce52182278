"""Values both services must agree on: id formats, and the answers daprd reads from a
pub/sub delivery (dapr-notes §3.5: SUCCESS acks, DROP drops to the dead-letter topic, RETRY
redelivers; matching is case-sensitive)."""

from __future__ import annotations

from typing import Final

USER_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$"
# Session, turn and other reference ids.
REF_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"

SUCCESS: Final[dict[str, str]] = {"status": "SUCCESS"}
DROP: Final[dict[str, str]] = {"status": "DROP"}

"""The main indications of a verification (ETSI EN 319 102-1), as the reports write them."""

from __future__ import annotations

from enum import StrEnum


class Indication(StrEnum):
    """ETSI EN 319 102-1 main indications, as the reports write them. Sub-indications are
    pyHanko's AdESFailure / AdESIndeterminate names (HASH_FAILURE, NO_POE, ...)."""

    TOTAL_PASSED = "TOTAL-PASSED"
    TOTAL_FAILED = "TOTAL-FAILED"
    INDETERMINATE = "INDETERMINATE"

"""The signing fixtures serve the verification tests too."""

from tests.signing.conftest import signing  # noqa: F401

"""The signing fixtures serve the verification tests too."""

from tests.signing.conftest import signing  # noqa: F401
from tests.signing.test_pdf import images_uploaded  # noqa: F401

# The real local model server's fixtures (coach/tests/conftest.py) for the integration
# tests, and the fake embedding client for the rest.
from coach.tests.conftest import (  # noqa: F401 - fixtures
    live_local_llm_server,
    local_llm_client,
    local_llm_server,
)
from knowledge.testing import fake_embeddings  # noqa: F401 - a fixture

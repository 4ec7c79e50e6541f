from knowledge.testing import fake_embeddings  # noqa: F401 - a fixture

"""Pin the public surface: removing or renaming an export must be a conscious change."""

import modelyard

EXPECTED = {
    "ChatRequest",
    "ChatResponse",
    "Completion",
    "Config",
    "ConfigError",
    "Decision",
    "EmbeddingRequest",
    "Engine",
    "Family",
    "Message",
    "ModelSpec",
    "ModelyardError",
    "PrivacyTier",
    "ProviderError",
    "RoutingHints",
    "StreamSession",
    "Target",
    "Usage",
    "__version__",
    "load_config",
    "load_default_config",
}


def test_public_api_is_pinned() -> None:
    assert set(modelyard.__all__) == EXPECTED
    for name in EXPECTED:
        assert hasattr(modelyard, name), name


def test_families_are_exactly_the_eight() -> None:
    assert {f.value for f in modelyard.Family} == {"slm", "llm", "moe", "mlm", "vlm", "lam", "sam", "lcm"}

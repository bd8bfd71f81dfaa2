"""Core data types: requests, responses, decisions, families, deadlines."""

from modelyard.types.deadline import Deadline
from modelyard.types.decision import Candidate, Decision, Target, TaskProfile
from modelyard.types.enums import Family, Modality, PrivacyTier
from modelyard.types.request import (
    ChatRequest,
    ContentPart,
    EmbeddingRequest,
    ImagePart,
    ImageURL,
    Message,
    RoutingHints,
    TextPart,
)
from modelyard.types.response import (
    ChatResponse,
    Choice,
    EmbeddingResponse,
    ImageOutput,
    StreamChunk,
    Usage,
    new_id,
)
from modelyard.types.trace import Attempt, RequestTrace, TraceEvent

__all__ = [
    "Attempt",
    "Candidate",
    "ChatRequest",
    "ChatResponse",
    "Choice",
    "ContentPart",
    "Deadline",
    "Decision",
    "EmbeddingRequest",
    "EmbeddingResponse",
    "Family",
    "ImageOutput",
    "ImagePart",
    "ImageURL",
    "Message",
    "Modality",
    "PrivacyTier",
    "RequestTrace",
    "RoutingHints",
    "StreamChunk",
    "Target",
    "TaskProfile",
    "TextPart",
    "TraceEvent",
    "Usage",
    "new_id",
]

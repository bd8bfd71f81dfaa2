"""Core data types: requests, responses, decisions, families, deadlines."""

from modelyard.types.deadline import Deadline
from modelyard.types.decision import Candidate, Decision, Target, TaskProfile
from modelyard.types.enums import Family, Modality, PrivacyTier
from modelyard.types.media import (
    Box,
    GenerationTask,
    ImageTask,
    PointPrompt,
    Segment,
    SegmentationTask,
)
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
    "Box",
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
    "GenerationTask",
    "ImageOutput",
    "ImagePart",
    "ImageTask",
    "ImageURL",
    "Message",
    "Modality",
    "PointPrompt",
    "PrivacyTier",
    "RequestTrace",
    "RoutingHints",
    "Segment",
    "SegmentationTask",
    "StreamChunk",
    "Target",
    "TaskProfile",
    "TextPart",
    "TraceEvent",
    "Usage",
    "new_id",
]

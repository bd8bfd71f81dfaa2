"""Reading a chat turn as a classification request (or not): the reader the capability check and the encoder share."""

from __future__ import annotations

import pytest

from modelyard.types import ChatRequest, Message
from modelyard.types.classification import ClassificationTask, NotClassification, read_classification

CLASSIFICATIONS = [
    # (turn, task, text, labels or None for the task's own)
    ("Is this review positive or negative: I loved it", "sentiment", "I loved it", ("positive", "negative")),
    (
        "Classify this as billing, technical or sales: my card was charged twice",
        "classify",
        "my card was charged twice",
        ("billing", "technical", "sales"),
    ),
    ("What is the sentiment of: the food was cold", "sentiment", "the food was cold", None),
    ("What language is 'Guten Morgen'?", "language", "Guten Morgen", None),
    ("Is this English or Spanish: hola amigo", "language", "hola amigo", ("english", "spanish")),
    (
        "What's the intent of this message: 'I need to change my delivery address'?",
        "intent",
        "I need to change my delivery address",
        None,
    ),
    (
        "Is the following email spam or not spam? Win a free iPhone now!!!",
        "classify",
        "Win a free iPhone now!!!",
        ("spam", "not spam"),
    ),
    (
        'Is this email phishing? "Your account is locked"',
        "classify",
        "Your account is locked",
        ("phishing", "not phishing"),
    ),
    ("Is 'I loved it' positive or negative?", "sentiment", "I loved it", ("positive", "negative")),
    (
        'Is this headline clickbait or not: "You won\'t believe it"',
        "classify",
        "You won't believe it",
        ("clickbait", "not clickbait"),
    ),
    (
        'Clasifica este comentario como positivo, negativo o neutro: "El servicio fue lento"',
        "sentiment",
        "El servicio fue lento",
        ("positivo", "negativo", "neutro"),
    ),
    (
        "Détecte l'intention de ce message : « je veux annuler ma commande ».",
        "intent",
        "je veux annuler ma commande",
        None,
    ),
    (
        "Does this message belong to sales or support? I want a quote",
        "classify",
        "I want a quote",
        ("sales", "support"),
    ),
    (
        "Is this review positive, negative or neutral?\nThe delivery was fine.",
        "sentiment",
        "The delivery was fine.",
        ("positive", "negative", "neutral"),
    ),
    # task prefixes
    ("sentiment: the movie was too long", "sentiment", "the movie was too long", None),
    ("Sentiment analysis: great product", "sentiment", "great product", None),
    ("language: hola amigo", "language", "hola amigo", None),
    (
        "classify: my card was charged twice\nlabels: billing, tech",
        "classify",
        "my card was charged twice",
        ("billing", "tech"),
    ),
    (
        'classify: "my parcel arrived damaged" -> complaint / question / praise?',
        "classify",
        "my parcel arrived damaged",
        ("complaint", "question", "praise"),
    ),
]


@pytest.mark.parametrize(("turn", "task", "text", "labels"), CLASSIFICATIONS, ids=[c[0][:40] for c in CLASSIFICATIONS])
def test_classification_requests_are_read(turn: str, task: str, text: str, labels: tuple[str, ...] | None) -> None:
    read = read_classification(ChatRequest.from_text(turn))
    assert isinstance(read, ClassificationTask), read
    assert (read.task, read.text, read.labels) == (task, text, labels)


NOT_CLASSIFICATIONS = [
    # (turn, part of the reason)
    ("test", "no classification instruction"),
    ("asdfgh", "no classification instruction"),
    ("?", "no classification instruction"),
    ("👍", "no classification instruction"),
    ("你好", "no classification instruction"),
    ("What is the capital of France?", "no classification instruction"),
    ("Write a poem: about cats", "free chat"),
    ("Translate to French: hello", "free chat"),
    ("Explain why this is positive or negative: I loved it", "free chat"),
    ("Tag each of these articles with a topic: sports, politics, tech or health.", "free chat"),
    ("Label each tweet as happy, angry or neutral.", "no classification instruction with a text"),
    ("classify: my card was charged twice", "two candidate labels"),
    ("classify: a\nlabels: only-one", "at least two candidate labels"),
    ("Is it true or false: the sun is a star", "fact question"),
    ("Is this a good idea: quitting my job to travel?", "no classification instruction"),
    ("Is the earth flat or round?", "no classification instruction with a text"),
    ("def f(x): return x", "no classification instruction"),
    ("", "no text"),
]


@pytest.mark.parametrize(
    ("turn", "reason"), NOT_CLASSIFICATIONS, ids=[c[0][:40] or "empty" for c in NOT_CLASSIFICATIONS]
)
def test_everything_else_is_free_chat_with_a_reason(turn: str, reason: str) -> None:
    read = read_classification(ChatRequest(messages=[Message(role="user", content=turn)]))
    assert isinstance(read, NotClassification), read
    assert reason in read.reason


def test_labels_from_the_system_message_and_the_request_field() -> None:
    system = ChatRequest(
        messages=[Message(role="system", content="labels: weather, music"), Message(role="user", content="tag: rain")]
    )
    read = read_classification(system)
    assert isinstance(read, ClassificationTask) and read.labels == ("weather", "music")
    field = ChatRequest.from_text("classify: rain tonight", labels=["weather", "music"])
    read = read_classification(field)
    assert isinstance(read, ClassificationTask) and read.labels == ("weather", "music")


def test_a_model_specific_task_counts_only_for_that_model() -> None:
    request = ChatRequest.from_text("urgency: the server is down")
    assert isinstance(read_classification(request), NotClassification)
    assert isinstance(read_classification(request, ["urgency"]), ClassificationTask)

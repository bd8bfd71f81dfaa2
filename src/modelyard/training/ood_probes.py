"""Inputs a score head was never trained on, and the measurement that picks the OOD signal.

Probe kinds (`probes`): ``junk`` (keyboard mash, symbols, emoji; seeded), ``one_word``
(greetings and one-word turns), ``code`` (code with no prose), ``script`` (questions
in scripts MiniLM barely knows), ``long`` (thousands of words). Signals compared by
AUROC, in-distribution held-out prompts (label 0) against probes (label 1):

* ``nn``: 1 − cosine similarity to the nearest training vector (what
  `modelyard.routing.ood.NearestNeighbourOOD` thresholds);
* ``knn10``: 1 − mean similarity to the 10 nearest (a kNN density);
* ``maha``: Mahalanobis distance to a Gaussian fitted on the training vectors
  (a parametric density; ridge 1e-3).

Word counts (the OOD check's length tests) are applied on top of any signal; the AUROC
here is of the embedding signal alone, on probes that pass the length tests, so it
measures what the signal adds.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from modelyard.routing.ood import count_words

__all__ = ["PROBE_KINDS", "auroc", "passes_length", "probes", "signals"]

FloatArray = npt.NDArray[np.float64]
PROBE_KINDS = ("junk", "one_word", "code", "script", "long")

ONE_WORD = [
    "hi",
    "hello",
    "hey",
    "ok",
    "okay",
    "thanks",
    "thx",
    "yes",
    "no",
    "test",
    "help",
    "why",
    "hmm",
    "lol",
    "cool",
    "sure",
    "what",
    "bye",
    "continue",
    "more",
    "again",
    "stop",
    "k",
    "yo",
    "?",
    "!!",
    "👍",
    "...",
]
CODE = [
    "def f(x):\n    return [i * i for i in range(x) if i % 2]",
    "for (let i = 0; i < n; i++) { total += arr[i]; }",
    "SELECT id, name FROM users WHERE created_at > NOW() - INTERVAL '7 days' ORDER BY id;",
    '#include <stdio.h>\nint main(void) { printf("%d\\n", 42); return 0; }',
    "import numpy as np\nx = np.linspace(0, 1, 11)\nprint(x.mean())",
    "git rebase -i HEAD~3 && git push --force-with-lease",
    '{"name": "widget", "tags": ["a", "b"], "price": 9.99}',
    "^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+)@[a-z0-9-]+\\.[a-z]{2,}$",
    "class Stack:\n    def __init__(self):\n        self.items = []\n"
    "    def push(self, x):\n        self.items.append(x)",
    'fn main() { let v: Vec<i32> = (1..10).collect(); println!("{:?}", v); }',
    "kubectl get pods -n prod -o wide | grep -v Running",
    '<div class="card"><h2>{{ title }}</h2><p>{{ body }}</p></div>',
    "x = lambda a, b: (a ** 2 + b ** 2) ** 0.5\nprint(x(3, 4))",
    "public static int gcd(int a, int b) { return b == 0 ? a : gcd(b, a % b); }",
    "awk -F, '{s+=$3} END {print s/NR}' data.csv",
]
SCRIPT = [
    "法国的首都是哪里？请简要回答。",
    "日本で一番高い山は何ですか？理由も教えてください。",
    "한국의 수도는 어디입니까? 간단히 설명해 주세요.",
    "ما هي عاصمة فرنسا؟ أجب باختصار من فضلك.",
    "מהי בירת צרפת? ענה בקצרה בבקשה.",
    "Какая столица Франции? Ответьте кратко, пожалуйста.",
    "Ποια είναι η πρωτεύουσα της Γαλλίας; Απάντησε σύντομα.",
    "फ्रांस की राजधानी क्या है? कृपया संक्षेप में उत्तर दें।",
    "เมืองหลวงของฝรั่งเศสคืออะไร กรุณาตอบสั้นๆ",
    "பிரான்சின் தலைநகரம் எது? சுருக்கமாக பதில் சொல்லுங்கள்.",
    "რა არის საფრანგეთის დედაქალაქი? მოკლედ მიპასუხეთ.",
    "የፈረንሳይ ዋና ከተማ ማን ናት? በአጭሩ መልስ ስጥ።",
    "水はなぜ百度で沸騰するのですか？分子の動きで説明してください。",
    "光合作用是如何把光能转化为化学能的？请分步骤说明。",
    "Почему небо голубое? Объясните с точки зрения физики рассеяния.",
    "ব্রাজিলের রাজধানী কোথায়? সংক্ষেপে উত্তর দিন।",
]


def _junk(rng: np.random.Generator, n: int) -> list[str]:
    alphabet = list("qwertyuiopasdfghjklzxcvbnm")
    symbols = list("!@#$%^&*()_+-=[]{};:'\",.<>/?\\|`~")
    emoji = ["😀", "🔥", "👍", "🤖", "🎉", "💡", "🙃", "✨"]
    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0:  # keyboard mash words
            out.append(" ".join("".join(rng.choice(alphabet, rng.integers(3, 9))) for _ in range(rng.integers(3, 9))))
        elif kind == 1:  # symbols only
            out.append("".join(rng.choice(symbols, rng.integers(5, 30))))
        elif kind == 2:  # emoji
            out.append(" ".join(rng.choice(emoji, rng.integers(1, 6))))
        else:  # mash with digits
            out.append(
                " ".join(
                    f"{''.join(rng.choice(alphabet, 4))}{rng.integers(0, 9999)}" for _ in range(rng.integers(3, 7))
                )
            )
    return out


def _long(rng: np.random.Generator, n: int) -> list[str]:
    words = np.array(
        ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do", "eiusmod"]
    )
    out = []
    for i in range(n):
        size = int(rng.integers(4000, 12000))
        if i % 3 == 0:
            out.append(" ".join(rng.choice(words, size)))
        elif i % 3 == 1:
            out.append(
                "\n".join(f"2024-05-{d % 28 + 1:02d} INFO worker-{d % 7} processed batch {d}" for d in range(size // 8))
            )
        else:
            out.append(" ".join(str(int(v)) for v in rng.integers(0, 10**6, size)))
    return out


def probes(seed: int = 0) -> dict[str, list[str]]:
    """Probe texts by kind (fixed by ``seed``)."""
    rng = np.random.default_rng(seed)
    return {
        "junk": _junk(rng, 40),
        "one_word": list(ONE_WORD),
        "code": list(CODE),
        "script": list(SCRIPT),
        "long": _long(rng, 9),
    }


def signals(reference: FloatArray, queries: FloatArray) -> dict[str, FloatArray]:
    """Higher = more out of distribution, per signal (see module docstring); shapes ``(n_queries,)``."""
    sims = queries @ reference.T
    nn = 1.0 - sims.max(axis=1)
    k = min(10, reference.shape[0])
    knn = 1.0 - np.sort(sims, axis=1)[:, -k:].mean(axis=1)
    mu = reference.mean(axis=0)
    cov = np.cov(reference - mu, rowvar=False) + 1e-3 * np.eye(reference.shape[1])
    inv = np.linalg.inv(cov)
    diff = queries - mu
    maha = np.sqrt(np.einsum("ij,jk,ik->i", diff, inv, diff))
    return {"nn": nn, "knn10": knn, "maha": maha}


def auroc(negatives: FloatArray, positives: FloatArray) -> float:
    """P(a random positive scores above a random negative), ties counting one half."""
    neg, pos = np.asarray(negatives), np.asarray(positives)
    if neg.size == 0 or pos.size == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(greater + 0.5 * ties)


def passes_length(texts: list[str], min_words: int, max_words: int | None) -> npt.NDArray[np.bool_]:
    """Which texts the word-count tests alone would *not* flag."""
    words = np.array([count_words(t) for t in texts])
    ok = words >= min_words
    if max_words is not None:
        ok &= words <= max_words
    return np.asarray(ok)

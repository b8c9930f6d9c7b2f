"""A role's competency weights, derived from how its employees' competency ratings relate to performance.

HR sets each competency's weight in the role's flow. When the HR system also holds employees'
competency ratings and performance ratings, `derive_weights` proposes weights backed by that data,
and HR decide whether to accept them (`CompetencyModel.report`, `apply_weights_to_flow_text`).

The rule, chosen to be explainable to HR in one paragraph:

1. **Relation.** For each competency, the Spearman rank correlation ``r`` between its rating and the
   performance rating, over the employees who have both (``n``). Ratings are ordinal 1..5 with many
   ties, so ranks suit them better than raw values. Optionally (``promotion_share > 0``) the
   point-biserial correlation with having been promoted is blended in; by default it is reported only,
   because promotions also depend on openings and tenure.
2. **Floor.** A relation counts only if it is positive and significant (two-sided ``p < alpha``);
   otherwise it counts as 0. Too few employees (``n < 3``) or ratings without variation count as 0.
3. **Data weights.** The counted relations, divided by their sum.
4. **Shrinkage.** ``w = (n * w_data + k * w_hr) / (n + k)`` per competency, with ``k =
   prior_strength`` (default 30: thirty employees' worth of confidence in HR's judgement), then all
   weights are rescaled to sum to 1 (needed only when ``n`` differs between competencies). With few
   employees the weights stay near HR's; with many they approach the data's, but never reach 0.
5. **No usable data** (no employees, or no competency with a counted relation): HR's weights,
   unchanged, with a note saying why.

Competency ratings of one person tend to move together (the halo effect), so correlations overlap;
the weights say which competencies go with performance, not what each adds on its own.
This module is pure: employee records in, a model and a report out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import yaml

from flows.schema import parse_flow
from knowledge.ehr import EmployeeRecord
from language import yaml_files

MIN_N = 3
"""Fewest employees with both ratings for which a correlation is computed."""
DECIMALS = 3
"""Decimals of weights written into a flow file."""


@dataclass(frozen=True)
class Correlation:
    """How one competency's rating relates to an outcome among the employees who have both.

    ``r``, ``p_value`` and the confidence interval are ``None`` when they cannot be computed; ``basis``
    says in words why the relation counts or not.
    """

    n: int
    r: float | None
    p_value: float | None
    ci_low: float | None
    ci_high: float | None
    counts: bool
    basis: str


@dataclass(frozen=True)
class CompetencyModel:
    """Derived weights of a role's competencies, with the evidence behind them.

    Attributes:
        weights: the derived weights (sum to 1), in the order of ``hr_weights``.
        data_weights: the weights the data alone suggest; empty when the data suggest nothing.
        correlations: relation of each competency's rating to performance.
        promotion: relation of each competency's rating to having been promoted.
        n: employees with both the competency's rating and a performance rating.
    """

    role: str | None
    weights: dict[str, float]
    hr_weights: dict[str, float]
    data_weights: dict[str, float]
    correlations: dict[str, Correlation]
    promotion: dict[str, Correlation]
    n: dict[str, int]
    employees: int
    prior_strength: float
    alpha: float
    promotion_share: float
    notes: list[str] = field(default_factory=list)

    def as_flow_weights(self) -> dict[str, float]:
        """The weights rounded to 3 decimals, each at least 0.001, summing to exactly 1 in thousandths
        (the rounding remainder goes to the largest weight), ready for the flow YAML."""
        return round_weights(self.weights)

    def report(self) -> str:
        """A plain-text report for HR: a table per competency, the shrinkage rule, and notes."""
        role = self.role or "(role not given)"
        lines = [
            f"Competency model for {role}: {self.employees} employees",
            "r perf = Spearman rank correlation of the competency rating with the performance rating,",
            f"with its {1 - self.alpha:.0%} confidence interval; it counts only if positive and significant "
            f"(p < {self.alpha:g}).",
            "data w = the counted correlations rescaled to sum to 1; HR w = the weights in the flow.",
        ]
        show_promotion = any(c.r is not None for c in self.promotion.values())
        if show_promotion:
            use = f"blended in at {self.promotion_share:.0%}" if self.promotion_share else "context only"
            lines.append(
                f"r promo = point-biserial correlation of the competency rating with promotion ({use})."
            )
        lines.append("")
        header = ["competency", "n", "r perf", f"{1 - self.alpha:.0%} CI", "p", "basis"]
        if show_promotion:
            header.append("r promo")
        header += ["data w", "HR w", "derived"]
        table = [header]
        flow = self.as_flow_weights()
        for competency, hr in self.hr_weights.items():
            c = self.correlations[competency]
            row = [
                competency,
                str(c.n),
                _signed(c.r),
                "-"
                if c.ci_low is None or c.ci_high is None
                else f"[{_signed(c.ci_low)}, {_signed(c.ci_high)}]",
                _p(c.p_value),
                c.basis,
            ]
            if show_promotion:
                row.append(_signed(self.promotion[competency].r))
            data = self.data_weights.get(competency)
            row += ["-" if data is None else f"{data:.3f}", f"{hr:.3f}", f"{flow[competency]:.3f}"]
            table.append(row)
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        for i, row in enumerate(table):
            cells = [
                cell.ljust(w) if j in {0, 5} else cell.rjust(w)
                for j, (cell, w) in enumerate(zip(row, widths, strict=True))
            ]
            lines.append("  ".join(cells).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines.append("")
        lines.append(self.shrinkage_explanation())
        if self.notes:
            lines.append("")
            lines.append("Notes:")
            lines.extend(f"- {note}" for note in self.notes)
        return "\n".join(lines)

    def shrinkage_explanation(self) -> str:
        k = self.prior_strength
        if not self.data_weights:
            return "Derived = HR's weights: the data give no usable relation to performance."
        counts = [n for n in self.n.values() if n > 0]
        typical = sorted(counts)[len(counts) // 2] if counts else 0
        share = typical / (typical + k) if typical + k > 0 else 0.0
        return (
            f"Derived = (n x data + {k:g} x HR) / (n + {k:g}) per competency, rescaled to sum to 1: "
            f"at n = {typical} the data count {share:.0%}, HR's weights {1 - share:.0%}."
        )


def derive_weights(
    employees: Sequence[EmployeeRecord],
    hr_weights: Mapping[str, float],
    *,
    prior_strength: float = 30.0,
    alpha: float = 0.05,
    promotion_share: float = 0.0,
) -> CompetencyModel:
    """Derive a role's competency weights from its employees (see the module docstring for the rule).

    Args:
        employees: one role's employee records.
        hr_weights: the weights in the role's flow (positive, summing to 1); they fix the competencies.
        prior_strength: ``k``, how many employees' worth of trust HR's weights carry.
        alpha: significance level below which a positive relation counts.
        promotion_share: share of the promotion relation in each competency's strength (0..1).

    Raises:
        ValueError: HR's weights are empty, negative or do not sum to 1, the records span several roles,
            or a parameter is out of range.
    """
    hr = _checked_weights(hr_weights)
    if prior_strength < 0:
        raise ValueError(f"prior_strength must be >= 0 (got {prior_strength})")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1) (got {alpha})")
    if not 0 <= promotion_share <= 1:
        raise ValueError(f"promotion_share must lie in 0..1 (got {promotion_share})")
    roles = sorted({e.role for e in employees})
    if len(roles) > 1:
        raise ValueError(f"derive weights one role at a time (records span {', '.join(roles)})")
    notes: list[str] = []
    extra = sorted({c for e in employees for c in e.ratings} - set(hr))
    if extra:
        notes.append(f"ratings ignored for competencies not in the flow: {', '.join(extra)}")

    correlations: dict[str, Correlation] = {}
    promotion: dict[str, Correlation] = {}
    n: dict[str, int] = {}
    strength: dict[str, float] = {}
    for competency in hr:
        rated = [e for e in employees if competency in e.ratings]
        ratings = [e.ratings[competency] for e in rated]
        correlations[competency] = _spearman(ratings, [e.performance for e in rated], alpha)
        promoted = [e for e in rated if e.promoted is not None]
        promotion[competency] = _point_biserial(
            [e.ratings[competency] for e in promoted], [bool(e.promoted) for e in promoted], alpha
        )
        n[competency] = len(rated)
        strength[competency] = (1 - promotion_share) * _strength(correlations[competency]) + (
            promotion_share * _strength(promotion[competency]) if promotion_share else 0.0
        )

    total = math.fsum(strength.values())
    data_weights: dict[str, float] = {}
    if not employees:
        notes.append("no employee records: HR's weights are kept unchanged")
        weights = dict(hr)
    elif total <= 0:
        notes.append(
            "no competency relates positively and significantly to performance: "
            "HR's weights are kept unchanged"
        )
        weights = dict(hr)
    else:
        data_weights = {c: s / total for c, s in strength.items()}
        k = prior_strength
        raw = {c: (n[c] * data_weights[c] + k * hr[c]) / (n[c] + k) if n[c] + k > 0 else hr[c] for c in hr}
        weights = _normalised(raw)
        thin = [c for c in hr if n[c] < k]
        if thin:
            notes.append(
                f"fewer than {k:g} employees rated on {', '.join(thin)}: "
                "those weights stay closer to HR's than to the data's"
            )
    borderline = [
        f"{c} (p = {_p(r.p_value)})"
        for c, r in correlations.items()
        if r.r is not None and r.r > 0 and r.p_value is not None and alpha / 4 <= r.p_value < 3 * alpha
    ]
    if borderline and data_weights:
        notes.append(
            f"near the significance threshold: {', '.join(borderline)}; another year's data could move "
            "these in or out, so compare with the next export before relying on them"
        )
    missing = [c for c in hr if n[c] == 0]
    if missing and employees:
        notes.append(f"no employee has a rating for {', '.join(missing)}: HR's weight is used as is")
    if employees and promotion_share == 0 and any(c.r is not None for c in promotion.values()):
        notes.append("the promotion relation is shown for context only (promotion_share = 0)")
    return CompetencyModel(
        role=roles[0] if roles else None,
        weights=weights,
        hr_weights=hr,
        data_weights=data_weights,
        correlations=correlations,
        promotion=promotion,
        n=n,
        employees=len(employees),
        prior_strength=prior_strength,
        alpha=alpha,
        promotion_share=promotion_share,
        notes=notes,
    )


def round_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Weights rounded to 3 decimals, each at least 0.001, summing to exactly 1000 thousandths."""
    if not weights:
        raise ValueError("no weights to round")
    scale = 10**DECIMALS
    units = {c: max(1, round(w * scale)) for c, w in _normalised(dict(weights)).items()}
    largest = max(units, key=lambda c: units[c])
    units[largest] += scale - sum(units.values())
    if units[largest] < 1:
        raise ValueError("too many competencies to give each at least 0.001")
    return {c: u / scale for c, u in units.items()}


def apply_weights_to_flow_text(text: str, weights: Mapping[str, float]) -> str:
    """The flow's YAML with each competency's ``weight:`` value replaced, everything else kept as is.

    ``weights`` must name exactly the flow's competencies and sum to 1 (use
    `CompetencyModel.as_flow_weights`). The result is validated with `flows.schema.parse_flow`.

    Raises:
        flows.schema.FlowError: the flow text (before or after) is not a valid flow.
        ValueError: the weights do not fit the flow.
    """
    flow = parse_flow(text).flow
    ids = [c.id for c in flow.competencies]
    missing = [c for c in ids if c not in weights]
    unexpected = [c for c in weights if c not in ids]
    if missing or unexpected:
        raise ValueError(
            f"weights must name exactly the flow's competencies (missing: {', '.join(missing) or 'none'}; "
            f"unexpected: {', '.join(unexpected) or 'none'})"
        )
    _checked_weights(weights)

    root = yaml_files.compose(text)
    assert isinstance(root, yaml.MappingNode)  # parse_flow accepted it as a mapping
    competencies = next(v for k, v in root.value if k.value == "competencies")
    edits: list[tuple[int, int, str]] = []
    for item in competencies.value:
        fields = {k.value: v for k, v in item.value}
        node = fields["weight"]
        start, end = node.start_mark.index, node.end_mark.index
        if not isinstance(node, yaml.ScalarNode) or text[start:end].strip("'\" ") != node.value:
            raise ValueError(f"line {node.start_mark.line + 1}: cannot locate the weight value to replace")
        edits.append((start, end, repr(float(weights[fields["id"].value]))))
    for start, end, value in sorted(edits, reverse=True):
        text = text[:start] + value + text[end:]

    updated = parse_flow(text).flow
    for competency_id, weight in weights.items():
        assert updated.competency(competency_id).weight == float(weight)
    return text


# --- statistics ---------------------------------------------------------------------------------------


def _checked_weights(weights: Mapping[str, float]) -> dict[str, float]:
    if not weights:
        raise ValueError("no competency weights given")
    bad = [c for c, w in weights.items() if not (math.isfinite(w) and w > 0)]
    if bad:
        raise ValueError(f"weights must be positive (check {', '.join(bad)})")
    total = math.fsum(weights.values())
    if abs(total - 1) > 1e-6:
        raise ValueError(f"weights sum to {total:.6f}; they must sum to 1")
    return _normalised(dict(weights))


def _normalised(weights: dict[str, float]) -> dict[str, float]:
    total = math.fsum(weights.values())
    return {c: w / total for c, w in weights.items()}


def _strength(correlation: Correlation) -> float:
    return correlation.r if correlation.counts and correlation.r is not None else 0.0


def _unavailable(n: int, ratings: Sequence[float], outcome: Sequence[float]) -> Correlation | None:
    if n < MIN_N:
        return Correlation(n, None, None, None, None, counts=False, basis=f"too few (n < {MIN_N})")
    if len(set(ratings)) < 2 or len(set(outcome)) < 2:
        return Correlation(n, None, None, None, None, counts=False, basis="no variation")
    return None


def _judged(n: int, r: float, p: float, se: float, alpha: float) -> Correlation:
    """The relation with its Fisher-z confidence interval and whether it counts."""
    from scipy import stats  # here: the server's processes need SciPy only for this report

    z = math.atanh(max(min(r, 0.999999), -0.999999))
    half = float(stats.norm.ppf(1 - alpha / 2)) * se
    low, high = math.tanh(z - half), math.tanh(z + half)
    if r <= 0:
        basis = "negative" if r < 0 else "none"
    elif p >= alpha:
        basis = "not significant"
    else:
        basis = "significant"
    return Correlation(n, r, p, low, high, counts=basis == "significant", basis=basis)


def _spearman(ratings: Sequence[float], outcome: Sequence[float], alpha: float) -> Correlation:
    n = len(ratings)
    unavailable = _unavailable(n, ratings, outcome)
    if unavailable is not None:
        return unavailable
    from scipy import stats

    result = stats.spearmanr(ratings, outcome)
    r, p = float(result.statistic), float(result.pvalue)
    # Bonett & Wright (2000): the standard error of Fisher's z for a Spearman correlation.
    se = math.sqrt((1 + r * r / 2) / (n - 3)) if n > MIN_N else math.inf
    return _judged(n, r, p, se, alpha)


def _point_biserial(ratings: Sequence[float], promoted: Sequence[bool], alpha: float) -> Correlation:
    n = len(ratings)
    outcome = [1.0 if p else 0.0 for p in promoted]
    unavailable = _unavailable(n, ratings, outcome)
    if unavailable is not None:
        return unavailable
    from scipy import stats

    result = stats.pointbiserialr(outcome, ratings)
    r, p = float(result.statistic), float(result.pvalue)
    se = 1 / math.sqrt(n - 3) if n > MIN_N else math.inf
    return _judged(n, r, p, se, alpha)


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"

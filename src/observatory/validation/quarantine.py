"""From GX outcomes to row-level verdicts: which rows fail which expectation, and why.

GX tells us, per expectation, whether a batch passed and how many rows did not. To route
each failing row to quarantine we compile the failed *map* expectations to SQL predicates
(`gx_engine.row_failure_sql`, which mirrors GX's semantics) and flag rows in one set-based
pass. A test checks that the flagged counts equal GX's unexpected counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from observatory.sql_util import literal
from observatory.validation.gx_engine import ExpectationOutcome, row_failure_sql


@dataclass(frozen=True)
class RowCheck:
    """A failed map expectation as a row predicate, with the reason shown to analysts."""

    expectation_type: str
    column: str | None
    reason: str
    predicate: str


def default_reason(outcome: ExpectationOutcome) -> str:
    """A readable reason when the suite's meta gives none."""
    what = outcome.expectation_type.removeprefix("expect_column_values_to_").replace("_", " ")
    return f"{outcome.column}: expected to {what}"


def row_checks(
    outcomes: list[ExpectationOutcome], reasons: dict[int, str]
) -> tuple[list[RowCheck], list[ExpectationOutcome]]:
    """Split failed error-severity expectations into row checks and batch-level failures.

    Args:
        outcomes: GX outcomes, in suite order.
        reasons: reason text per outcome position (from the suite's meta).

    Returns:
        (row checks to flag rows with, table-level failures that fail the whole batch).
    """
    checks: list[RowCheck] = []
    batch_failures: list[ExpectationOutcome] = []
    for i, out in enumerate(outcomes):
        if out.success or out.severity != "error":
            continue
        predicate = row_failure_sql(out.expectation_type, out.kwargs)
        if predicate is None:
            batch_failures.append(out)
            continue
        checks.append(
            RowCheck(
                expectation_type=out.expectation_type,
                column=out.column,
                reason=reasons.get(i) or default_reason(out),
                predicate=predicate,
            )
        )
    return checks, batch_failures


def flag_sql(table: str, checks: list[RowCheck]) -> str:
    """`select` over `table` adding `_failed` (expectation names) and `_reasons` (texts)."""
    if not checks:
        return (
            f"select *, cast([] as varchar[]) as _failed, cast([] as varchar[]) as _reasons "  # noqa: S608 (table: a query over the batch's digest-named work table)
            f"from {table}"
        )
    names = ", ".join(
        f"case when coalesce({c.predicate}, false) then "
        f"{literal(c.expectation_type + ('(' + c.column + ')' if c.column else ''))} end"
        for c in checks
    )
    texts = ", ".join(
        f"case when coalesce({c.predicate}, false) then {literal(c.reason)} end" for c in checks
    )
    return (
        f"select *, list_filter([{names}], lambda x: x is not null) as _failed, "  # noqa: S608 (predicates from row_failure_sql (quoted idents, literal()); texts escaped)
        f"list_filter([{texts}], lambda x: x is not null) as _reasons from {table}"
    )

"""A parsed query as a SQLAlchemy boolean expression over the machine table; never SQL text.

Every comparison compiles to an expression that is true or false, never NULL, so that ``not``
is an exact complement and ``a != v`` means ``not (a = v)``: a machine with no owner matches
``owner != alice``, and a never-scanned machine matches ``last_scan_age > 1d``. Text is compared
without regard to case, by the database's own ``lower()`` on both sides. Tags are ``EXISTS``
subqueries, missing counts correlated ``count(*)`` subqueries over the recorded updates; each
subquery uses its own alias and correlates to the machine table alone, so the expression can be
nested in any query that selects from the machine table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import assert_never

from sqlalchemy import (
    ColumnElement,
    and_,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
)

from backends.inventory.query_fields import MISSING, MISSING_TOTAL, TAG, FieldType, Value
from backends.inventory.query_parser import And, Comparison, Node, Not, Or
from backends.inventory.records import CRITICALITIES
from backends.inventory.tables import MachineRow, TagRow, UpdateRow

MACHINE = MachineRow.__table__  # type: ignore[attr-defined]
_TAG = TagRow.__table__  # type: ignore[attr-defined]
_UPDATE = UpdateRow.__table__  # type: ignore[attr-defined]

# Query field -> machine column, where they differ.
_COLUMNS = {"os": "os_family", "last_scan_age": "last_scan_at"}
_NULLABLE = frozenset(("distro", "version", "owner", "role", "environment"))
ESCAPE = "/"

Condition = ColumnElement[bool]
_ORDER: dict[str, Callable[[int, int], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def compile_node(node: Node, now: datetime) -> Condition:
    """``node`` as a condition on :data:`MACHINE`; ``now`` is when ``last_scan_age`` counts
    from."""
    if isinstance(node, Comparison):
        return _comparison(node, now)
    if isinstance(node, Not):
        return not_(compile_node(node.operand, now))
    if isinstance(node, And):
        return and_(*(compile_node(n, now) for n in node.operands))
    if isinstance(node, Or):
        return or_(*(compile_node(n, now) for n in node.operands))
    assert_never(node)


def glob_to_like(pattern: str) -> str:
    """A glob (``*`` any run, ``?`` one character, everything else literal) as a LIKE pattern
    with :data:`ESCAPE` as its escape character."""
    out = []
    for char in pattern:
        if char == "*":
            out.append("%")
        elif char == "?":
            out.append("_")
        elif char in ("%", "_", ESCAPE):
            out.append(ESCAPE + char)
        else:
            out.append(char)
    return "".join(out)


def _comparison(c: Comparison, now: datetime) -> Condition:
    spec = c.field.spec
    if spec is TAG:
        return _tag(c)
    if spec is MISSING:
        return _count(c)
    column = MACHINE.c[_COLUMNS.get(spec.name, spec.name)]
    if spec.type is FieldType.TEXT:
        return _text(column, c.operator, c.values, nullable=spec.name in _NULLABLE)
    if spec.type is FieldType.CHOICE:
        return _choice(column, c.operator, [str(v) for v in c.values])
    if spec.type is FieldType.RANK:
        return _rank(column, c.operator, [str(v) for v in c.values])
    if spec.type is FieldType.BOOLEAN:
        value = c.values[0]
        return column.is_(value) if c.operator == "=" else column.is_not(value)  # type: ignore[no-any-return]
    return _age(column, c.operator, c.values[0], now)


def _negated(operator: str) -> tuple[bool, str]:
    """``!=`` and ``not in`` are the complements of ``=`` and ``in``."""
    if operator == "!=":
        return True, "="
    if operator == "not in":
        return True, "in"
    return False, operator


def _text_test(column: ColumnElement[str], operator: str, values: Sequence[Value]) -> Condition:
    lowered = func.lower(column)
    if operator == "=":
        return lowered == func.lower(literal(str(values[0])))
    if operator == "~":
        pattern = func.lower(literal(glob_to_like(str(values[0]))))
        return lowered.like(pattern, escape=ESCAPE)
    return lowered.in_([func.lower(literal(str(v))) for v in values])


def _text(
    column: ColumnElement[str], operator: str, values: Sequence[Value], nullable: bool
) -> Condition:
    negate, operator = _negated(operator)
    test = _text_test(column, operator, values)
    if nullable:
        test = and_(column.is_not(None), test)
    return not_(test) if negate else test


def _tag(c: Comparison) -> Condition:
    negate, operator = _negated(c.operator)
    tag = _TAG.alias()
    assert c.field.key is not None
    found = (
        exists()
        .where(
            tag.c.machine_id == MACHINE.c.id,
            func.lower(tag.c.key) == func.lower(literal(c.field.key)),
            _text_test(tag.c.value, operator, c.values),
        )
        .correlate(MACHINE)
    )
    return not_(found) if negate else found


def _choice(column: ColumnElement[str], operator: str, values: list[str]) -> Condition:
    negate, operator = _negated(operator)
    test = column == values[0] if operator == "=" else column.in_(values)
    return not_(test) if negate else test


def _rank(column: ColumnElement[str], operator: str, values: list[str]) -> Condition:
    if operator in _ORDER:
        given = CRITICALITIES.index(values[0])
        keep = [c for i, c in enumerate(CRITICALITIES) if _ORDER[operator](i, given)]
        return column.in_(keep) if keep else false()
    return _choice(column, operator, values)


def _count(c: Comparison) -> Condition:
    negate, operator = _negated(c.operator)
    update = _UPDATE.alias()
    query = select(func.count()).select_from(update).where(update.c.machine_id == MACHINE.c.id)
    if c.field.key != MISSING_TOTAL:
        query = query.where(update.c.classification == c.field.key)
    count = query.correlate(MACHINE).scalar_subquery()
    numbers = [int(v) for v in c.values if isinstance(v, int)]
    if operator == "in":
        test: Condition = count.in_(numbers)
    elif operator == "=":
        test = count == numbers[0]
    else:
        test = {
            "<": count < numbers[0],
            "<=": count <= numbers[0],
            ">": count > numbers[0],
            ">=": count >= numbers[0],
        }[operator]
    return not_(test) if negate else test


def _age(column: ColumnElement[datetime], operator: str, value: Value, now: datetime) -> Condition:
    """``last_scan_age OP D``: compared as ``last_scan_at`` against ``now - D``; a machine
    never scanned is infinitely old."""
    assert isinstance(value, timedelta)
    cutoff = now - value
    never = column.is_(None)
    if operator == ">":
        return or_(never, column < cutoff)
    if operator == ">=":
        return or_(never, column <= cutoff)
    if operator == "<":
        return and_(column.is_not(None), column > cutoff)
    return and_(column.is_not(None), column >= cutoff)  # <=: the parser admits no other

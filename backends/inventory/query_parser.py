"""The query language's grammar: tokens in, a checked syntax tree out.

::

    query      := or_expr END
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" or_expr ")" | comparison
    comparison := FIELD OPERATOR value
                | FIELD ["not"] "in" "(" value ("," value)* ")"
    value      := WORD | STRING

Keywords (``and or not in``) are bare words in any case; quoted, they are values. Every
comparison is checked here against the field catalogue (field, operator, value type), so that
compiling a parsed query cannot fail. Limits on size keep any query within what SQLite and
PostgreSQL accept; beyond them is a :class:`QueryError` like any other.
"""

from __future__ import annotations

from dataclasses import dataclass

from backends.inventory.errors import QueryError
from backends.inventory.query_fields import FieldRef, FieldType, Value, lookup_field, read_value
from backends.inventory.query_lexer import OPERATORS, Kind, Token, tokenize

MAX_LENGTH = 10_000  # characters
MAX_DEPTH = 32  # nested parentheses
MAX_COMPARISONS = 256
MAX_LIST = 500  # values in one in (…)


@dataclass(frozen=True, slots=True)
class Comparison:
    field: FieldRef
    operator: str  # = != < <= > >= ~ in, or "not in"
    values: tuple[Value, ...]  # one value; several for in / not in
    column: int


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]


Node = Comparison | Not | And | Or


def parse(query: str) -> Node:
    """The syntax tree of ``query``; :class:`QueryError` with the offending column if it has
    none. Never raises anything else, whatever the text."""
    try:
        if len(query) > MAX_LENGTH:
            raise QueryError(
                f"the query is longer than {MAX_LENGTH} characters", MAX_LENGTH + 1, len(query)
            )
        tokens = tokenize(query)
        if tokens[0].kind is Kind.END:
            raise QueryError(
                "the query is empty: expected a field at column 1, as in os = linux", 1
            )
        return _Parser(tokens).query()
    except QueryError as exc:
        exc.query = query
        raise


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.at = 0
        self.depth = 0
        self.comparisons = 0

    # -- helpers -----------------------------------------------------------------------------

    def peek(self) -> Token:
        return self.tokens[self.at]

    def take(self) -> Token:
        token = self.tokens[self.at]
        if token.kind is not Kind.END:
            self.at += 1
        return token

    def previous(self) -> Token:
        return self.tokens[self.at - 1]

    @staticmethod
    def error(message: str, token: Token) -> QueryError:
        return QueryError(message, token.column, token.length)

    def expected(self, what: str, after: Token | None = None) -> QueryError:
        token = self.peek()
        where = f" after {after.describe()}" if after is not None else ""
        found = "" if token.kind is Kind.END else f", found {token.describe()}"
        if token.keyword() in ("and", "or", "not", "in") and "value" in what:
            found += " (quote it to use it as a value)"
        return self.error(f"expected {what}{where} at column {token.column}{found}", token)

    # -- grammar -----------------------------------------------------------------------------

    def query(self) -> Node:
        node = self.or_expr()
        token = self.peek()
        if token.kind is Kind.RPAREN:
            raise self.error(f"unexpected ')' at column {token.column}: no '(' to close", token)
        if token.kind is not Kind.END:
            raise self.expected("'and' or 'or'")
        return node

    def or_expr(self) -> Node:
        operands = [self.and_expr()]
        while self.peek().keyword() == "or":
            self.take()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self) -> Node:
        operands = [self.not_expr()]
        while self.peek().keyword() == "and":
            self.take()
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def not_expr(self) -> Node:
        negations = 0
        while self.peek().keyword() == "not":
            self.take()
            negations += 1
        node = self.primary()
        return Not(node) if negations % 2 else node

    def primary(self) -> Node:
        after = self.previous() if self.at else None
        token = self.peek()
        if token.kind is Kind.LPAREN:
            return self.group()
        if token.kind is Kind.WORD and token.keyword() is None:
            return self.comparison()
        if token.kind is Kind.RPAREN and after is not None and after.kind is Kind.LPAREN:
            raise self.error(f"empty parentheses at column {after.column}", after)
        raise self.expected("a field or '('", after)

    def group(self) -> Node:
        opening = self.take()
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(
                f"'(' at column {opening.column} nests deeper than {MAX_DEPTH} levels", opening
            )
        node = self.or_expr()
        token = self.peek()
        if token.kind is Kind.END:
            raise self.error(
                f"unclosed '(' at column {opening.column}: no ')' before the end", opening
            )
        if token.kind is not Kind.RPAREN:
            raise self.expected("'and', 'or' or ')'")
        self.take()
        self.depth -= 1
        return node

    def comparison(self) -> Comparison:
        name = self.take()
        field = lookup_field(name)
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise self.error(
                f"too many comparisons at column {name.column}: at most {MAX_COMPARISONS}", name
            )
        token = self.peek()
        if token.kind is Kind.OPERATOR:
            operator = self.take()
            self.check_operator(field, operator.text, operator)
            value = self.value(field, operator.text)
            return Comparison(field, operator.text, (value,), name.column)
        if token.keyword() == "in":
            self.check_operator(field, "in", token)
            return self.in_list(field, name, "in")
        if token.keyword() == "not" and self.tokens[self.at + 1].keyword() == "in":
            self.check_operator(field, "in", token)
            self.take()
            return self.in_list(field, name, "not in")
        operators = " ".join((*OPERATORS, "in"))
        error = self.expected("an operator", name)
        raise QueryError(f"{error.message}; operators are {operators}", error.column, error.length)

    def check_operator(self, field: FieldRef, operator: str, token: Token) -> None:
        if operator in field.spec.operators:
            return
        takes = " ".join(field.spec.operators)
        why = ""
        if field.spec.type is FieldType.TEXT and operator in ("<", "<=", ">", ">="):
            why = " (text has no order)"
        if field.spec.type is FieldType.AGE and operator in ("=", "!="):
            why = " (an age is never exactly a duration)"
        raise self.error(
            f"'{operator}' does not apply to {field.label} at column {token.column}{why}; "
            f"{field.label} takes {takes}",
            token,
        )

    def value(self, field: FieldRef, operator: str) -> Value:
        token = self.peek()
        if token.kind is Kind.STRING or (token.kind is Kind.WORD and token.keyword() is None):
            self.take()
            return read_value(field, operator, token)
        raise self.expected("a value", self.previous())

    def in_list(self, field: FieldRef, name: Token, operator: str) -> Comparison:
        keyword = self.take()  # in
        opening = self.peek()
        if opening.kind is not Kind.LPAREN:
            raise self.expected("'(' and a list of values", keyword)
        self.take()
        values = [self.value(field, "in")]
        while True:
            token = self.peek()
            if token.kind is Kind.RPAREN:
                self.take()
                break
            if token.kind is Kind.END:
                raise self.error(
                    f"unclosed '(' at column {opening.column}: the list has no ')'", opening
                )
            if token.kind is not Kind.COMMA:
                raise self.expected("',' or ')' in the list")
            self.take()
            if len(values) >= MAX_LIST:
                raise self.error(
                    f"too many values in the list at column {token.column}: at most {MAX_LIST}",
                    token,
                )
            values.append(self.value(field, "in"))
        return Comparison(field, operator, tuple(values), name.column)

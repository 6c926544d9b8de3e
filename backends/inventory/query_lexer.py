"""The query language's tokens: words, quoted strings, operators, parentheses and commas.

Every token keeps its 1-based column and its length in the query text so that an error can
point at it. Anything the lexer cannot read is a :class:`QueryError`, never another exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from backends.inventory.errors import QueryError

OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "~")
KEYWORDS = ("and", "or", "not", "in")

_OPERATOR_CHARS = frozenset("=!<>~")
# Characters that end a bare word (besides white space).
_DELIMITERS = frozenset("()," + "'\"") | _OPERATOR_CHARS
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}


class Kind(Enum):
    WORD = "word"  # a bare word: field, keyword or value
    STRING = "string"  # a quoted string: always a value
    OPERATOR = "operator"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    END = "end"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str  # the value: a word, an operator, or a string without its quotes and escapes
    column: int  # 1-based
    length: int  # characters of the query it covers (quotes included)

    def keyword(self) -> str | None:
        """``and``, ``or``, ``not`` or ``in`` (any case) when this is that bare word."""
        if self.kind is Kind.WORD and self.text.lower() in KEYWORDS:
            return self.text.lower()
        return None

    def describe(self) -> str:
        """How an error names this token."""
        if self.kind is Kind.END:
            return "the end of the query"
        if self.kind is Kind.STRING:
            return f"the string {_quoted(self.text)}"
        return f"'{self.text}'"


def _quoted(text: str) -> str:
    shown = text if len(text) <= 40 else text[:39] + "…"
    return '"' + shown.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tokenize(query: str) -> list[Token]:
    """The tokens of ``query``, ending with a :attr:`Kind.END` token."""
    tokens: list[Token] = []
    i, size = 0, len(query)
    while i < size:
        char = query[i]
        if char.isspace():
            i += 1
        elif char in "(),":
            kind = {"(": Kind.LPAREN, ")": Kind.RPAREN, ",": Kind.COMMA}[char]
            tokens.append(Token(kind, char, i + 1, 1))
            i += 1
        elif char in "'\"":
            token, i = _string(query, i)
            tokens.append(token)
        elif char in _OPERATOR_CHARS:
            end = i
            while end < size and query[end] in _OPERATOR_CHARS:
                end += 1
            text = query[i:end]
            if text not in OPERATORS:
                raise QueryError(
                    f"unknown operator '{text}' at column {i + 1}; "
                    f"operators are {' '.join(OPERATORS)} and in",
                    i + 1,
                    end - i,
                )
            tokens.append(Token(Kind.OPERATOR, text, i + 1, end - i))
            i = end
        else:
            end = i
            while end < size and not query[end].isspace() and query[end] not in _DELIMITERS:
                end += 1
            tokens.append(Token(Kind.WORD, query[i:end], i + 1, end - i))
            i = end
    tokens.append(Token(Kind.END, "", size + 1, 1))
    return tokens


def _string(query: str, start: int) -> tuple[Token, int]:
    """The quoted string opening at ``start``; backslash escapes ``\\\\ \\' \\" \\n \\t``."""
    quote = query[start]
    chars: list[str] = []
    i = start + 1
    while i < len(query):
        char = query[i]
        if char == quote:
            return Token(Kind.STRING, "".join(chars), start + 1, i + 1 - start), i + 1
        if char == "\\":
            if i + 1 >= len(query):
                break
            escaped = _ESCAPES.get(query[i + 1])
            if escaped is None:
                after = query[i + 1]
                shown = after if after.isprintable() else f"U+{ord(after):04X}"
                raise QueryError(
                    f"unknown escape '\\{shown}' at column {i + 1}; use \\\\ \\' \\\" \\n or \\t",
                    i + 1,
                    2,
                )
            chars.append(escaped)
            i += 2
            continue
        chars.append(char)
        i += 1
    raise QueryError(
        f"unterminated string starting at column {start + 1}: no closing {quote}",
        start + 1,
        len(query) - start,
    )

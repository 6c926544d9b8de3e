"""The simulated machines' ``sh``: the subset of POSIX shell that patchdeck's scripts use.

Supported (docs/scan-script.md, plus what an operator types by hand):

- simple commands with ``'…'``, ``"…"`` and ``\\`` quoting, ``$?``, ``$NAME`` and ``${NAME}``;
  ``NAME=value`` assignments and prefixes (``LC_ALL=C apt-get …``);
- redirections ``>/dev/null``, ``2>&1``, ``1>&2``, ``>&2``, ``2>/dev/null``, ``</dev/null``, and
  ``N>&M`` for any descriptor (``3>&1``: apt's Status-Fd);
- lists with newlines, ``;``, ``&&`` and ``||``; ``! cmd``; ``if … then … elif … else … fi``
  (nested too);
- builtins ``echo``, ``printf``, ``true``, ``false``, ``:``, ``test``/``[``, ``command -v``,
  ``export``, ``unset``, ``set -e``, ``exit``, ``exec``, ``cd``; ``sh -c`` / ``bash -c`` run a
  script recursively, ``sudo``, ``env``, ``timeout`` and ``nice`` run a command;
- the programs in :mod:`backends.fleet.tools`, where the machine's kind has them.

Anything else fails the way a shell fails: an unknown program is ``sh: 1: foo: not found``
(status 127; bash's wording on the RPM and SUSE kinds), and pipes, background jobs, subshells
and command substitution are syntax errors (status 2) — the fleet's shell does not do them.
Like dash, a script runs one complete command at a time, so a syntax error stops it where it is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from backends.fleet import tools
from backends.fleet.streams import PAUSE, STDERR, STDOUT, Chunk, Output

NULL = 0  # a file descriptor pointing at /dev/null
_MAX_DEPTH = 8
_DIRECTORIES = {
    "/",
    "/etc",
    "/run",
    "/var",
    "/var/run",
    "/tmp",
    "/usr",
    "/usr/bin",
    "/proc",
    "/root",
}
# builtins that are programs in /usr/bin too, so sudo, env and timeout can run them
_ALSO_PROGRAMS = frozenset({"echo", "printf", "true", "false", "test", "["})
_STANDARD_DIRS = ("/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin")


class ShellSyntaxError(Exception):
    def __init__(self, line: int, unexpected: str, expecting: str = "") -> None:
        super().__init__(unexpected)
        self.line = line
        self.unexpected = unexpected  # a token, "newline" or "end of file"
        self.expecting = expecting


# --- tokens -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Word:
    parts: list[tuple[bool, str]]  # (is a variable, text)
    line: int
    quoted: bool = False  # any quoting at all: not a reserved word, not dropped when empty
    plain: str | None = None  # the text of an unquoted word without expansions (set when done)

    def finish(self) -> Word:
        if not self.quoted and not any(var for var, _ in self.parts):
            self.plain = "".join(text for _, text in self.parts)
        return self


@dataclass(slots=True)
class Op:
    text: str
    line: int


Token = Word | Op

_DOUBLE_PLAIN = re.compile(r'[^"\\$`]+')
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN = re.compile(
    # a whole word in one step: plain text, or one single-quoted string, then a blank or the end
    r"(?P<word>[^\s'\"\\$;&|<>()`#]+)(?=[ \t\r\n]|\Z)|(?P<quotedword>'[^']*')(?=[ \t\r\n]|\Z)"
    r"|(?P<plain>[^\s'\"\\$;&|<>()`#]+)|(?P<space>[ \t\r]+)|(?P<newline>\n)"
    r"|(?P<single>'[^']*')|(?P<double>\"[^\"\\$`]*\")"
    r"|(?P<op>&&|\|\||;;|>>|<<|>&|<&|>\||[;&|<>()])"
)
_REDIRECT = re.compile(r"^(\d*)(>>|>&|<&|>\||>|<)$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


class _Tokenizer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.line = 1
        self.tokens: list[Token] = []
        self.word: Word | None = None

    def _lit(self, text: str, quoted: bool = False) -> None:
        word = self.word
        if word is None:
            word = self.word = Word([], self.line)
        parts = word.parts
        if parts and not parts[-1][0]:
            parts[-1] = (False, parts[-1][1] + text)
        else:
            parts.append((False, text))
        if quoted:
            word.quoted = True

    def _var(self, name: str, quoted: bool = False) -> None:
        if self.word is None:
            self.word = Word([], self.line)
        self.word.parts.append((True, name))
        self.word.quoted |= quoted

    def _end(self) -> None:
        if self.word is not None:
            self.tokens.append(self.word.finish())
            self.word = None

    def _dollar(self, quoted: bool) -> None:
        text, i = self.text, self.i + 1
        if i < len(text) and text[i] in "?#$!0123456789@*-":
            self._var(text[i], quoted)
            self.i = i + 1
        elif text.startswith("{", i):
            close = text.find("}", i)
            if close < 0:
                raise ShellSyntaxError(self.line, "Missing '}'")
            self._var(text[i + 1 : close], quoted)
            self.i = close + 1
        elif text.startswith("(", i):
            raise ShellSyntaxError(self.line, "$(")
        elif match := _NAME.match(text, i):
            self._var(match.group(), quoted)
            self.i = match.end()
        else:
            self._lit("$", quoted)
            self.i = i

    def _double(self) -> None:
        text = self.text
        self.i += 1
        self._lit("", quoted=True)
        while True:
            if self.i >= len(text):
                raise ShellSyntaxError(self.line, "Unterminated quoted string")
            c = text[self.i]
            if c == '"':
                self.i += 1
                return
            if c == "\\" and self.i + 1 < len(text) and text[self.i + 1] in '$`"\\\n':
                if text[self.i + 1] == "\n":
                    self.line += 1
                else:
                    self._lit(text[self.i + 1], True)
                self.i += 2
            elif c == "$":
                self._dollar(True)
            elif c == "`":
                raise ShellSyntaxError(self.line, "`")
            else:
                run = _DOUBLE_PLAIN.match(text, self.i)
                chunk = run.group() if run else c
                self.line += chunk.count("\n")
                self._lit(chunk, True)
                self.i += len(chunk)

    def run(self) -> list[Token]:
        text = self.text
        end = len(text)
        match = _TOKEN.match
        while self.i < end:
            found = match(text, self.i)
            if found is not None:  # the common tokens, one regular expression step each
                kind, value = found.lastgroup, found.group()
                self.i = found.end()
                if kind == "word" and self.word is None:
                    self.tokens.append(Word([(False, value)], self.line, plain=value))
                elif kind == "quotedword" and self.word is None:
                    self.tokens.append(Word([(False, value[1:-1])], self.line, quoted=True))
                    self.line += value.count("\n")
                elif kind in ("plain", "word"):
                    self._lit(value)
                elif kind == "space":
                    self._end()
                elif kind == "newline":
                    self._end()
                    self.tokens.append(Op("\n", self.line))
                    self.line += 1
                elif kind == "op":
                    self._operator(value)
                else:  # a quoted string without anything to expand (single or double)
                    self._lit(value[1:-1], True)
                    self.line += value.count("\n")
                continue
            c = text[self.i]
            if c == "#" and self.word is None:
                newline = text.find("\n", self.i)
                self.i = end if newline < 0 else newline
            elif c == "#":
                self._lit("#")
                self.i += 1
            elif c == "\\":
                if text.startswith("\n", self.i + 1):
                    self.line += 1
                else:
                    self._lit(text[self.i + 1 : self.i + 2], True)
                self.i += 2
            elif c == '"':
                self._double()
            elif c == "$":
                self._dollar(False)
            elif c == "'":
                raise ShellSyntaxError(self.line, "Unterminated quoted string")
            else:  # `
                raise ShellSyntaxError(self.line, "`")
        self._end()
        return self.tokens

    def _operator(self, op: str) -> None:
        word = self.word
        if op[0] in "<>" and word is not None and _io_number(word):
            self.word = None  # an io number: ``2>&1``
            op = word.parts[0][1] + op
        self._end()
        self.tokens.append(Op(op, self.line))


def _io_number(word: Word) -> bool:
    parts = word.parts
    return not word.quoted and len(parts) == 1 and not parts[0][0] and parts[0][1].isdigit()


def tokenize(text: str) -> tuple[list[Token], ShellSyntaxError | None, int]:
    """The tokens, the error that stopped tokenizing (the tokens before it still run) and the
    line the text ends on."""
    tokenizer = _Tokenizer(text)
    try:
        return tokenizer.run(), None, tokenizer.line
    except ShellSyntaxError as exc:
        return tokenizer.tokens, exc, exc.line


# --- syntax tree ------------------------------------------------------------------------------


@dataclass(slots=True)
class Redirect:
    fd: int
    op: str
    target: Word


@dataclass(slots=True)
class Simple:
    assignments: list[Word]
    words: list[Word]
    redirects: list[Redirect]
    line: int


@dataclass(slots=True)
class If:
    branches: list[tuple[list[AndOr], list[AndOr]]]
    otherwise: list[AndOr] | None


@dataclass(slots=True)
class AndOr:
    first: Simple | If
    rest: list[tuple[str, Simple | If]]
    negate: list[bool] = field(default_factory=list)  # per pipeline, ``!``


class _Parser:
    def __init__(self, tokens: list[Token], error: ShellSyntaxError | None, last: int) -> None:
        self.tokens = tokens
        self.last = last  # the line the script ends on
        self.error = error  # met after the last token
        self.pos = 0
        self.end = len(tokens)
        # an operator's text or an unquoted word's text: reserved words and operators never mix
        self.keys = [t.text if isinstance(t, Op) else t.plain for t in tokens]

    def _peek(self) -> Token | None:
        if self.pos < self.end:
            return self.tokens[self.pos]
        if self.error is not None:
            raise self.error
        return None

    def _line(self) -> int:
        if self.pos < self.end:
            return self.tokens[self.pos].line
        return self.last

    def _is_op(self, *texts: str) -> bool:
        if self.pos < self.end:
            return self.keys[self.pos] in texts
        if self.error is not None:
            raise self.error
        return False

    _is_word = _is_op

    def _unexpected(self, expecting: str = "") -> ShellSyntaxError:
        token = self._peek()
        if token is None:
            return ShellSyntaxError(self.last, "end of file", expecting)
        if isinstance(token, Op):
            text = "newline" if token.text == "\n" else token.text
            return ShellSyntaxError(token.line, text, expecting)
        return ShellSyntaxError(token.line, "".join(t for _, t in token.parts), expecting)

    def _skip_newlines(self) -> None:
        while self._is_op("\n"):
            self.pos += 1

    def complete_command(self) -> list[AndOr] | None:
        """The next line's list of commands (an ``if`` may span lines), or ``None`` at the end."""
        self._skip_newlines()
        if self._peek() is None:
            return None
        items = [self._and_or()]
        while self._is_op(";"):
            self.pos += 1
            if self._peek() is None or self._is_op("\n"):
                break
            items.append(self._and_or())
        if self._peek() is not None and not self._is_op("\n"):
            raise self._unexpected()
        return items

    def _and_or(self) -> AndOr:
        negate = [self._bang()]
        node = AndOr(self._command(), [], negate)
        while self._is_op("&&", "||"):
            op = self.tokens[self.pos]
            assert isinstance(op, Op)
            self.pos += 1
            self._skip_newlines()
            negate.append(self._bang())
            node.rest.append((op.text, self._command()))
        if self._is_op("|", "&", "(", ")", ";;"):
            raise self._unexpected()
        return node

    def _bang(self) -> bool:
        if self._is_word("!"):
            self.pos += 1
            return True
        return False

    def _command(self) -> Simple | If:
        if self._is_word("if"):
            return self._if()
        if self._is_word("then", "elif", "else", "fi", "do", "done", "esac", "}", "{"):
            raise self._unexpected()
        return self._simple()

    def _list(self, terminators: Sequence[str], expecting: str) -> list[AndOr]:
        items: list[AndOr] = []
        self._skip_newlines()
        while True:
            token = self._peek()
            if token is None:
                raise ShellSyntaxError(self.last, "end of file", expecting)
            if self._is_word(*terminators):
                if not items:
                    raise self._unexpected()
                return items
            items.append(self._and_or())
            if self._is_op(";", "\n"):
                self.pos += 1
                self._skip_newlines()
            elif self._peek() is None:
                raise ShellSyntaxError(self.last, "end of file", expecting)
            else:
                raise self._unexpected()

    def _expect(self, name: str) -> None:
        if not self._is_word(name):
            raise self._unexpected(name)
        self.pos += 1

    def _if(self) -> If:
        self.pos += 1
        branches: list[tuple[list[AndOr], list[AndOr]]] = []
        while True:
            condition = self._list(("then",), "then")
            self._expect("then")
            body = self._list(("elif", "else", "fi"), "fi")
            branches.append((condition, body))
            if self._is_word("elif"):
                self.pos += 1
                continue
            break
        otherwise = None
        if self._is_word("else"):
            self.pos += 1
            otherwise = self._list(("fi",), "fi")
        self._expect("fi")
        return If(branches, otherwise)

    def _simple(self) -> Simple:
        line = self._line()
        assignments: list[Word] = []
        words: list[Word] = []
        redirects: list[Redirect] = []
        while True:
            token = self._peek()
            if isinstance(token, Word):
                plain = "".join(text for var, text in token.parts[:1] if not var)
                if not words and _ASSIGNMENT.match(plain):
                    assignments.append(token)
                else:
                    words.append(token)
                self.pos += 1
                continue
            if isinstance(token, Op) and (match := _REDIRECT.match(token.text)):
                self.pos += 1
                target = self._peek()
                if not isinstance(target, Word):
                    raise self._unexpected()
                self.pos += 1
                digits, op = match.groups()
                fd = int(digits) if digits else (0 if op[0] == "<" else 1)
                redirects.append(Redirect(fd, op, target))
                continue
            break
        if not (assignments or words or redirects):
            raise self._unexpected()
        return Simple(assignments, words, redirects, line)


# --- running ----------------------------------------------------------------------------------


class _Exit(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Hang(Exception):
    """A command printed what it had and never finished (a held lock)."""


@dataclass
class Shell:
    """One ``sh`` process on a simulated machine."""

    ctx: tools.Context
    depth: int = 0
    status: int = 0
    vars: dict[str, str] = field(default_factory=dict)
    fds: dict[int, int] = field(default_factory=lambda: {0: NULL, 1: STDOUT, 2: STDERR})
    chunks: list[Chunk] = field(default_factory=list)
    errexit: bool = False
    _condition: int = 0

    def run(self, script: str) -> Output:
        """Run a script to its end (or ``exit``); stdout and stderr as the script wrote them."""
        parser = _Parser(*tokenize(script))
        hang = False
        try:
            while True:
                try:
                    items = parser.complete_command()
                except ShellSyntaxError as exc:
                    self._write(STDERR, self._syntax_message(exc))
                    self.status = 2
                    break
                if items is None:
                    break
                for item in items:
                    self._and_or(item)
        except _Exit as exc:
            self.status = exc.status
        except _Hang:
            hang = True
        return Output(tuple(self.chunks), self.status & 0xFF, hang)

    # output

    def _write(self, fd: int, data: bytes | str) -> None:
        if fd == PAUSE:  # time passing, whatever the descriptors
            self.chunks.append((PAUSE, data.encode() if isinstance(data, str) else data))
            return
        target = self.fds.get(fd, NULL)
        if target == NULL or not data:
            return
        raw = data.encode() if isinstance(data, str) else data
        if self.chunks and self.chunks[-1][0] == target:
            self.chunks[-1] = (target, self.chunks[-1][1] + raw)
        else:
            self.chunks.append((target, raw))

    def _error(self, line: int, message: str) -> None:
        style = self.ctx.machine.kind.shell
        prefix = {"dash": f"sh: {line}: ", "bash": f"sh: line {line}: "}.get(style, "sh: ")
        self._write(STDERR, prefix + message + "\n")

    def _syntax_message(self, exc: ShellSyntaxError) -> str:
        if self.ctx.machine.kind.shell == "dash":
            if exc.unexpected in ("Unterminated quoted string", "Missing '}'"):
                return f"sh: {exc.line}: Syntax error: {exc.unexpected}\n"
            what = (
                exc.unexpected
                if exc.unexpected in ("newline", "end of file")
                else f'"{exc.unexpected}"'
            )
            expecting = f' (expecting "{exc.expecting}")' if exc.expecting else ""
            return f"sh: {exc.line}: Syntax error: {what} unexpected{expecting}\n"
        if exc.unexpected == "end of file":
            return f"sh: -c: line {exc.line}: syntax error: unexpected end of file\n"
        token = exc.unexpected
        return (
            f"sh: -c: line {exc.line}: syntax error near unexpected token `{token}'\n"
            f"sh: -c: line {exc.line}: `{token}'\n"
        )

    # control flow

    def _and_or(self, node: AndOr) -> None:
        self._pipeline(node.first, node.negate[0])
        for (op, command), negate in zip(node.rest, node.negate[1:], strict=True):
            if (op == "&&") == (self.status == 0):
                self._pipeline(command, negate)
        if self.errexit and self.status != 0 and not self._condition and not node.rest:
            raise _Exit(self.status)

    def _pipeline(self, command: Simple | If, negate: bool) -> None:
        self._command(command)
        if negate:
            self.status = 0 if self.status else 1

    def _command(self, command: Simple | If) -> None:
        if isinstance(command, Simple):
            self._simple(command)
            return
        for condition, body in command.branches:
            self._condition += 1
            try:
                for item in condition:
                    self._and_or(item)
            finally:
                self._condition -= 1
            if self.status == 0:
                for item in body:
                    self._and_or(item)
                return
        self.status = 0
        for item in command.otherwise or []:
            self._and_or(item)

    # simple commands

    def _expand(self, word: Word) -> str:
        out: list[str] = []
        for is_var, text in word.parts:
            if not is_var:
                out.append(text)
            elif text == "?":
                out.append(str(self.status))
            elif text == "$":
                out.append("4711")
            elif text == "#":
                out.append("0")
            else:
                out.append(self.vars.get(text, ""))
        return "".join(out)

    def _argv(self, words: Sequence[Word]) -> list[str]:
        argv: list[str] = []
        for word in words:
            value = self._expand(word)
            if value or word.quoted or not all(var for var, _ in word.parts):
                argv.append(value)
        return argv

    def _simple(self, command: Simple) -> None:
        argv = self._argv(command.words)
        assigned = {}
        for word in command.assignments:
            name, _, value = self._expand(word).partition("=")
            assigned[name] = value
        saved = self.fds
        self.fds = dict(saved)
        try:
            if not self._redirect(command):
                return
            if not argv:
                self.vars.update(assigned)
                self.status = 0
            elif argv == ["exec"]:
                saved = self.fds  # ``exec 3>&1 1>&2``: the redirections stay
                self.status = 0
            elif argv[0] == "exec":
                self._emit(self._dispatch(argv[1:], assigned, command.line))
                raise _Exit(self.status)
            elif argv[0] in _SPECIAL_BUILTINS:
                self.status = _SPECIAL_BUILTINS[argv[0]](self, argv[1:])
            else:
                self._emit(self._dispatch(argv, assigned, command.line))
        finally:
            self.fds = saved

    def _emit(self, output: Output) -> None:
        for fd, data in output.chunks:
            self._write(fd, data)
        self.status = output.status
        if output.hang:
            raise _Hang

    def _redirect(self, command: Simple) -> bool:
        for redirect in command.redirects:
            target = self._expand(redirect.target)
            if redirect.op in (">&", "<&"):
                if target == "-":
                    self.fds[redirect.fd] = NULL
                elif target.isdigit() and int(target) in self.fds:
                    self.fds[redirect.fd] = self.fds[int(target)]
                else:
                    self._error(command.line, f"{target}: Bad file descriptor")
                    self.status = 2
                    return False
            elif target == "/dev/null":
                self.fds[redirect.fd] = NULL
            elif redirect.op == "<":
                if tools.file_text(self.ctx.machine, target) is None:
                    self._error(command.line, f"cannot open {target}: No such file")
                    self.status = 2
                    return False
            else:
                self._error(command.line, f"cannot create {target}: Permission denied")
                self.status = 2
                return False
        return True

    def _dispatch(self, argv: Sequence[str], assigned: dict[str, str], line: int) -> Output:
        """Run one command (builtin, wrapper or program) and return what it printed."""
        name, args = argv[0], list(argv[1:])
        builtin = _BUILTIN_FUNCTIONS.get(name)
        if builtin is not None:
            return builtin(self, args)
        wrapper = _WRAPPERS.get(name)
        if wrapper is not None and self.ctx.machine.kind.program_path(name) is not None:
            return wrapper(self, args, assigned, line)
        program = self._program(name)
        if program is not None:
            env = {**self.vars, **assigned}
            ctx = self.ctx if env == self.ctx.env else replace(self.ctx, env=env)
            found = tools.run(program, args, ctx)
            if found is not None:
                return found
        return Output.of("", self._not_found_message(name, line), 127)

    def _not_found_message(self, name: str, line: int) -> str:
        style = self.ctx.machine.kind.shell
        if style == "dash":
            return f"sh: {line}: {name}: not found\n"
        if style == "bash":
            return f"sh: line {line}: {name}: command not found\n"
        return f"sh: {name}: command not found\n"

    def _program(self, name: str) -> str | None:
        kind = self.ctx.machine.kind
        if "/" in name:
            folder, _, base = name.rpartition("/")
            if folder in _STANDARD_DIRS and kind.program_path(base) is not None:
                return base
            return None
        return name if kind.program_path(name) is not None else None

    def child(self, ctx: tools.Context | None = None) -> Shell:
        if self.depth >= _MAX_DEPTH:
            raise _Exit(126)
        return Shell(ctx or self.ctx, depth=self.depth + 1, vars=dict(self.vars))

    def run_argv(
        self, argv: Sequence[str], ctx: tools.Context, assigned: dict[str, str], line: int
    ) -> Output:
        """Run a command as a wrapper (sudo, env …) would: a new process, maybe as another user."""
        shell = self.child(ctx)
        shell.vars.update(assigned)
        if not argv:
            return Output((), 0)
        if argv[0] in _BUILTIN_FUNCTIONS and argv[0] not in _ALSO_PROGRAMS:
            return Output.of("", self._not_found_message(argv[0], line), 127)
        return shell._dispatch(argv, {}, line)


# --- builtins ---------------------------------------------------------------------------------


def _unescape(text: str) -> tuple[str, bool]:
    """dash's echo escapes; the flag is set when ``\\c`` ends the output."""
    if "\\" not in text:
        return text, False
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            simple = {
                "n": "\n",
                "t": "\t",
                "\\": "\\",
                "a": "\a",
                "b": "\b",
                "r": "\r",
                "f": "\f",
                "v": "\v",
            }
            if nxt == "c":
                return "".join(out), True
            if nxt in simple:
                out.append(simple[nxt])
                i += 2
                continue
            if nxt == "0":
                digits = text[i + 2 : i + 5]
                octal = re.match(r"[0-7]{0,3}", digits)
                value = octal.group() if octal else ""
                out.append(chr(int(value or "0", 8)))
                i += 2 + len(value)
                continue
        out.append(c)
        i += 1
    return "".join(out), False


def _echo(shell: Shell, args: list[str]) -> Output:
    newline = True
    if args and args[0] == "-n":
        newline = False
        args = args[1:]
    text, stop = _unescape(" ".join(args))
    return Output.of(text + ("\n" if newline and not stop else ""))


_FORMAT = re.compile(r"%(%|[-+ #0]*\d*(?:\.\d+)?[sdbcxiuo])")


def _format_once(fmt: str, args: Sequence[str]) -> tuple[str, int]:
    """One pass of printf's format over ``args``: the text and how many arguments it used."""
    used = 0

    def one(match: re.Match[str]) -> str:
        nonlocal used
        spec = match.group(1)
        if spec == "%":
            return "%"
        value = args[used] if used < len(args) else ""
        used += 1
        conversion = spec[-1]
        if conversion == "b":
            return _unescape(value)[0]
        if conversion in "dixuo":
            number = int(value) if value.lstrip("-").isdigit() else 0
            return ("%" + spec.replace("u", "d")) % number
        if conversion == "c":
            return value[:1]
        return ("%" + spec) % value

    return _unescape(_FORMAT.sub(one, fmt))[0], used


def _printf(shell: Shell, args: list[str]) -> Output:
    if not args:
        return Output.of("", "printf: usage: printf format [arg ...]\n", 2)
    fmt, rest = args[0], args[1:]
    out: list[str] = []
    while True:
        text, used = _format_once(fmt, rest)
        out.append(text)
        rest = rest[used:]
        if not rest or not used:
            break
    return Output.of("".join(out))


def _true(shell: Shell, args: list[str]) -> Output:
    return Output((), 0)


def _false(shell: Shell, args: list[str]) -> Output:
    return Output((), 1)


def _cd(shell: Shell, args: list[str]) -> Output:
    return Output((), 0)


def _pwd(shell: Shell, args: list[str]) -> Output:
    return Output.of("/root\n" if shell.ctx.root else f"/home/{shell.ctx.user}\n")


def _exists(shell: Shell, path: str) -> bool:
    machine = shell.ctx.machine
    if path in _DIRECTORIES or tools.file_text(machine, path) is not None:
        return True
    folder, _, base = path.rpartition("/")
    return folder in _STANDARD_DIRS and machine.kind.program_path(base) == path


def _evaluate(shell: Shell, args: list[str]) -> int:
    if args and args[0] == "!":
        result = _evaluate(shell, args[1:])
        return result if result > 1 else 1 - result
    if not args:
        return 1
    if len(args) == 1:
        return 0 if args[0] else 1
    if len(args) == 2:
        op, value = args
        if op in ("-e", "-f", "-r", "-s", "-L", "-h", "-x"):
            exists = _exists(shell, value)
            if op == "-s":
                exists = bool(tools.file_text(shell.ctx.machine, value))
            return 0 if exists else 1
        if op == "-d":
            return 0 if value.rstrip("/") in _DIRECTORIES or value == "/" else 1
        if op == "-n":
            return 0 if value else 1
        if op == "-z":
            return 0 if not value else 1
        return 2
    if len(args) == 3:
        left, op, right = args
        if op in ("=", "=="):
            return 0 if left == right else 1
        if op == "!=":
            return 0 if left != right else 1
        numeric = {"-eq": "==", "-ne": "!=", "-lt": "<", "-le": "<=", "-gt": ">", "-ge": ">="}
        if op in numeric:
            try:
                a, b = int(left), int(right)
            except ValueError:
                return 2
            results = {
                "==": a == b,
                "!=": a != b,
                "<": a < b,
                "<=": a <= b,
                ">": a > b,
                ">=": a >= b,
            }
            return 0 if results[numeric[op]] else 1
    return 2


def _test(shell: Shell, args: list[str]) -> Output:
    result = _evaluate(shell, args)
    if result == 2:
        return Output.of("", "sh: test: unexpected operator\n", 2)
    return Output((), result)


def _bracket(shell: Shell, args: list[str]) -> Output:
    if not args or args[-1] != "]":
        return Output.of("", "sh: [: missing ]\n", 2)
    return _test(shell, args[:-1])


def _command_builtin(shell: Shell, args: list[str]) -> Output:
    if args and args[0] in ("-v", "-V"):
        verbose = args[0] == "-V"
        lines: list[str] = []
        missing = False
        for name in args[1:]:
            path = None
            if name in _BUILTIN_FUNCTIONS or name in _SPECIAL_BUILTINS or name == "exec":
                path = name
            else:
                program = shell._program(name)
                wrapper = name in _WRAPPERS and shell.ctx.machine.kind.program_path(name)
                if program is not None or wrapper:
                    path = name if "/" in name else shell.ctx.machine.kind.program_path(name)
            if path is None:
                missing = True
                if verbose:
                    lines.append(f"{name}: not found")
            elif verbose:
                lines.append(
                    f"{name} is a shell builtin"
                    if path == name and "/" not in name
                    else f"{name} is {path}"
                )
            else:
                lines.append(path)
        status = (127 if shell.ctx.machine.kind.shell == "dash" else 1) if missing else 0
        return Output.of("".join(line + "\n" for line in lines), "", status)
    if not args:
        return Output((), 0)
    return shell._dispatch(args, {}, 1)


def _type(shell: Shell, args: list[str]) -> Output:
    return _command_builtin(shell, ["-V", *args])


_BUILTIN_FUNCTIONS = {
    "echo": _echo,
    "printf": _printf,
    "true": _true,
    ":": _true,
    "false": _false,
    "test": _test,
    "[": _bracket,
    "command": _command_builtin,
    "cd": _cd,
    "pwd": _pwd,
    "type": _type,
}


def _export(shell: Shell, args: list[str]) -> int:
    for item in args:
        key, eq, value = item.partition("=")
        if eq:
            shell.vars[key] = value
    return 0


def _unset(shell: Shell, args: list[str]) -> int:
    for key in args:
        shell.vars.pop(key, None)
    return 0


def _set(shell: Shell, args: list[str]) -> int:
    for flag in args:
        if flag.startswith(("-", "+")) and "e" in flag:
            shell.errexit = flag.startswith("-")
    return 0


def _exit(shell: Shell, args: list[str]) -> int:
    raise _Exit(int(args[0]) if args and args[0].isdigit() else shell.status)


# builtins that change the shell itself: run in it, never through sudo or env
_SPECIAL_BUILTINS = {
    "export": _export,
    "readonly": _export,
    "unset": _unset,
    "set": _set,
    "exit": _exit,
}


# --- wrappers: programs that run other programs --------------------------------------------


_SUDO_USAGE = "usage: sudo -h | -K | -k | -V\nusage: sudo [-AbEHknPS] [-u user] command [arg ...]\n"


def _sudo(shell: Shell, args: list[str], assigned: dict[str, str], line: int) -> Output:
    ctx = shell.ctx
    non_interactive = False
    user = "root"
    i = 0
    while i < len(args) and args[i].startswith("-"):
        arg = args[i]
        i += 1
        if arg == "--":
            break
        if arg in ("-u", "--user") and i < len(args):
            user = args[i]
            i += 1
            continue
        if arg.startswith("--user="):
            user = arg.partition("=")[2]
            continue
        if arg in ("-g", "-C", "-p", "-h", "-r", "-t", "-T", "-U", "-D") and i < len(args):
            i += 1
            continue
        if arg == "--non-interactive" or (not arg.startswith("--") and "n" in arg[1:]):
            non_interactive = True
    command = args[i:]
    if not command:
        return Output.of("", _SUDO_USAGE, 1)
    if not ctx.root and (ctx.machine.sudo_password or ctx.faults.sudo_password):
        if non_interactive:
            return Output.of("", "sudo: a password is required\n", 1)
        return Output.of(
            "",
            "sudo: a terminal is required to read the password; either use the -S option to read "
            "from standard input or configure an askpass helper\n"
            "sudo: a password is required\n",
            1,
        )
    target = replace(ctx, root=user == "root", user=user if user != "root" else ctx.user)
    return shell.run_argv(command, target, assigned, line)


def _sh(shell: Shell, args: list[str], assigned: dict[str, str], line: int) -> Output:
    script: str | None = None
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "-c":
            script = args[i] if i < len(args) else None
            if script is None:
                return Output.of("", "sh: 0: -c requires an argument\n", 2)
            break
        if not arg.startswith(("-", "+")):
            break  # a script file: the fleet has none
    if script is None:
        return Output((), 0)  # reads its script from stdin, which is empty
    child = shell.child()
    child.vars.update(assigned)
    return child.run(script)


def _env(shell: Shell, args: list[str], assigned: dict[str, str], line: int) -> Output:
    env = dict(assigned)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "-i":
            i += 1
        elif arg == "-u" and i + 1 < len(args):
            i += 2
        elif "=" in arg and not arg.startswith("="):
            key, _, value = arg.partition("=")
            env[key] = value
            i += 1
        else:
            break
    command = args[i:]
    if not command:
        merged = {**shell.vars, **env}
        return Output.of("".join(f"{k}={v}\n" for k, v in sorted(merged.items())))
    return shell.run_argv(command, shell.ctx, env, line)


def _timeout(shell: Shell, args: list[str], assigned: dict[str, str], line: int) -> Output:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in ("-s", "-k", "--signal", "--kill-after") else 1
    if i >= len(args):
        return Output.of("", "timeout: missing operand\n", 125)
    output = shell.run_argv(args[i + 1 :], shell.ctx, assigned, line)
    if output.hang:  # the held lock outlasts the timeout
        return Output(output.chunks, 124)
    return output


def _nice(shell: Shell, args: list[str], assigned: dict[str, str], line: int) -> Output:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] == "-n" else 1
    return shell.run_argv(args[i:], shell.ctx, assigned, line)


_WRAPPERS = {
    "sudo": _sudo,
    "sh": _sh,
    "bash": _sh,
    "env": _env,
    "timeout": _timeout,
    "nice": _nice,
    "nohup": _nice,
}


def run_script(script: str, ctx: tools.Context) -> Output:
    """What ``sh -c SCRIPT`` prints on the machine, and its exit status."""
    return Shell(ctx, vars=dict(ctx.env)).run(script)

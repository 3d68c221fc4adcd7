"""How fastspike speaks to whoever called it.

From Python an argument is ``root`` and a setting ``device="cpu"``; from ``python -m
fastspike`` they are ``--root`` and ``--device cpu``. The command line runs inside
:func:`command_line`, and messages built with :func:`arg` and :func:`setting` use the
caller's words. Errors a user can fix are one line, raised as a ``ValueError`` or a
``FileNotFoundError`` (the subclasses below say which argument is wrong).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

__all__ = [
    "CheckpointError",
    "DataNotFoundError",
    "arg",
    "command_line",
    "from_command_line",
    "needs",
    "run_started",
    "setting",
]

_CLI: contextvars.ContextVar[bool] = contextvars.ContextVar("fastspike_cli", default=False)
_ON_START: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "fastspike_on_start", default=None
)


class DataNotFoundError(FileNotFoundError):
    """A dataset whose files are not where ``root`` says (``argument``: ``"root"``)."""

    argument = "root"


class CheckpointError(ValueError):
    """A file that is not a readable fastspike checkpoint (``argument``: ``"checkpoint"``;
    ``path``: the file)."""

    argument = "checkpoint"

    def __init__(self, path: str, message: str):
        super().__init__(f"checkpoint {path!r}: {message}")
        self.path = path


@contextlib.contextmanager
def command_line(on_start: Callable[[], None] | None = None) -> Iterator[None]:
    """Speak the command line's words inside; ``on_start()`` is called once a training run
    has loaded its data and made its run folder (:func:`run_started`)."""
    cli, start = _CLI.set(True), _ON_START.set(on_start)
    try:
        yield
    finally:
        _ON_START.reset(start)
        _CLI.reset(cli)


def from_command_line() -> bool:
    """Whether the caller is ``python -m fastspike``."""
    return _CLI.get()


def arg(name: str) -> str:
    """``name`` as the caller spells it: ``root`` from Python, ``--root`` from the command line."""
    return "--" + name.replace("_", "-") if _CLI.get() else name


def setting(name: str, value) -> str:
    """``device="cpu"`` from Python, ``--device cpu`` from the command line."""
    if _CLI.get():
        return f"{arg(name)} {value}"
    return f'{name}="{value}"' if isinstance(value, str) else f"{name}={value!r}"


def run_started() -> None:
    """Called by a trainer once its run has really started (the command line announces its
    run folder then, not before a run that fails at once)."""
    hook = _ON_START.get()
    if hook is not None:
        _ON_START.set(None)
        hook()


def needs(who: str, package: str, extra: str) -> str:
    """The one message for a missing optional package: ``who`` needs it (``"the web demo
    needs"``) and how to install it (the package, or its extra of ``pyproject.toml``)."""
    return (
        f'{who} {package}: pip install {package} (or the "{extra}" extra: '
        f'pip install -e ".[{extra}]" in the fastspike source folder)'
    )

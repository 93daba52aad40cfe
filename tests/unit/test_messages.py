"""The message catalogues (issue 15 item 3): every message a Kyso error carries is a named
entry of its package's catalogue, in English and Vietnamese, and no raise site writes its own
pair of strings any more."""

from __future__ import annotations

import ast
import importlib
import unicodedata
from pathlib import Path

import pytest

from kyso.errors import Message
from tests.unit.test_error_round_trip import ERRORS

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("kyso", "hsm", "ca_admin", "signer", "verification", "axis", "app")
CATALOGUES = ("kyso", "hsm", "verification", "axis", "signer")
# Packages whose raise sites still pass inline (en, vi) pairs: each leaves this set with the
# commit that moves its messages into its catalogue.
NOT_YET_MIGRATED = {"ca_admin"}
# Placeholders only the English fills, each with its reason (see the entry's comment).
ENGLISH_ONLY = {
    # the English names the exact reason a name is unsafe; the Vietnamese states the rule
    "axis.UNSAFE_ATTACHMENT_NAME": {"why"},
}


def _entries() -> list[tuple[str, Message]]:
    found = []
    for package in CATALOGUES:
        module = importlib.import_module(f"{package}.messages")
        for name, value in vars(module).items():
            if isinstance(value, Message):
                found.append((f"{package}.{name}", value))
            elif isinstance(value, dict):  # a table of messages (the kinds of documents, ...)
                found += [(f"{package}.{name}[{key}]", item) for key, item in value.items()
                          if isinstance(item, Message)]
    return found


ENTRIES = _entries()


def test_the_catalogues_are_found() -> None:
    assert len(ENTRIES) > 40


@pytest.mark.parametrize(("name", "message"), ENTRIES, ids=[n for n, _ in ENTRIES])
def test_every_entry_has_both_languages_and_the_same_placeholders(name: str, message: Message) -> None:
    assert message.en.strip() and message.vi.strip()
    english, vietnamese = message.placeholders()
    english -= ENGLISH_ONLY.get(name, set())
    assert english == vietnamese, f"{name}: {sorted(english)} in English, {sorted(vietnamese)} in Vietnamese"
    assert unicodedata.is_normalized("NFC", message.vi), f"{name}: Vietnamese text is not NFC"
    assert message.en == message.en.strip() and message.vi == message.vi.strip()


def test_a_template_fills_both_languages_and_takes_a_message_inside() -> None:
    outer = Message("cannot check: {why} ({n})", "không kiểm tra được: {why} ({n})")
    inner = Message("too slow", "quá chậm")
    assert outer.format(why=inner, n=3) == Message("cannot check: too slow (3)", "không kiểm tra được: quá chậm (3)")


def _strish(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return _strish(node.left) or _strish(node.right)
    return False


def _inline_pairs(path: Path, error_names: set[str]) -> list[str]:
    """Where ``path`` builds a message pair of its own: a Kyso error (or ``super().__init__``
    / ``cls`` inside one) called with two literal texts, or a ``Message`` written outside a
    catalogue."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    in_catalogue = path.name == "messages.py"
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    found = []

    def visit(node: ast.AST, in_error_class: bool) -> None:
        if isinstance(node, ast.ClassDef):
            in_error_class = node.name in error_names
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            is_super = (isinstance(func, ast.Attribute) and func.attr == "__init__"
                        and isinstance(func.value, ast.Call) and isinstance(func.value.func, ast.Name)
                        and func.value.func.id == "super")
            texts = [a for a in node.args if _strish(a)]
            texts += [k.value for k in node.keywords if k.arg in ("message", "message_en", "message_vi")
                      and _strish(k.value)]
            constructs_error = name in error_names or (in_error_class and (is_super or name == "cls"))
            if constructs_error and len(texts) >= 2:
                found.append(f"{shown}:{node.lineno}")
            if name == "Message" and not in_catalogue and texts:
                found.append(f"{shown}:{node.lineno} (Message outside a catalogue)")
        for child in ast.iter_child_nodes(node):
            visit(child, in_error_class)

    visit(tree, False)
    return found


def test_no_raise_site_writes_its_own_message_pair() -> None:
    """New messages go into the package's catalogue (``<package>/messages.py``), not inline."""
    error_names = {cls.__name__ for cls in ERRORS}
    found = []
    for package in PACKAGES:
        if package in NOT_YET_MIGRATED:
            continue
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                found += _inline_pairs(path, error_names)
    assert not found, "inline message pairs; add them to the package's messages.py:\n" + "\n".join(found)


def test_the_guard_sees_an_inline_pair(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from kyso.errors import BadRequest, KysoError, Message\n"
        "class Mine(KysoError):\n"
        "    def __init__(self, n: int) -> None:\n"
        "        super().__init__(f'{n} is wrong', f'{n} sai')\n"
        "def f() -> None:\n"
        "    raise BadRequest('the document is empty', 'tài liệu trống')\n"
        "def g() -> Message:\n"
        "    return Message('x', 'y')\n",
        encoding="utf-8",
    )
    found = _inline_pairs(sample, {"BadRequest", "KysoError", "Mine"})
    assert [f.rsplit(":", 1)[1].split()[0] for f in found] == ["4", "6", "8"]

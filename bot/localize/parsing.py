"""Definitions and imports of one file, by tree-sitter where a grammar is installed.

Python, JavaScript, TypeScript, Go, Rust and Java are parsed with tree-sitter queries; other
files get a line regex for definitions and no imports. Parsing never raises: a file that a
grammar cannot read still yields whatever the parser recovered.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import tree_sitter

PARSER_VERSION = 4  # bump when what a record holds changes; invalidates cached records

_PY = """
(function_definition name: (identifier) @def.function)
(class_definition name: (identifier) @def.class)
(module (expression_statement (assignment left: (identifier) @def.variable)))
(import_statement) @import
(import_from_statement) @import
"""
_JS = """
(function_declaration name: (identifier) @def.function)
(class_declaration name: (_) @def.class)
(method_definition name: (property_identifier) @def.function)
(variable_declarator name: (identifier) @def.function value: [(arrow_function) (function_expression)])
(import_statement source: (string) @import)
(call_expression function: (identifier) @_req arguments: (arguments (string) @import) (#eq? @_req "require"))
"""
_TS = _JS + """
(interface_declaration name: (type_identifier) @def.class)
(type_alias_declaration name: (type_identifier) @def.class)
"""
_GO = """
(function_declaration name: (identifier) @def.function)
(method_declaration name: (field_identifier) @def.function)
(type_spec name: (type_identifier) @def.class)
(import_spec path: (interpreted_string_literal) @import)
"""
_RUST = """
(function_item name: (identifier) @def.function)
(struct_item name: (type_identifier) @def.class)
(enum_item name: (type_identifier) @def.class)
(trait_item name: (type_identifier) @def.class)
(use_declaration argument: (_) @import)
"""
_JAVA = """
(class_declaration name: (identifier) @def.class)
(interface_declaration name: (identifier) @def.class)
(enum_declaration name: (identifier) @def.class)
(method_declaration name: (identifier) @def.function)
(import_declaration (scoped_identifier) @import)
"""
# suffix → (module, language function, query)
LANGUAGES: dict[str, tuple[str, str, str]] = {
    ".py": ("tree_sitter_python", "language", _PY),
    ".pyi": ("tree_sitter_python", "language", _PY),
    ".js": ("tree_sitter_javascript", "language", _JS),
    ".jsx": ("tree_sitter_javascript", "language", _JS),
    ".mjs": ("tree_sitter_javascript", "language", _JS),
    ".ts": ("tree_sitter_typescript", "language_typescript", _TS),
    ".tsx": ("tree_sitter_typescript", "language_tsx", _TS),
    ".go": ("tree_sitter_go", "language", _GO),
    ".rs": ("tree_sitter_rust", "language", _RUST),
    ".java": ("tree_sitter_java", "language", _JAVA),
}
_SYMBOL_LINE = re.compile(
    r"^\s*(?:export\s+)?(?:pub\s+)?(?:async\s+)?(?:def|class|function|func|fn|interface|struct|type|enum|module)\s+"
    r"([A-Za-z_][A-Za-z0-9_]*)", re.M)
_FROM_IMPORT = re.compile(r"from\s+(\.*)([\w.]*)\s+import\s+\(?([^)]*)\)?", re.S)
_PLAIN_IMPORT = re.compile(r"import\s+(.+)", re.S)
_CLASS_NODES = {"class_definition", "class_declaration", "class_body", "impl_item", "interface_declaration"}
_FUNCTION_NODES = {"function_definition", "function_declaration", "method_definition", "function_item",
                   "method_declaration"}


@dataclass(frozen=True)
class Definition:
    """A named definition: `kind` is class, function, method or variable; lines are 1-based."""

    name: str
    kind: str
    start: int
    end: int
    parent: str = ""


@dataclass(frozen=True)
class Parsed:
    """What the index keeps of a file's structure."""

    definitions: tuple[Definition, ...]
    imports: tuple[str, ...]


@cache
def _grammar(suffix: str) -> tuple[tree_sitter.Parser, tree_sitter.Query] | None:
    spec = LANGUAGES.get(suffix)
    if spec is None:
        return None
    module_name, function, query = spec
    try:
        module = importlib.import_module(module_name)
        language = tree_sitter.Language(getattr(module, function)())
        return tree_sitter.Parser(language), tree_sitter.Query(language, query)
    except (ImportError, AttributeError, ValueError, TypeError, tree_sitter.QueryError):
        return None


def has_grammar(path: str) -> bool:
    """Whether `path` is parsed with tree-sitter (otherwise: the regex fallback)."""
    return _grammar(_suffix(path)) is not None


def parse_file(path: str, source: bytes) -> Parsed:
    """Definitions and imports of `source`, the contents of `path`."""
    grammar = _grammar(_suffix(path))
    if grammar is None:
        return _regex_parse(source.decode("utf-8", "replace"))
    parser, query = grammar
    tree = parser.parse(source)
    captures: dict[str, list[Any]] = tree_sitter.QueryCursor(query).captures(tree.root_node)
    definitions: list[Definition] = []
    imports: list[str] = []
    for capture, nodes in captures.items():
        if capture.startswith("def."):
            definitions.extend(_definition(node, capture[4:]) for node in nodes)
        elif capture == "import":
            for node in nodes:
                imports.extend(_imports(path, node.text.decode("utf-8", "replace")))
    definitions.sort(key=lambda d: d.start)
    return Parsed(tuple(definitions), tuple(dict.fromkeys(imports)))


def _suffix(path: str) -> str:
    dot = path.rfind(".")
    return path[dot:].lower() if dot > path.rfind("/") else ""


def _definition(name_node: Any, kind: str) -> Definition:
    owner = name_node.parent
    parent = ""
    node = owner.parent if owner is not None else None
    while node is not None:
        if node.type in _CLASS_NODES and node.type != "class_body":
            named = node.child_by_field_name("name") or node.child_by_field_name("type")
            parent = named.text.decode("utf-8", "replace") if named is not None else ""
            break
        if node.type in _FUNCTION_NODES:
            break
        node = node.parent
    if kind == "function" and parent:
        kind = "method"
    span = owner if owner is not None else name_node
    return Definition(name_node.text.decode("utf-8", "replace"), kind, span.start_point[0] + 1,
                      span.end_point[0] + 1, parent)


def _imports(path: str, text: str) -> list[str]:
    """Module names an import statement refers to (Python: resolved relative to `path`)."""
    if not path.endswith((".py", ".pyi")):
        return [text.strip("\"'`").replace("::", ".")]
    found = _FROM_IMPORT.match(text)
    if found:
        dots, module, names = found.groups()
        base = _resolve_relative(path, len(dots), module) if dots else module
        members = [n.split(" as ")[0].strip() for n in names.replace("\\", " ").split(",")]
        return [base, *(f"{base}.{m}" if base else m for m in members if m and m != "*")]
    plain = _PLAIN_IMPORT.match(text)
    if plain:
        return [n.split(" as ")[0].strip() for n in plain.group(1).split(",") if n.strip()]
    return []


def _resolve_relative(path: str, level: int, module: str) -> str:
    package = path.split("/")[:-1]
    package = package[: len(package) - (level - 1)] if level > 1 else package
    return ".".join([*package, module] if module else package)


def _regex_parse(text: str) -> Parsed:
    definitions = []
    for match in _SYMBOL_LINE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        definitions.append(Definition(match.group(1), "function", line, line))
    return Parsed(tuple(definitions[:200]), ())

"""Turn a notebook cell into the file a compiler sees, remembering how its lines moved.

A Go cell may leave out ``package main`` and ``func main() {}`` (every Navidrome plugin needs
both); they are added here, and :class:`CellSource` maps the compiler's line numbers back to
the cell's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Module path of Navidrome's Go PDK; the build module points it at the bundled copy.
PDK_MODULE = "github.com/navidrome/navidrome/plugins/pdk/go"

# Navidrome's PDK, or Extism's go-pdk (served by the bundled stand-in next to it).
_PDK_IMPORT = re.compile(
    r'"(?:' + re.escape(PDK_MODULE) + "|" + re.escape("github.com/extism/go-pdk") + r')(?:/[^"\s]*)?"'
)
# Comments, raw strings, interpreted strings and runes: blanked before looking for clauses.
_GO_NON_CODE = re.compile(
    r"//[^\n]*|/\*.*?\*/|`[^`]*`|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.DOTALL
)
_PACKAGE_CLAUSE = re.compile(r"\s*package\b")
_FUNC_MAIN = re.compile(r"(?m)^[ \t]*func[ \t]+main[ \t]*\(")

PACKAGE_LINE = "package main\n"
MAIN_FUNC = "func main() {}\n"


@dataclass(frozen=True)
class CellSource:
    """The compiled text of a cell and the line bookkeeping between the two."""

    text: str
    cell_lines: int
    offset: int = 0
    added_package: bool = False
    added_main: bool = False
    label: str = "cell"  # what messages call the source: "cell line 4", "hello.go line 4"

    def cell_line(self, line: int) -> int | None:
        """The cell's line for ``line`` of the compiled file; None for a generated line."""
        user = line - self.offset
        return user if 1 <= user <= self.cell_lines else None

    def generated_part(self, line: int) -> str:
        """Name the code found at ``line`` of the compiled file when it is not the cell's."""
        if line <= self.offset:
            return "the added `package main` line"
        last = self.offset + self.cell_lines
        if self.added_main and line <= last + 2:  # a blank line, then the function
            return "the added `func main() {}` (after the cell)"
        return "the end of the cell"


def normalize(source: str | bytes) -> str:
    """Decode and canonicalise a cell: UTF-8, no BOM, LF line ends, one final newline.

    Only changes that cannot alter a program's meaning or its line numbers are made, so two
    cells that differ only in them share a cache entry.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = bytes(source).decode("utf-8")
    text = source.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    text = text.rstrip()
    return text + "\n" if text else ""


def prepare_go(text: str) -> CellSource:
    """Add ``package main`` and ``func main() {}`` when the normalised cell lacks them."""
    code = go_code_only(text)
    lines = text.count("\n")
    added_package = not _PACKAGE_CLAUSE.match(code)
    added_main = not _FUNC_MAIN.search(code)
    compiled = text
    if added_package:
        compiled = PACKAGE_LINE + compiled
    if added_main:
        compiled = compiled + ("\n" if compiled else "") + MAIN_FUNC
    return CellSource(
        text=compiled,
        cell_lines=lines,
        offset=1 if added_package else 0,
        added_package=added_package,
        added_main=added_main,
    )


def prepare_plain(text: str) -> CellSource:
    """A cell compiled as written (WebAssembly text)."""
    return CellSource(text=text, cell_lines=text.count("\n"))


def uses_pdk(text: str) -> bool:
    """True when the Go source imports Navidrome's Go PDK (or Extism's go-pdk)."""
    return bool(_PDK_IMPORT.search(text))


def go_code_only(text: str) -> str:
    """``text`` with comments and string literals blanked out; newlines are kept."""
    return _GO_NON_CODE.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)


# An import spec: an optional name (alias, "_" or ".") and a quoted path.
_IMPORT_SPEC = re.compile(r'(?:^|[\s(;])(?:([A-Za-z_]\w*|\.)\s+)?"([^"\n]+)"')
_IMPORT_DECL = re.compile(r"(?m)^[ \t]*import\b[ \t]*(\((?:[^)]*)\)|[^\n]*)")
_FUNC_MAIN_OPEN = re.compile(r"(?m)^[ \t]*func[ \t]+main[ \t]*\([ \t]*\)[^{\n]*\{")


def registrations_in_main(text: str) -> list[str]:
    """The PDK ``Register`` calls written directly in ``func main()``, as ``pkg.Register``.

    A Go plugin is built as a WASI reactor (``-buildmode=c-shared``): the host runs its package
    initialisation (``_initialize``) and then its exports, never ``main``. A capability
    registered there is never registered, so its exports answer "not implemented".
    """
    code = go_code_only(text)
    pdk_packages: dict[str, str] = {}
    for decl in _IMPORT_DECL.finditer(text):
        # Import paths are string literals: read from the text where the code says import.
        if code[decl.start():decl.start() + 20].strip()[:6] != "import":
            continue
        for name, path in _IMPORT_SPEC.findall(decl.group(1)):
            if path == PDK_MODULE or not path.startswith(PDK_MODULE + "/") or name in ("_", "."):
                continue
            pdk_packages[name or path.rsplit("/", 1)[-1]] = path
    found = []
    for opening in _FUNC_MAIN_OPEN.finditer(code):
        body = _braced(code, opening.end())
        for m in re.finditer(r"\b([A-Za-z_]\w*)\s*\.\s*(Register\w*)\s*\(", body):
            name = f"{m.group(1)}.{m.group(2)}"
            if m.group(1) in pdk_packages and name not in found:
                found.append(name)
    return found


def _braced(code: str, start: int) -> str:
    """The text from ``start`` (just after an opening brace) to its closing brace."""
    depth = 1
    for i in range(start, len(code)):
        if code[i] == "{":
            depth += 1
        elif code[i] == "}":
            depth -= 1
            if depth == 0:
                return code[start:i]
    return code[start:]


def main_registration_warning(names: list[str]) -> str:
    """What a build says about :func:`registrations_in_main`'s findings."""
    calls = ", ".join(f"{n}(...)" for n in names)
    return (f"func main() calls {calls}, but a plugin's main() never runs: Navidrome runs "
            f"its package initialisation (_initialize), then its exports; nothing is "
            f"registered, and the exports answer \"not implemented\". Call "
            f"{'it' if len(names) == 1 else 'them'} from func init() instead.")


def go_warnings(texts: list[str]) -> tuple[str, ...]:
    """Warnings about the Go files of a plugin's package main (see BuildResult.warnings)."""
    names: list[str] = []
    for text in texts:
        names += [n for n in registrations_in_main(text) if n not in names]
    return (main_registration_warning(names),) if names else ()

"""The reference pages' tables, generated from the code so that they cannot drift from it.

At ``builder-inited`` this writes Markdown under ``docs/_generated/`` (not committed), which the
reference pages pull in with MyST's ``{include}``:

- ``settings.md``: every property of ``nxwa_onboarding.conf.Settings`` (``KNOWN_KEYS``), its
  default (read from the property with no ``NXWA_ONBOARDING`` set), the system checks that
  validate it and its docstring. A key without a docstring is a warning, so ``make docs`` fails.
- ``checks.md``: every ``nxwa_onboarding.*`` check id raised anywhere in the package, its level
  and message, read from the source (``checks.TYPES`` and every ``Error``/``Warning`` call).
- ``signals.md``: every ``Signal()`` in ``nxwa_onboarding.signals`` with its ``#:`` comment.
- ``commands.md``: every management command, its help and arguments, from its own parser.
- ``problems.md``: every problem ``type`` the JSON API answers, its status and title.
- ``api.md``: the operations and schemas of the committed ``nxwa_onboarding/api/openapi.json``.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import pkgutil
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "nxwa_onboarding"
CHECK_ID = re.compile(r"nxwa_onboarding\.[CEWID]\d{3}")
#: The arguments every management command has; the reference lists each command's own.
DJANGO_OPTIONS = {
    "--version",
    "--verbosity",
    "--settings",
    "--pythonpath",
    "--traceback",
    "--no-color",
    "--force-color",
    "--skip-checks",
    "--help",
}


DJANGO_USAGE = re.compile(
    r" \[(-h|--version|-v \{[0-9,]+\}|--settings SETTINGS|--pythonpath PYTHONPATH|--traceback"
    r"|--no-color|--force-color|--skip-checks)\]"
)


# -- Markdown helpers -------------------------------------------------------------------------------


def cell(text: object) -> str:
    """One table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def code(text: object) -> str:
    value = str(text)
    fence = "``" if "`" in value else "`"
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def table(header: list[str], rows: Iterable[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def docstring_text(text: str | None) -> str:
    """A docstring as one Markdown paragraph: reST's double backquotes become Markdown's."""
    if not text:
        return ""
    return " ".join(text.split()).replace("``", "`")


# -- reading the source ---------------------------------------------------------------------------


def package_modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts)


def literal_text(node: ast.AST | None) -> str | None:
    """The text of a string literal, an f-string (its fields shown as ``…``) or a concatenation."""
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else "…" for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = literal_text(node.left), literal_text(node.right)
        if left is not None or right is not None:
            return (left or "…") + (right or "…")
    if isinstance(node, ast.Call) and node.args and getattr(node.func, "id", "") in {"_", "gettext"}:
        return literal_text(node.args[0])
    return None


@dataclass
class CheckCall:
    check_id: str
    level: str
    message: str
    hint: str
    module: str


def check_calls() -> list[CheckCall]:
    """Every ``Error(..., id="nxwa_onboarding.…")`` (or Warning, …) call in the package."""
    found: list[CheckCall] = []
    for path in package_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name not in {"Critical", "Error", "Warning", "Info", "Debug"}:
                continue
            keywords = {keyword.arg: keyword.value for keyword in node.keywords}
            check_id = literal_text(keywords.get("id"))
            if not check_id or not CHECK_ID.fullmatch(check_id):
                continue
            message = literal_text(node.args[0] if node.args else keywords.get("msg")) or "…"
            hint = literal_text(keywords.get("hint")) or ""
            message, hint = re.sub("…+", "…", message), re.sub("…+", "…", hint)
            found.append(CheckCall(check_id, name, message, hint, module))
    return found


def ids_in_source() -> dict[str, set[str]]:
    """Every check id written anywhere in the package: id -> the modules that name it."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in package_modules():
        for check_id in CHECK_ID.findall(path.read_text(encoding="utf-8")):
            found[check_id].add(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return found


# -- the pages -------------------------------------------------------------------------------------


def settings_page() -> str:
    from django.test import override_settings

    from nxwa_onboarding import checks
    from nxwa_onboarding.conf import KNOWN_KEYS, Settings

    ids_by_key: dict[str, set[str]] = defaultdict(set)
    for key, (_valid, _expected, check_id) in checks.TYPES.items():
        ids_by_key[key].add(check_id)
    for call in check_calls():
        for key in KNOWN_KEYS:
            if f"[{key!r}]" in call.message + " " + call.hint:
                ids_by_key[key].add(call.check_id)

    rows = []
    with override_settings(NXWA_ONBOARDING={}):
        for key in KNOWN_KEYS:
            member = vars(Settings)[key]
            doc = docstring_text(member.__doc__)
            if not doc:
                logger.warning("nxwa_onboarding.conf: the setting %s has no docstring", key)
            try:
                default = code(repr(getattr(Settings(), key)))
            except Exception:  # a key with no usable default: required
                default = "required"
            if key in {"ACCESS_KEY", "ACCESS_SECRET"}:
                default = "required"
            checks_text = ", ".join(
                f"[{check_id.split('.')[1]}](checks.md#{check_id.split('.')[1].lower()})"
                for check_id in sorted(ids_by_key[key])
            )
            rows.append([f"{code(key)}", default, checks_text or "—", doc])
    return table(["Key", "Default", "Checks", "Meaning"], rows)


def checks_page() -> str:
    calls = check_calls()
    named = ids_in_source()
    from nxwa_onboarding import checks

    by_id: dict[str, list[str]] = defaultdict(list)
    levels: dict[str, str] = {}
    modules: dict[str, set[str]] = defaultdict(set)
    keys_by_rule: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key, (_valid, expected, check_id) in checks.TYPES.items():
        keys_by_rule[check_id, expected].append(f"NXWA_ONBOARDING[{key!r}]")
    for (check_id, expected), keys in keys_by_rule.items():
        by_id[check_id].append(f"{', '.join(keys)} must be {expected}.")
        levels[check_id] = "Error" if check_id.split(".")[1].startswith("E") else "Warning"
        modules[check_id].add("nxwa_onboarding.checks")
    for call in calls:
        if call.message != "…" and not call.message.startswith("NXWA_ONBOARDING[…]"):
            by_id[call.check_id].append(call.message + (f" *Hint:* {call.hint}" if call.hint else ""))
        levels[call.check_id] = call.level
        modules[call.check_id].add(call.module)
    for check_id, where in named.items():
        modules[check_id] |= where
        levels.setdefault(check_id, "Error" if check_id.split(".")[1].startswith("E") else "Warning")
    out = []
    for check_id in sorted(set(named) | set(by_id)):
        short = check_id.split(".")[1]
        out.append(f"## {short}\n")
        where = ", ".join(sorted(map(code, modules[check_id])))
        out.append(f"**{levels[check_id]}** `{check_id}`, raised by {where}.\n")
        for message in dict.fromkeys(by_id[check_id]):
            out.append(f"- {message.replace('`', '')}")
        out.append("")
    return "\n".join(out) + "\n"


def doc_comments(path: Path) -> dict[str, str]:
    """``#:`` comments right above a module-level assignment: name -> text."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: dict[str, str] = {}
    for index, line in enumerate(lines):
        match = re.match(r"^([a-z_][a-z0-9_]*)\s*=", line)
        if not match:
            continue
        comment: list[str] = []
        above = index - 1
        while above >= 0 and lines[above].startswith("#:"):
            comment.insert(0, lines[above][2:].strip())
            above -= 1
        found[match[1]] = " ".join(comment)
    return found


def signals_page() -> str:
    from django.dispatch import Signal

    from nxwa_onboarding import signals

    comments = doc_comments(PACKAGE / "signals.py")
    rows = [
        [code(name), docstring_text(comments.get(name, ""))]
        for name, value in vars(signals).items()
        if isinstance(value, Signal)
    ]
    return docstring_text(signals.__doc__) + "\n\n" + table(["Signal", "Sent"], rows)


def commands_page() -> str:
    from django.core.management import load_command_class

    out = []
    commands = PACKAGE / "management" / "commands"
    for info in sorted(pkgutil.iter_modules([str(commands)]), key=lambda item: item.name):
        if info.name.startswith("_"):
            continue
        command = load_command_class("nxwa_onboarding", info.name)
        parser = command.create_parser("manage.py", info.name)
        usage = " ".join(parser.format_usage().split())
        usage = DJANGO_USAGE.sub("", usage.removeprefix("usage: "))
        out.append(f"## `{info.name}`\n")
        out.append(f"```text\n{usage}\n```\n")
        out.append(docstring_text(command.help) + "\n")
        rows = []
        for action in parser._actions:
            names = action.option_strings or [action.dest]
            if set(names) & DJANGO_OPTIONS or action.help == argparse.SUPPRESS:
                continue
            rows.append([", ".join(code(name) for name in names), docstring_text(action.help or "")])
        if rows:
            out.append(table(["Argument", "Meaning"], rows))
    return "\n".join(out)


def problems_page() -> str:
    from django.utils import translation

    from nxwa_onboarding.api import problems
    from nxwa_onboarding.choices import Failure, RefusalReason
    from nxwa_onboarding.services import situation

    found: dict[str, tuple[str, str]] = {}
    with translation.override("en"):
        for reason in RefusalReason.values:
            problem = problems.refused(reason)
            found[problem.type] = (str(problem.status), problem.title)
        for kind in Failure.values:
            problem = problems.failed(kind)
            found[problem.type] = (str(problem.status), problem.title)
        for situation_name, name in problems.ADDING_TYPES.items():  # a number that was not added
            found[problems.type_uri(name)] = ("409", str(situation.title(situation_name)))
    for path in sorted((PACKAGE / "api").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            if getattr(node.func, "id", getattr(node.func, "attr", "")) != "Problem":
                continue
            if len(node.args) < 3 or isinstance(node.args[1], ast.JoinedStr | ast.IfExp):
                continue
            name = literal_text(node.args[1])
            if name is None:
                try:
                    name = str(eval(ast.unparse(node.args[1]), vars(problems)))  # noqa: S307 (our own source)
                except Exception:  # a name only known at run time: its call is documented by hand
                    logger.info("problem type not read from %s", ast.unparse(node.args[1]))
                    continue
            status = node.args[0].value if isinstance(node.args[0], ast.Constant) else "—"
            title = literal_text(node.args[2])
            if title is None:
                try:
                    with translation.override("en"):
                        title = str(eval(ast.unparse(node.args[2]), vars(problems)))  # noqa: S307
                except Exception:
                    title = "—"
            found.setdefault(problems.type_uri(name), (str(status), title))
    rows = [
        [code(type_.removeprefix(problems.TYPE_PREFIX)), status, title]
        for type_, (status, title) in sorted(found.items())
    ]
    return f"Every `type` begins with `{problems.TYPE_PREFIX}`; the table gives what follows it.\n\n" + table(
        ["`type`", "Status", "Title"], rows
    )


def schema_type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return f"[{name}](#schema-{name.lower()})"
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            return " or ".join(schema_type(part) for part in schema[combinator])
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array":
        return "array of " + schema_type(schema.get("items", {}))
    if "format" in schema:
        kind += f" ({schema['format']})"
    return str(kind)


def constraints(schema: dict[str, Any]) -> str:
    parts = []
    if "enum" in schema:
        parts.append("one of " + ", ".join(code(json.dumps(value)) for value in schema["enum"]))
    for key in ("minLength", "maxLength", "minimum", "maximum", "pattern"):
        if key in schema:
            parts.append(f"{key} {code(schema[key])}")
    if "example" in schema:
        parts.append("e.g. " + code(json.dumps(schema["example"], ensure_ascii=False)))
    elif schema.get("examples"):
        parts.append("e.g. " + code(json.dumps(schema["examples"][0], ensure_ascii=False)))
    return "; ".join(parts)


def api_page() -> str:
    document = json.loads((PACKAGE / "api" / "openapi.json").read_text(encoding="utf-8"))
    info = document.get("info", {})
    out = [
        f"OpenAPI {document.get('openapi', '')}, *{info.get('title', '')}* version "
        f"{info.get('version', '')}. {info.get('description', '')}\n"
    ]
    servers = document.get("servers") or []
    if servers:
        out.append("Servers: " + ", ".join(code(server.get("url", "")) for server in servers) + ".\n")
    schemes = document.get("components", {}).get("securitySchemes", {})
    if schemes:
        out.append("## Authentication\n")
        out.append(
            table(
                ["Scheme", "Kind", "Where", "Description"],
                (
                    [
                        code(name),
                        scheme.get("type", "") + (f" ({scheme['scheme']})" if "scheme" in scheme else ""),
                        f"{scheme.get('in', '')} {code(scheme['name']) if 'name' in scheme else ''}".strip()
                        or "—",
                        docstring_text(scheme.get("description", "")) or "—",
                    ]
                    for name, scheme in schemes.items()
                ),
            )
        )
    out.append("## Operations\n")
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method not in {"get", "put", "post", "patch", "delete", "head", "options"}:
                continue
            out.append(f"### `{method.upper()} {path}`\n")
            summary = operation.get("summary", "")
            description = operation.get("description", "")
            lead = f"**{summary}**." if summary else ""
            out.append(" ".join(filter(None, [lead, docstring_text(description)])))
            if "operationId" in operation:
                out.append(f"\nOperation id: `{operation['operationId']}`.\n")
            parameters = operation.get("parameters", []) + item.get("parameters", [])
            if parameters:
                out.append(
                    table(
                        ["Parameter", "In", "Type", "Constraints"],
                        (
                            [
                                code(parameter["name"]),
                                parameter.get("in", ""),
                                schema_type(parameter.get("schema", {})),
                                constraints(parameter.get("schema", {})) or "—",
                            ]
                            for parameter in parameters
                        ),
                    )
                )
            body = operation.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                out.append(f"Request body ({code(media)}): {schema_type(content.get('schema', {}))}.\n")
            responses = operation.get("responses", {})
            out.append(
                table(
                    ["Status", "Description", "Body"],
                    (
                        [
                            code(status),
                            docstring_text(response.get("description", "")) or "—",
                            ", ".join(
                                f"{schema_type(content.get('schema', {}))} ({code(media)})"
                                for media, content in response.get("content", {}).items()
                            )
                            or "—",
                        ]
                        for status, response in responses.items()
                    ),
                )
            )
    schemas = document.get("components", {}).get("schemas", {})
    if schemas:
        out.append("## Schemas\n")
    for name, schema in schemas.items():
        out.append(f"(schema-{name.lower()})=\n### {name}\n")
        if schema.get("description"):
            out.append(docstring_text(schema["description"]) + "\n")
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        if properties:
            out.append(
                table(
                    ["Field", "Type", "Required", "Description", "Constraints"],
                    (
                        [
                            code(field),
                            schema_type(value),
                            "yes" if field in required else "no",
                            docstring_text(value.get("description", "")) or "—",
                            constraints(value) or "—",
                        ]
                        for field, value in properties.items()
                    ),
                )
            )
        elif "enum" in schema:
            out.append(constraints(schema) + "\n")
    return "\n".join(out) + "\n"


PAGES = {
    "settings": settings_page,
    "checks": checks_page,
    "signals": signals_page,
    "commands": commands_page,
    "problems": problems_page,
    "api": api_page,
}


def generate(app: Sphinx) -> None:
    target = Path(app.srcdir) / "_generated"
    target.mkdir(exist_ok=True)
    for name, page in PAGES.items():
        try:
            body = page()
        except Exception as err:  # the build goes on, and fails (-W) naming the page and the error
            logger.warning("docs/_ext/nxwa_reference.py could not generate %s.md: %r", name, err)
            body = f"*This table could not be generated: {err!r}.*\n"
        text = "<!-- Generated by docs/_ext/nxwa_reference.py from the code: do not edit. -->\n\n" + body
        path = target / f"{name}.md"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")


def setup(app: Sphinx) -> dict[str, Any]:
    importlib.import_module("django").setup()
    app.connect("builder-inited", generate)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

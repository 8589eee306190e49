"""Splitting a SQL script into statements (asyncpg prepares each statement, so scripts go one by one)."""

from __future__ import annotations

import re

_DOLLAR = re.compile(r"\$[A-Za-z_]*\$")


def split_sql(script: str) -> list[str]:
    """Statements of ``script``, split on top-level semicolons; quotes, dollar-quoted bodies and
    ``--`` comments are respected."""
    statements: list[str] = []
    current: list[str] = []
    index, length = 0, len(script)
    while index < length:
        char = script[index]
        if script.startswith("--", index):
            end = script.find("\n", index)
            index = length if end == -1 else end + 1
            current.append("\n")
            continue
        if char == "'":
            end = index + 1
            while end < length:
                if script[end] == "'" and script[end + 1 : end + 2] == "'":
                    end += 2
                    continue
                if script[end] == "'":
                    break
                end += 1
            current.append(script[index : end + 1])
            index = end + 1
            continue
        dollar = _DOLLAR.match(script, index) if char == "$" else None
        if dollar is not None:
            tag = dollar.group(0)
            end = script.find(tag, dollar.end())
            end = length if end == -1 else end + len(tag)
            current.append(script[index:end])
            index = end
            continue
        if char == ";":
            statement = "".join(current).strip()
            if statement:
                statements.append(statement)
            current = []
        else:
            current.append(char)
        index += 1
    tail = "".join(current).strip()
    if tail:
        statements.append(tail)
    return statements

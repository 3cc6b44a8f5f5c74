#!/usr/bin/env python3
"""Which modules of src/ import each other in a circle.

Every `crate::a::b…` and `super::…` path in a file (in `use` lines, braces expanded, and inline)
names the module file it lands in; a module is a file (`src/flows/members.rs` is
`flows::members`, `src/flows/mod.rs` is `flows`). A parent module's file declaring its children
(`pub mod members;`) is not an import. The script prints every strongly connected group of more
than one module and exits 1 if there is any; `--edges` prints the whole graph.

    python3 scripts/module_cycles.py            # no output and exit 0: no circles
"""
import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def module_files():
    modules = {}
    for root, _, files in os.walk(SRC):
        for f in files:
            if not f.endswith(".rs") or f in ("main.rs",):
                continue
            path = os.path.relpath(os.path.join(root, f), SRC)
            parts = path[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib"):
                parts = parts[:-1]
            modules["::".join(parts)] = os.path.join(root, f)
    return modules


def expand_use(text):
    """`use crate::{a, b::{c, d}}` → ['crate::a', 'crate::b::c', 'crate::b::d']."""
    out = []
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        stack = [("", m.group(1).replace("\n", " "))]
        while stack:
            prefix, body = stack.pop()
            body = body.strip()
            brace = body.find("{")
            if brace == -1:
                for item in body.split(","):
                    item = item.strip().split(" as ")[0].strip()
                    if item:
                        out.append(prefix + item)
                continue
            head = body[:brace]
            inner = body[brace + 1: body.rfind("}")]
            # split inner on top-level commas
            depth, start, items = 0, 0, []
            for i, ch in enumerate(inner):
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                elif ch == "," and depth == 0:
                    items.append(inner[start:i])
                    start = i + 1
            items.append(inner[start:])
            for item in items:
                if item.strip():
                    stack.append((prefix + head, item))
    return out


def resolve(path, here, modules):
    parts = [p for p in path.split("::") if p and p != "self"]
    if not parts:
        return None
    if parts[0] == "crate":
        parts = parts[1:]
    elif parts[0] == "super":
        base = here.split("::") if here else []
        while parts and parts[0] == "super":
            parts = parts[1:]
            base = base[:-1]
        parts = base + parts
    else:
        return None
    # the longest prefix that is a module file
    for n in range(len(parts), 0, -1):
        name = "::".join(parts[:n])
        if name in modules:
            return name
    return None


def graph():
    modules = module_files()
    edges = {m: set() for m in modules}
    for name, file in modules.items():
        text = open(file, encoding="utf-8").read()
        text = re.sub(r"#\[cfg\(test\)\]\s*mod tests\s*\{.*", "", text, flags=re.S)
        # comments name modules without importing them
        text = re.sub(r"//[^\n]*", "", text)
        paths = expand_use(text) + re.findall(r"\b(?:crate|super)(?:::[A-Za-z_][A-Za-z0-9_]*)+", text)
        for p in paths:
            target = resolve(p, name, modules)
            if target and target != name:
                edges[name].add(target)
    return edges


def cycles(edges):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            strong(v)
    return out


def main():
    edges = graph()
    if "--edges" in sys.argv:
        for k in sorted(edges):
            print(f"{k} -> {', '.join(sorted(edges[k]))}")
    found = cycles(edges)
    for group in found:
        inner = {m: sorted(t for t in edges[m] if t in group) for m in group}
        print(f"circle of {len(group)} modules:")
        for m in group:
            print(f"  {m} -> {', '.join(inner[m])}")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()

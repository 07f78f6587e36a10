#!/usr/bin/python3
"""Checks the layering that SwiftPM alone does not enforce (docs/architecture.md), and fails on a
breach; run by scripts/test.sh. Usage: check-layers.py [REPOSITORY]

1. Every module imports only the modules of this package it declares as dependencies (on Linux a
   module sees its dependencies' dependencies too, so an undeclared import builds and hides a layer
   crossing).
2. BackupModel stays pure: it imports Foundation and nothing else (no Glibc, no C, no other module);
   BackupPOSIX imports nothing of the engine (SwiftPM already refuses that: it is not a dependency).
3. Module size: no module of Sources/ over LIMIT lines of Swift, but those listed in OVERSIZED with
   their current ceiling (which only goes down).
4. No new cycle between the folders of a module: a folder uses another when it names a type declared
   there; the cycles that exist today are listed in KNOWN_CYCLES (to be removed by the split of issue
   25) and may shrink, never grow or multiply.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

LIMIT = 3000
# Modules over LIMIT today, with the most lines they may have: to be split (issue 25).
OVERSIZED = {"BackupCore": 6400}
# Folder cycles of today, each as the set of folders in one strongly connected component.
KNOWN_CYCLES = {
    "BackupCore": [
        {"Jobs", "Manifest", "Metrics", "Plugins", "Preview", "Status", "Store"},
    ],
    # The CLI: the root command names its subcommands, which name it back (@ParentCommand); options
    # and support helpers share types both ways.
    "gwbackup": [{".", "Commands"}, {"Options", "Support"}],
}

root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The toolchain's swift: $SWIFT, else on PATH, else where Swift's Linux packages put it.
swift = os.environ.get("SWIFT") or shutil.which("swift") or next(
    (path for path in ("/opt/swift/usr/bin/swift", "/usr/local/bin/swift", "/usr/bin/swift") if os.access(path, os.X_OK)), "swift")
# A scratch path of its own: the package's .build may be locked by a build or `swift test` running now.
scratch = tempfile.mkdtemp(prefix="gwb-layers-")
try:
    package = json.loads(subprocess.run([swift, "package", "--scratch-path", scratch, "dump-package"], cwd=root, capture_output=True, text=True, check=True, timeout=120).stdout)
finally:
    shutil.rmtree(scratch, ignore_errors=True)
targets = {}
for target in package["targets"]:
    if target["type"] in ("system", "binary", "plugin", "macro"):
        continue
    path = target.get("path") or os.path.join("Tests" if target["type"] == "test" else "Sources", target["name"])
    declared = set()
    for dependency in target["dependencies"]:
        kind, value = next(iter(dependency.items()))
        if kind in ("byName", "target"):
            declared.add(value[0])
    targets[target["name"]] = (os.path.join(root, path), declared)
ours = set(targets) | {t["name"] for t in package["targets"] if t["type"] == "system"}

failures = []


def swift_files(directory):
    for base, _, files in os.walk(directory):
        for name in files:
            if name.endswith(".swift"):
                yield os.path.join(base, name)


import_pattern = re.compile(r"^\s*(?:@testable\s+|@_\w+\s+)?(?:public\s+|package\s+|internal\s+)?import\s+(?:struct\s+|enum\s+|class\s+|func\s+)?([A-Za-z_][A-Za-z0-9_]*)", re.M)
for name, (directory, declared) in sorted(targets.items()):
    lines = 0
    imported = set()
    for path in swift_files(directory):
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        lines += text.count("\n")
        for module in import_pattern.findall(text):
            if module in ours and module != name and module not in declared:
                failures.append(f"{os.path.relpath(path, root)}: imports {module}, which target {name} does not declare")
            imported.add(module)
    if name == "BackupModel" and imported - {"Foundation"}:
        failures.append(f"BackupModel imports {sorted(imported - {'Foundation'})}: the model is Foundation only (no I/O, no C)")
    if directory.startswith(os.path.join(root, "Sources")):
        ceiling = OVERSIZED.get(name, LIMIT)
        if lines > ceiling:
            failures.append(f"module {name} has {lines} lines of Swift, over {ceiling}" + (" (its ceiling until it is split)" if name in OVERSIZED else ""))
        elif name in OVERSIZED and lines <= LIMIT:
            print(f"note: {name} is down to {lines} lines: remove it from OVERSIZED")

# Folder cycles.
declaration = re.compile(r"^\s*(?:public\s+|package\s+|internal\s+|private\s+|fileprivate\s+)?(?:final\s+)?(?:struct|enum|class|protocol|actor|typealias)\s+([A-Z][A-Za-z0-9_]*)", re.M)
for name, (directory, _) in sorted(targets.items()):
    if not directory.startswith(os.path.join(root, "Sources")):
        continue
    folders = {}
    for path in swift_files(directory):
        relative = os.path.relpath(path, directory)
        folder = relative.split(os.sep)[0] if os.sep in relative else "."
        with open(path, encoding="utf-8") as handle:
            folders.setdefault(folder, []).append(handle.read())
    if len(folders) < 2:
        continue
    owner = {}
    for folder, texts in folders.items():
        for text in texts:
            for type_name in declaration.findall(text):
                owner.setdefault(type_name, folder)
    edges = {folder: set() for folder in folders}
    for folder, texts in folders.items():
        words = set()
        for text in texts:
            text = re.sub(r"//.*", "", text)
            words.update(re.findall(r"\b[A-Z][A-Za-z0-9_]*\b", text))
        for word in words:
            other = owner.get(word)
            if other and other != folder:
                edges[folder].add(other)
    # Tarjan's strongly connected components.
    index, low, on_stack, stack, components, counter = {}, {}, set(), [], [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for successor in edges[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    known = KNOWN_CYCLES.get(name, [])
    for component in components:
        if not any(component <= allowed for allowed in known):
            failures.append(f"module {name}: a new cycle between folders {sorted(component)}")
    for allowed in known:
        within = [component for component in components if component <= allowed]
        if not any(component & allowed for component in components):
            print(f"note: module {name}: the known cycle {sorted(allowed)} is gone: remove it from KNOWN_CYCLES")
        elif within and max(within, key=len) != allowed:
            print(f"note: module {name}: the known cycle shrank to {sorted(max(within, key=len))}: update KNOWN_CYCLES")

for failure in failures:
    print("FAIL " + failure)
if failures:
    sys.exit(1)
print(f"layers ok: {len(targets)} targets, imports declared, BackupModel pure, module sizes and folder cycles within their bounds")

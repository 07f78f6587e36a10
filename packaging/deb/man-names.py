#!/usr/bin/env python3
"""Renames swift-argument-parser's man pages to Debian's names, as git's are: `gwbackup.user.add.1`
(NAME "gwbackup user add") becomes `gwbackup-user-add.1` whose NAME is `gwbackup-user-add`, so that
whatis and `man gwbackup-user-add` find it; the synopsis keeps the command as typed. The `help`
page (the argument parser's own subcommand) is dropped. Usage: man-names.py FROM_DIR TO_DIR"""
import os
import re
import sys

source, target = sys.argv[1], sys.argv[2]
os.makedirs(target, exist_ok=True)
for file in sorted(os.listdir(source)):
    if not file.endswith(".1") or file == "gwbackup.help.1":
        continue
    command = file[:-2].replace(".", " ")
    name = file[:-2].replace(".", "-")
    text = open(os.path.join(source, file), encoding="utf-8").read()
    text = re.sub(r"^\.Dt \S+ 1$", ".Dt %s 1" % name.upper(), text, count=1, flags=re.M)
    text = re.sub(r'^\.Nm "?%s"?$' % re.escape(command), ".Nm %s" % name, text, count=1, flags=re.M)
    # The first bare .Nm after SYNOPSIS would print the page's name: print the command as typed.
    head, sep, tail = text.partition(".Sh SYNOPSIS\n")
    if sep:
        tail = re.sub(r"^\.Nm$", '.Nm "%s"' % command, tail, count=1, flags=re.M)
        text = head + sep + tail
    text = re.sub(r"^\.Xr gwbackup\.help 1 ,?\n", "", text, flags=re.M)
    text = re.sub(r"^(\.Xr )gwbackup\.(\S+)", lambda m: m.group(1) + "gwbackup-" + m.group(2).replace(".", "-"), text, flags=re.M)
    text = re.sub(r",\n(\.Sh )", r"\n\1", text)
    with open(os.path.join(target, name + ".1"), "w", encoding="utf-8") as out:
        out.write(text)

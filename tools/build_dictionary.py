"""Build bot/data/dictionary.txt from SCOWL (Debian's `scowl` package, /usr/share/dict/scowl).

Run by hand when SCOWL is updated: `python tools/build_dictionary.py`. The guard reads the
output; nothing reads SCOWL at run time.

What goes in: every lower-case word of SCOWL's English and British lists up to size 70
(size 70 is SCOWL's "large" dictionary: ordinary words a spell-checker accepts), and the
capitalised common words (places, nationalities, weekdays, brands) of its "upper" lists up
to size 70, lower-cased, less any word that is also in the guard's given-name lexicon. Not
SCOWL's proper-name lists, which are mostly people's names.
"""

from __future__ import annotations

import sys
from pathlib import Path

SCOWL = Path("/usr/share/dict/scowl")
OUT = Path(__file__).resolve().parent.parent / "bot" / "data" / "dictionary.txt"
SIZES = (10, 20, 35, 40, 50, 55, 60, 70)
NOTICE = """\
# English words for the no-names guard (bot/nonames.py): a word not in this list, not in the
# service's vocabulary (vocabulary.txt) and not a given name is "unknown", and the guard asks
# the professional whether it could identify the child. Built by tools/build_dictionary.py
# from SCOWL (Spell-Checker Oriented Word Lists, http://wordlist.aspell.net/, as packaged by
# Debian as `scowl`): lower-case words of the English and British lists up to size 70, and
# the capitalised common words (places, weekdays, brands) of the upper lists up to size 70,
# lower-cased, less the given names of given_names.txt.
# SCOWL notice: Copyright 2000-2011 by Kevin Atkinson. Permission to use, copy, modify,
# distribute and sell these word lists, the associated scripts, the output created from the
# scripts, and its documentation for any purpose is hereby granted without fee, provided that
# the above copyright notice appears in all copies and that both that copyright notice and
# this permission notice appear in supporting documentation. Kevin Atkinson makes no
# representations about the suitability of this array for any purpose. It is provided "as is"
# without express or implied warranty.
"""


def _read(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8", errors="replace").split() if path.exists() else []


def main() -> int:
    given_file = OUT.with_name("given_names.txt")
    given = {
        line.split()[0].casefold()
        for line in given_file.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    words: set[str] = set()
    for size in SIZES:
        for name in ("english-words", "british-words"):
            for w in _read(SCOWL / f"{name}.{size}"):
                if w.islower() and "'" not in w:
                    words.add(w)
        for name in ("english-upper", "british-upper"):
            for w in _read(SCOWL / f"{name}.{size}"):
                key = w.casefold()
                if "'" not in w and key not in given:
                    words.add(key)
    OUT.write_text(NOTICE + "\n".join(sorted(words)) + "\n", encoding="utf-8")
    print(f"{len(words)} words -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Text from files made safe to echo on a terminal: what ingest prints, and the command line reuses."""

from __future__ import annotations

import re

# C0 controls, DEL and C1 controls: on a terminal they move the cursor, set the title, recolour or clear the
# screen (ESC ] 0 ; title BEL, ESC [ 31 m, CSI as \x9b), or hide the text after them (NUL).
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with each control character (C0, DEL, C1) shown as its ``\\xNN`` escape, so that file names,
    header names and values a file brings print as what they are; other characters are kept."""
    return CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)

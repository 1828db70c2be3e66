"""The pages of the codes about the file itself: syntax (P), loading (L), the `dsl` line and its characters."""

from __future__ import annotations

from tenet.compiler.codes.page import Page, policy

PAGES: dict[str, Page] = {
    # --- syntax ---------------------------------------------------------------------------
    "P001": Page(
        "syntax error: unexpected word or symbol",
        "The parser met a word or symbol that cannot come next. The message lists what could; the "
        "hint names the usual fix: a misspelt keyword, a keyword in capitals, a negation written "
        "as `does not`, `less than` for `fewer than`, `or` between two texts, an unquoted "
        "version, a missing `dsl 1` line. Parsing resumes at the next item, so one run reports "
        "every broken item.",
        policy("""
            rule no-todo (high):
              requires response contains "TODO"
            """),
        "Write the keyword the hint names (`require`). To negate a condition, use the opposite "
        "verdict (`forbid response mentions \"X\"`) or a leading `not`; join conditions, not "
        "texts, with `or` (`prompt contains \"a\" or prompt contains \"b\"`)."),
    "P002": Page(
        "unexpected character",
        "A character that starts no token of the language: a single quote, a string that is not "
        "closed on its line, a stray symbol.",
        policy("""
            rule no-todo (high):
              forbid response contains 'TODO'
            """),
        'Strings use double quotes ("TODO") and close on the line they open; write a line break '
        "inside a string as \\n."),
    "P003": Page(
        "unexpected end of file",
        "The file ends in the middle of something: a condition with no operand, a rule header "
        "with no clauses, or an empty file.",
        policy("""
            rule no-todo (high):
              forbid response contains
            """),
        "Finish the last item (the hint lists what can come next). A policy file starts with "
        '`dsl 1` and `policy NAME version "1"`.'),
    "P004": Page(
        "conditions nested too deeply to compile",
        "A condition chains or nests so many `and`/`or`/`not` parts (thousands) that the compiler "
        "cannot hold it.",
        policy("""
            rule deep (low):
              forbid response contains "w0" or response contains "w1" or response contains "w2"
            """),
        "Put long lists of words in `words(...)` or a `let` name, and split very long conditions "
        "into several rules.",
        needs="about 2,000 `or` parts in one condition, not three"),
    # --- loading files --------------------------------------------------------------------
    "L001": Page(
        "policy file not found",
        "The policy, or a file it imports or extends, does not exist, or is a directory, pipe or "
        "device rather than a file.",
        policy("""
            import "shared/brand.policy"
            """),
        "Check the path: imports are relative to the importing file."),
    "L002": Page(
        "import path not allowed",
        "An `import` or `extends` path is absolute, holds a NUL character, or leads outside the "
        "policy root (the entry policy's folder, or `--root`) with `..` or a symbolic link.",
        policy("""
            import "/etc/tenet/safety.policy"
            """),
        "Write the path relative to the importing policy and keep shared modules inside the "
        "policy root; pass `--root DIR` to widen it."),
    "L003": Page(
        "import cycle",
        "Policies import or extend each other in a loop; the message shows the chain.",
        policy("""
            import "b.policy"
            """),
        "Remove one import of the cycle; move what both need into a third module.",
        needs="a b.policy beside it that imports this file"),
    "L004": Page(
        "policy file too large",
        "A policy file is larger than 2,000,000 bytes.",
        policy("""
            import "huge.policy"
            """),
        "Split the policy into modules; keep long word lists and prompts in prompt files.",
        needs="a huge.policy of over 2,000,000 bytes beside it"),
    "L005": Page(
        "policy file is not valid UTF-8",
        "A policy file holds bytes that are not UTF-8 text, often because an editor saved it as "
        "Latin-1 or Windows-1252.",
        policy("""
            import "latin1.policy"
            """),
        "Save the file as UTF-8 (a byte-order mark is fine).",
        needs="a latin1.policy beside it, saved as Latin-1 with an accented letter"),
    "L006": Page(
        "policy file cannot be read",
        "The operating system refused to read a policy file: no permission, a path through a "
        "file as if it were a folder, or a symbolic-link loop.",
        policy("""
            import "locked.policy"
            """),
        "Fix the file's permissions or the path the message names.",
        needs="a locked.policy beside it that the current user may not read"),
    # --- the file itself ------------------------------------------------------------------
    "E180": Page(
        "unsupported `dsl` version",
        "The first line names the language version; this compiler reads version 1.",
        'dsl 2\npolicy demo version "1"\n',
        "Write `dsl 1` (or upgrade tenet if the policy was written for a newer version)."),
    "E181": Page(
        "control or bidirectional character in a string, regex or comment",
        "Control characters and bidirectional overrides are invisible or reorder text, so what "
        "a reviewer reads would not be what tenet compiles.",
        policy("""
            rule no-todo (high):
              forbid response contains "TODO"
              example:
                prompt "Hello\\u001b[2J"
                good "Hi there."
                bad "TODO"
            """),
        "Delete the character; write a tab or line break as `\\t`, `\\n` or `\\r`."),
}

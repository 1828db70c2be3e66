"""Editor support for `.policy` files: what `tenet lsp` answers, and the server that carries it.

`document.py` reads a document as an editor holds it (positions, names, tokens, diagnostics,
go-to-definition, formatting); `hover.py` and `completion.py` answer those two requests;
`server.py` carries the answers over the Language Server Protocol (pygls, the `lsp` extra).
Only `server.py` imports a protocol library, and nothing here imports it: `tenet lsp` loads it
when it runs.
"""

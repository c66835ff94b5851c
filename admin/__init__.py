"""Administration services (issue 16): users, departments, categories, settings and file imports, each
write one function ``(session, actor, command) -> result`` that checks the permission
(``domain.permissions``), normalises the input, refuses bad input with a ``domain.errors`` refusal
(nothing written) and writes an audit row."""

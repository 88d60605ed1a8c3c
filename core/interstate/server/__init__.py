"""The interstate server: the Interactions API on a database you own.

Layers, outermost first: ``app`` (Starlette routes, HTTP only) → ``service`` (the domain:
create/get/cancel/delete and the interstate extensions) → ``runner`` (model turns, background
jobs, events) → ``store`` (SQLite; PostgreSQL later) and ``providers`` (scripted, OpenAI-compatible,
Gemini). ``embedded`` serves the same ASGI app in-process, with no socket.
"""

"""matcher's modules import one another without circles, and import inside functions only
for a reason: a fast ``matcher --help`` (the commands load models, the database and the web
stack only when they run), an optional or slow native library, or a heavy one loaded on first
use. The layers themselves are checked by import-linter (``lint-imports``, in ``make test``)."""

from __future__ import annotations

from tests.import_graph import circles, graph, in_function_statements

# the import, in a function, of what (a module prefix or a dotted name), and why
REASONS = {
    "onnxruntime": "native runtime, loaded when a model session is made (after the privacy environment is set)",
    "onnx": "loaded only to convert a pack's model once",
    "matcher.faces.convert": "loaded only to convert a pack's model once (it imports onnx)",
    "insightface": "slow package import, loaded on the first face alignment or SCRFD detection",
    "matcher.faces.scrfd": "needs insightface: loaded only for packs with an SCRFD detector",
    "av": "FFmpeg bindings, loaded on the first video",
    "pillow_heif": "optional native HEIC decoder, loaded on the first HEIC photo",
    "psycopg": "PostgreSQL driver, loaded only to back up a PostgreSQL database",
    "matplotlib": "slow import, and the Agg backend must be chosen before pyplot loads",
    "uvicorn": "the web server, loaded only by `matcher serve`",
}
CLI_REASON = "fast CLI start: a command loads the models, the database or the web stack only when it runs"
# left in files another change is rewriting; they go with the matching package's move
LATER = {("matcher.ingest.archive", "matcher.store.repo.parse_date"), ("matcher.review.templates", "sqlalchemy.func")}
CAP = 32


def _reason(module: str, names: list[str]) -> str | None:
    if module.startswith("matcher.cli."):
        return CLI_REASON
    for name in names:
        if (module, name) in LATER:
            return "left for the move of matcher.review"
        for prefix, why in REASONS.items():
            if name == prefix or name.startswith(prefix + "."):
                return why
    return None


def test_no_import_circles_among_matcher_modules():
    edges, _ = graph()
    assert len(edges) > 150  # the walk found the package
    assert circles(edges) == []


def test_a_circle_is_found_when_there_is_one():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_import_inside_a_function_has_a_reason_and_there_are_few():
    statements = in_function_statements(graph()[1])
    unexplained = [f"{module}:{line} {names}" for (module, line), names in statements.items() if _reason(module, names) is None]
    assert unexplained == []
    assert len(statements) <= CAP, f"{len(statements)} imports inside functions (at most {CAP})"

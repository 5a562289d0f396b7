"""Corpora: corpus-hash, corpus add, corpus list."""

from pathlib import Path
from typing import Annotated

import typer

from benchstone.cli._app import (
    JsonOpt,
    app,
    corpus_app,
    dump,
    echo_lines,
)


@app.command("corpus-hash", epilog="Example: bench corpus-hash bench/corpus/data --type tree")
def corpus_hash(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="The corpus file or directory.")],
    corpus_type: Annotated[str, typer.Option(
        "--type", help="bytes (one file), spec (directory with corpus_spec.toml) or tree "
        "(whole directory).")] = "bytes",
    as_json: JsonOpt = False,
) -> None:
    """Print the corpus_hash value (sha256:...) of a corpus file or directory."""
    from benchstone import api

    value = api.corpus_hash(path, corpus_type)
    if as_json:
        dump({"path": str(path), "corpus_type": corpus_type, "corpus_hash": value})
        return
    typer.echo(value)


@corpus_app.command("add", epilog="Example: bench corpus add heldout ~/data/heldout")
def corpus_add(
    name: Annotated[str, typer.Argument(
        metavar="NAME", help="Name a manifest refers to with corpus = NAME.")],
    path: Annotated[Path, typer.Argument(
        metavar="PATH", help="A directory (or one file) to copy.")],
    as_json: JsonOpt = False,
) -> None:
    """Copy a corpus into the harness's store: read-only, content-addressed, hashed as tree."""
    from benchstone import api
    from benchstone.report import render

    before = next((corpus for corpus in api.corpora() if corpus.name == name), None)
    record = api.add_corpus(name, path)
    dump(record) if as_json else typer.echo(render.corpus_added_line(record))
    if before is not None and before.sha256 != record.sha256:
        typer.echo(render.corpus_replaced_warning(name, before), err=True)


@corpus_app.command("list", epilog="Example: bench corpus list")
def corpus_list(as_json: JsonOpt = False) -> None:
    """List the harness-owned corpora."""
    from benchstone import api
    from benchstone.report import render

    records = api.corpora()
    dump(records) if as_json else echo_lines(render.corpus_lines(records))

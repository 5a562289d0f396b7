"""Corpora: corpus-hash, corpus add, corpus list."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from benchstone import api
from benchstone.cli._app import (
    JsonOpt,
    app,
    corpus_app,
    dump,
)
from benchstone.report import render


@app.command("corpus-hash", epilog="Example: bench corpus-hash bench/corpus/data --type tree")
def corpus_hash(
    path: Annotated[Path, typer.Argument(help="The corpus file or directory.")],
    corpus_type: Annotated[str, typer.Option(
        "--type", help="bytes (one file), spec (directory with corpus_spec.toml) or tree "
        "(whole directory).")] = "bytes",
    as_json: JsonOpt = False,
) -> None:
    """Print the corpus_hash value (sha256:...) of a corpus file or directory."""
    value = api.corpus_hash(path, corpus_type)
    if as_json:
        dump({"path": str(path), "corpus_type": corpus_type, "corpus_hash": value})
        return
    typer.echo(value)


@corpus_app.command("add", epilog="Example: bench corpus add heldout ~/data/heldout")
def corpus_add(
    name: Annotated[str, typer.Argument(help="Name a manifest refers to with corpus = NAME.")],
    path: Annotated[Path, typer.Argument(help="A directory (or one file) to copy.")],
    as_json: JsonOpt = False,
) -> None:
    """Copy a corpus into the harness's store: read-only, content-addressed, hashed as tree."""
    before = next((corpus for corpus in api.corpora() if corpus.name == name), None)
    record = api.add_corpus(name, path)
    dump(record) if as_json else typer.echo(f"corpus {record.name} = {record.sha256}")
    if before is not None and before.sha256 != record.sha256:
        typer.echo(f"warning: {name} named {before.sha256[:19]} until now: runs from here on "
                   "read the new content, so baselines measured on the old one are not "
                   f"comparable (bench baseline establish P B for each benchmark with "
                   f'corpus = "{name}")', err=True)


@corpus_app.command("list", epilog="Example: bench corpus list")
def corpus_list(as_json: JsonOpt = False) -> None:
    """List the harness-owned corpora."""
    records = api.corpora()
    if as_json:
        dump(records)
        return
    if not records:
        typer.echo("no harness-owned corpora (bench corpus add NAME PATH)")
    for record in records:
        typer.echo(f"{record.name:<24} {record.sha256[:19]}  added {render.when(record.added_at)}"
                   f"  from {record.source}")

"""`softmax data`: where Fashion-MNIST comes from, and whether it is intact."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from .common import DATA_DIR_HELP_HERE, domain_errors, fail, out
from .tables import show


@domain_errors
def data(
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", envvar="SOFTMAX_DATA_DIR", metavar="DIR", help=DATA_DIR_HELP_HERE
    ),
    download: bool = typer.Option(
        True, "--download/--no-download", help="Download when no local copy exists."
    ),
) -> None:
    """Show where the data is looked for, which copy is used, and verify it in full.

    Example: softmax data --no-download
    """
    from softmax_exp import data as dataset

    table = Table(title="Fashion-MNIST sources, in order", title_justify="left")
    table.add_column("source")
    table.add_column("directory", overflow="fold")  # a path is copied: wrapped, never cut
    table.add_column("state")
    sources = dataset.candidate_sources(data_dir)
    found = any(source.complete for source in sources)
    for source in sources:
        total = len(source.missing) + len(source.paths)
        state = (
            "complete"
            if source.complete
            else "no copy"
            if not source.paths
            else f"{len(source.missing)} of {total} files missing"
        )
        if not source.complete and found:
            state += " (not needed)"
        table.add_row(source.kind, str(source.directory), state)
    show(out, table)
    chosen = dataset.locate(data_dir, allow_download=download)
    out.print(f"using {chosen.kind}: {chosen.directory}", markup=False, soft_wrap=True)
    report = dataset.verify(chosen)
    checks = Table(
        title="verification (decompressed sha256, IDX header, labels)", title_justify="left"
    )
    checks.add_column("file")
    checks.add_column("result")
    for name, result in report:
        checks.add_row(name, result)
    show(out, checks)
    bad = [name for name, result in report if result != "ok"]
    if bad:
        raise fail(
            f"{len(bad)} file(s) failed verification: {', '.join(bad)}; delete them "
            f"and {dataset.HOW_TO_GET}"
        )
    dataset.load_dataset(data_dir, allow_download=False)  # builds the fast cache
    out.print(
        f"all files verified; decoded cache in {dataset.cache_root() / 'fashion-mnist'}",
        markup=False,
        soft_wrap=True,
    )

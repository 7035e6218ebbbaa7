"""``idnode import``: register identifiers from a CSV or JSON Lines file (see ``idnode.importing``),
as the operator; the exit statuses are in ``EPILOG``."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from idnode.bulk import DEFAULT_BATCH, BulkResult
from idnode.bulk import Progress as BulkProgress
from idnode.config import Settings
from idnode.core import open_core
from idnode.importfile import ImportFile, format_of
from idnode.importing import ErrorReport, summary

EPILOG = (
    "exit status: 0 every row went in (with --dry-run: would); 1 some rows failed (they are listed in "
    "the error report, the others went in); 2 the import did not start or stopped (usage, an "
    "unreadable file, an unknown prefix or template, a refused permission; batches committed before "
    "a stop stay in)"
)
LISTED_FAILURES = 100  # in --json output; the error report lists them all
console = Console()
progress_console = Console(stderr=True)  # progress stays off stdout, which may carry --json


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    output: argparse.ArgumentParser,
) -> None:
    command = sub.add_parser(
        "import",
        parents=[common, output],
        help="register or update identifiers from a CSV or JSON Lines file",
        epilog=EPILOG,
    )
    command.add_argument("file", type=Path, help="a .csv or .jsonl file (columns: see the README)")
    command.add_argument("--prefix", required=True, help="the enterprise prefix the identifiers are under")
    command.add_argument("--template", help="the metadata template the rows follow, as name@version")
    command.add_argument("--format", choices=("csv", "jsonl"), help="default: from the file name")
    command.add_argument("--errors", type=Path, help="the failed rows' report (default <file>.errors.csv)")
    command.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help="rows per transaction")
    command.add_argument("--dry-run", action="store_true", help="check every row and write nothing")


async def cmd_import(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """Import ``args.file`` as the operator; returns the summary to print."""
    errors = args.errors or args.file.with_name(f"{args.file.stem}.errors.csv")
    with args.file.open("rb") as stream:
        source = ImportFile.open(stream, args.format or format_of(args.file))
        async with open_core(settings) as core:
            with ErrorReport(errors) as report, _progress(source.rows, args.dry_run) as progress:
                result = await core.importer.run(
                    core.local_operator,
                    source,
                    prefix=args.prefix,
                    template=args.template,
                    dry_run=args.dry_run,
                    batch_size=args.batch_size,
                    report=report,
                    progress=progress,
                    max_failures=LISTED_FAILURES,
                )
    return {
        "file": str(args.file),
        "dryRun": args.dry_run,
        **summary(result),
        "errors": str(errors) if report.rows else None,
    }


def print_summary(result: dict[str, Any]) -> None:
    counts = ", ".join(f"{result[k]:,} {k}" for k in ("created", "updated", "unchanged", "failed"))
    where = f" (listed in {result['errors']})" if result["errors"] else ""
    console.print(f"{result['file']}: {'dry run, would be ' if result['dryRun'] else ''}{counts}{where}")


class _RateColumn(ProgressColumn):
    """Rows per second."""

    def render(self, task: Task) -> Text:
        rate = f"{task.speed:,.0f}" if task.speed else "-"
        return Text(f"{rate} rows/s", style="progress.data.speed")


@contextmanager
def _progress(total: int, dry_run: bool) -> Iterator[BulkProgress]:
    """A progress bar on stderr (rows done of ``total``, rate, time left); yields its update callback."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=progress_console) as progress:
        task = progress.add_task("checking" if dry_run else "importing", total=total)

        def update(result: BulkResult) -> None:
            progress.update(task, completed=result.processed)

        yield update

"""Rebuilding the lookup tables (search entries, GS1 keys) from the stored records.

Every write keeps them current; a rebuild is for records stored before the tables existed (an upgrade
past migration 0005) or after the derivation rules changed. It passes over the store in batches, each
one transaction that locks its records, so writers may keep working meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable

from idnode.commit import Committer
from idnode.derived import Derived
from idnode.storage.repository import DuplicateKey, Repository

REINDEX_BATCH = 1000
REINDEX_ACTOR = "reindex"

# Called after each batch with (records seen, records in the store).
Progress = Callable[[int, int], None]


async def reindex(
    repository: Repository, committer: Committer, progress: Progress | None = None
) -> list[str]:
    """Replace every record's derived rows with what the Committer's derivation makes of it now.

    Returns the handles whose GS1 key was already another record's: those keep their search entries
    but get no GS1 key (the first record in storage order holds it). Each batch is audited.
    """
    total = await repository.count_records()
    after, seen, conflicts = 0, 0, []
    while True:
        async with repository.transaction() as tx:
            batch = await tx.records_after(after, REINDEX_BATCH)
            if not batch:
                break
            handles = [str(record.identifier) for _, record in batch]
            await tx.drop_derived(handles)
            derived = [(record, await committer.derive(tx, record)) for _, record in batch]
            try:
                await tx.store_derived(derived)
            except DuplicateKey:  # rare: start the batch over, record by record, to find who loses
                await tx.drop_derived(handles)
                for record, rows in derived:
                    await tx.store_derived([(record, Derived(search=rows.search))])
                    try:
                        await tx.store_derived([(record, Derived(gs1=rows.gs1))])
                    except DuplicateKey:
                        conflicts.append(str(record.identifier))
            await tx.add_audit(
                REINDEX_ACTOR,
                "reindex",
                f"records {batch[0][0]}..{batch[-1][0]}",
                None,
                {"records": len(batch)},
            )
        after = batch[-1][0]
        seen += len(batch)
        if progress:
            progress(seen, total)
    return conflicts

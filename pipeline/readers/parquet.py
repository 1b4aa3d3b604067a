"""Parquet files, read one row group at a time in record batches so memory stays bounded.

text      the `source.text_field` column (string, or binary holding UTF-8)
location  the `source.id_field` value when configured and present, else '<display>#row<n>'
          (n = 0-based row index in the file)
meta      path, row, url (from `source.url_field` when configured and present)

Only the text, id and url columns are read. Dead letters: a file that is not Parquet (or cannot be
opened), a missing text column (one dead letter naming the columns the file has), a text column of
another type, a null / empty / undecodable text value (one per row), a row group that cannot be
decoded (one per row group; the next row groups are still read), an empty file (0 bytes or 0 rows).
"""

from __future__ import annotations

from typing import Any, Iterator

from pipeline.document import DeadLetter, Document
from pipeline.readers import files
from pipeline.readers.base import ReadUnit, dead_letter, document, id_value, url_value
from pipeline.readers.streams import open_raw
from pipeline.spec import SourceSpec

BATCH_ROWS = 1024


def plan(source: SourceSpec):
    return files.plan_files(source)


def read(unit: ReadUnit, source: SourceSpec) -> Iterator[Document | DeadLetter]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        raw = open_raw(unit.path)
    except OSError as e:
        yield dead_letter(source, unit, 0, f"unreadable file: {e}")
        return
    with raw:
        try:
            size = raw.seek(0, 2)
            raw.seek(0)
        except (OSError, ValueError):
            size = -1
        if size == 0:
            yield dead_letter(source, unit, 0, "empty file")
            return
        try:
            parquet = pq.ParquetFile(raw)
        except (pa.ArrowException, OSError, ValueError) as e:
            yield dead_letter(source, unit, 0, f"not a readable Parquet file: {e}")
            return
        yield from _read_rows(unit, source, parquet, pa)


def _read_rows(unit: ReadUnit, source: SourceSpec, parquet: Any,
               pa: Any) -> Iterator[Document | DeadLetter]:
    schema = parquet.schema_arrow
    names = schema.names
    field = source.text_field
    if field not in names:
        yield dead_letter(source, unit, 0, f"missing text column '{field}' "
                                           f"(columns: {', '.join(names) or 'none'})")
        return
    text_type = schema.field(field).type
    is_binary = pa.types.is_binary(text_type) or pa.types.is_large_binary(text_type)
    if not (is_binary or pa.types.is_string(text_type) or pa.types.is_large_string(text_type)
            or getattr(pa.types, "is_string_view", lambda t: False)(text_type)):
        yield dead_letter(source, unit, 0,
                          f"text column '{field}' has type {text_type}, not string")
        return
    columns = [field]
    id_col = source.id_field if source.id_field in names else None
    url_col = source.url_field if source.url_field in names else None
    for extra in (id_col, url_col):
        if extra is not None and extra not in columns:
            columns.append(extra)

    metadata = parquet.metadata
    if metadata.num_rows == 0:
        yield dead_letter(source, unit, 0, "empty file: 0 rows")
        return
    group_start = 0
    for group in range(metadata.num_row_groups):
        group_rows = metadata.row_group(group).num_rows
        row = group_start
        try:
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, row_groups=[group],
                                              columns=columns):
                values = {name: batch.column(name).to_pylist() for name in columns}
                for i in range(batch.num_rows):
                    yield _row_record(unit, source, row, values[field][i],
                                      values[id_col][i] if id_col else None,
                                      values[url_col][i] if url_col else None, is_binary)
                    row += 1
        except (pa.ArrowException, OSError, ValueError) as e:
            yield dead_letter(source, unit, row,
                              f"cannot decode row group {group} (rows {row}.."
                              f"{group_start + group_rows - 1} lost): {e}")
        group_start += group_rows


def _row_record(unit: ReadUnit, source: SourceSpec, row: int, text: Any, record_id: Any,
                url: Any, is_binary: bool) -> Document | DeadLetter:
    field = source.text_field
    if text is None:
        return dead_letter(source, unit, row, f"text column '{field}' is null")
    if is_binary:
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            return dead_letter(source, unit, row,
                               f"invalid UTF-8 at byte {e.start} of text column '{field}'",
                               excerpt=text)
    if not text.strip():
        return dead_letter(source, unit, row, f"text column '{field}' is empty")
    location = id_value(record_id) if source.id_field else None
    if location is None:
        location = f"{unit.display}#row{row}"
    meta: dict[str, Any] = {"path": unit.display, "row": row}
    url = url_value(url)
    if url is not None:
        meta["url"] = url
    return document(source, location, text, meta)

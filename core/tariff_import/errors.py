"""The error every importer step raises: it names the workbook and the table it could not read."""

from __future__ import annotations


class TariffImportError(ValueError):
    """A workbook could not be imported: the message names the workbook, the table and why."""

    def __init__(self, workbook: str, table: str, problem: str) -> None:
        self.workbook = workbook
        self.table = table
        self.problem = problem
        super().__init__(f"{workbook}: {table}: {problem}")

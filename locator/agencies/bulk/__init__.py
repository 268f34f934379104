"""An agency's points in bulk: import a file of them, export them, sync what changed.

One file shape, both ways: what the export writes, the import reads back, so an agency
can export its points, fix them in a spreadsheet or a GIS, and import the file.

The import is all-or-nothing. Every row is checked (its fields, its agency and kind, the
point it updates, the same pin check as a single write) and the report names each bad
row, field and what to fix; one bad row and nothing is written. Rows are matched to the
agency's points by the agency's own id (``external_ref``), or by ``id`` as exported, and
otherwise created. A cell left empty (or a column left out) keeps the point's current
value, or the default for a new point: a half-filled sheet never wipes data.

By job: ``formats`` reads and writes the files (CSV, GeoJSON, GeoPackage); ``scope`` is
which agencies an import or export reaches; ``plan`` checks each row and decides what it
changes; ``write`` is the SQL that applies a plan; ``importer`` runs an import in one
transaction (with the pin check); ``export`` selects the rows to export; ``attempts``
limits how many imports an account may start an hour (counted in the database, so the
limit holds over every worker and machine). What an import
answers is ``locator.agencies.report``, as for the opening-hours import.
"""

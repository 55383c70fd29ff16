"""The case database: tables, migrations, reads and writes, the photo store and exports.

Imports nothing else from `serving`: callers pass the database URL and the photo folder.
"""

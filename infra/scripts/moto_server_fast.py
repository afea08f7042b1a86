"""moto's server, with one fix: a partition Query reads only its partition.

moto 5.2.5 answers every base-table Query by building and sorting a list of
*all* items of the table (`Table.all_items()`), then filtering by hash key.
That makes each Query O(table size); the portal does one Query per partner
dashboard and per user's enrollments, so a sync of even the small data set
spent minutes inside moto. Real DynamoDB reads one partition. This launcher
narrows `all_items()` to the queried partition for the duration of a
base-table Query (index Queries keep moto's own path) and then starts the
unmodified moto server. Same results, same ordering: moto sorts the
partition's items by (hash, range) exactly as before.
"""
import re
import sys
import threading

from moto.dynamodb.models import table as _table
from moto.server import main

_scope = threading.local()
_all_items = _table.Table.all_items
_query = _table.Table.query


def _partition_items(self):
    partition = getattr(_scope, "hash_key", None)
    if partition is None or not self.range_key_attr:
        return _all_items(self)
    items = list(self.items.get(partition, {}).values())
    return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)


def _partition_query(self, hash_key, *args, **kwargs):
    # moto's backend passes index_name positionally (7th after hash_key).
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    if index_name is not None or hash_key is None:
        return _query(self, hash_key, *args, **kwargs)
    _scope.hash_key = hash_key
    try:
        return _query(self, hash_key, *args, **kwargs)
    finally:
        _scope.hash_key = None


_table.Table.all_items = _partition_items
_table.Table.query = _partition_query

if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\.pyw|\.exe)?$", "", sys.argv[0])
    sys.exit(main())

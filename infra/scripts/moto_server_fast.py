"""moto's server, with one fix: a Query no longer sorts the whole table.

moto 5.2.5 answers every Query by building and sorting a list of *all* items
of the table (`Table.all_items()`), then filtering by the key condition.
That makes each Query O(n log n) in the table size; the portal does one Query
per partner dashboard, per user's enrollments and per page of an index read,
so a sync of the reference data set spent most of its time inside that sort.
Real DynamoDB reads one partition. This launcher narrows `all_items()` for
the duration of one Query and then starts the unmodified moto server:

- a base-table Query gets just its partition, sorted by (hash, range)
  exactly as moto sorts it;
- an index Query gets, unsorted, only the items whose index hash attributes
  equal the queried values. moto filters them again by the same conditions
  and then sorts them by (index keys, table keys), a total order, so the
  input order never shows: same results, same ordering, no whole-table sort.
"""
import re
import sys
import threading

from moto.dynamodb.models import table as _table
from moto.server import main

_scope = threading.local()
_all_items = _table.Table.all_items
_query = _table.Table.query


def _sort_key(item):
    return (item.hash_key, item.range_key) if item.range_key else item.hash_key


def _equals(attr, value):
    # DynamoType.__eq__ fails on None (an item without the index attribute).
    return attr is not None and attr == value


def _narrowed_items(self):
    partition = getattr(_scope, "hash_key", None)
    index_conditions = getattr(_scope, "index_conditions", None)
    if partition is not None and self.range_key_attr:
        return sorted(self.items.get(partition, {}).values(), key=_sort_key)
    if index_conditions:
        if self.range_key_attr:
            items = (i for part in self.items.values() for i in part.values())
        else:
            items = iter(self.items.values())
        return [
            item
            for item in items
            if all(_equals(item.attrs.get(name), value) for name, value in index_conditions)
        ]
    return _all_items(self)


def _narrowed_query(self, hash_key, *args, **kwargs):
    # moto's backend passes index_name positionally (7th after hash_key).
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    if index_name is None and hash_key is None:
        return _query(self, hash_key, *args, **kwargs)
    if index_name is None:
        _scope.hash_key = hash_key
    else:
        _scope.index_conditions = list(kwargs.get("hash_key_conditions") or [])
    try:
        return _query(self, hash_key, *args, **kwargs)
    finally:
        _scope.hash_key = None
        _scope.index_conditions = None


_table.Table.all_items = _narrowed_items
_table.Table.query = _narrowed_query

if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\.pyw|\.exe)?$", "", sys.argv[0])
    sys.exit(main())

"""moto's server, with two fixes: a Query no longer sorts the whole table,
and IAM enforcement checks the resource a call acts on (see the end).

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
from email.utils import parseaddr
import json

from moto.dynamodb.responses import DynamoHandler as _DynamoHandler
from moto.secretsmanager.responses import SecretsManagerResponse as _SecretsHandler
from moto.ses.models import ses_backends
from moto.sesv2.responses import SESV2Response as _SesV2Handler
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


def _table_names(body):
    if body.get("TableName"):
        yield body["TableName"]
    yield from (body.get("RequestItems") or {}).keys()
    for item in body.get("TransactItems") or []:
        for op in item.values():
            if isinstance(op, dict) and op.get("TableName"):
                yield op["TableName"]


def _dynamodb_resource(self):
    """The ARN a DynamoDB call acts on, for IAM enforcement.

    moto checks a policy's Resource element against what the handler names
    here and names "*" for DynamoDB, so a policy scoped to the table ARN (as
    template.yaml's are) would match nothing. Real DynamoDB authorizes the
    table, or `<table>/index/<name>` for an index read; a multi-table batch
    is checked here by its first table (the portal uses one table).
    """
    body = self.body or {}
    table = next(_table_names(body), None)
    if table is None:
        return "*"
    arn = f"arn:aws:dynamodb:{self.region}:{self.current_account}:table/{table}"
    if body.get("IndexName"):
        arn += f"/index/{body['IndexName']}"
    return arn


_DynamoHandler._determine_resource = _dynamodb_resource

# IAM has no action for a transaction: AWS authorizes each of its items as
# the single-item action it performs, on that item's table.
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
_authorize = _DynamoHandler._authenticate_and_authorize_normal_action


def _authorize_transaction(self, resource="*"):
    if self._get_action() not in ("TransactWriteItems", "TransactGetItems"):
        return _authorize(self, resource)
    checks = [
        (_TRANSACT_ACTIONS[op], spec.get("TableName"))
        for item in (self.body or {}).get("TransactItems") or []
        for op, spec in item.items()
        if op in _TRANSACT_ACTIONS and isinstance(spec, dict)
    ]
    for action, table in checks or [(self._get_action(), None)]:
        arn = (
            f"arn:aws:dynamodb:{self.region}:{self.current_account}:table/{table}"
            if table
            else resource
        )
        # An instance attribute shadows the method for this one check.
        self._get_action = lambda action=action: action
        try:
            _authorize(self, arn)
        finally:
            del self._get_action


_DynamoHandler._authenticate_and_authorize_normal_action = _authorize_transaction


def _ses_resource(self):
    """SendEmail acts on the sender's identity: the address when it is
    verified itself, else its domain (as SES resolves it)."""
    try:
        params = json.loads(self.body or "{}")
    except ValueError:
        return "*"
    _, address = parseaddr(params.get("FromEmailAddress") or "")
    if not address:
        return "*"
    identities = ses_backends[self.current_account][self.region].email_identities
    identity = address if address in identities else address.split("@", 1)[-1]
    return f"arn:aws:ses:{self.region}:{self.current_account}:identity/{identity}"


def _secret_resource(self):
    secret = self._get_param("SecretId")
    return secret if secret and secret.startswith("arn:") else "*"


_SesV2Handler._determine_resource = _ses_resource
_SecretsHandler._determine_resource = _secret_resource

if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\.pyw|\.exe)?$", "", sys.argv[0])
    sys.exit(main())

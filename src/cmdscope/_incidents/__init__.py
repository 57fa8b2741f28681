"""Incident stubs from Alertmanager: ``cmdscope incidents serve``.

Alertmanager posts a webhook per alert group; for every firing **critical** group this package
opens one incident stub (``DIR/incident-<id>.json`` + ``.md``: alert, labels, first seen, runbook,
and the last ledger records matching the alert's labels), updates it on every repeat and marks it
resolved. The group's ``groupKey`` is the identity, so duplicate deliveries never open a second
incident. Malformed payloads get a 400 with a one-line JSON error; the server never crashes.

Usage::

    cmdscope incidents serve --listen 127.0.0.1:9095 --dir incidents/ --ledger ~/.local/state/cmdscope/ledger.jsonl

and in alertmanager.yml a ``webhook_configs: [{url: http://127.0.0.1:9095/alertmanager, send_resolved: true}]``.
"""

from __future__ import annotations

from cmdscope._incidents.payload import PayloadError, parse_payload
from cmdscope._incidents.server import make_server
from cmdscope._incidents.store import IncidentStore

__all__ = ["IncidentStore", "PayloadError", "make_server", "parse_payload"]

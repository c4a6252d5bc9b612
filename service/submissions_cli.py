"""``nekpijn-cds submissions``: the practice's side of the sent self-checks.

* ``export [--format bundle|ndjson] [--since DATE] [--output FILE]`` — every
  stored self-check as FHIR R4: a ``collection`` Bundle (default) or NDJSON
  (one resource per line). Per self-check: the QuestionnaireResponse
  (``identifier`` = the receipt the visitor was shown, ``authored`` = when it
  was received), the Consent given, an Observation with the advice the
  service computed and, when the visitor left contact details, a Patient with
  only those (name, phone or e-mail). Sent self-checks past their retention
  period (``NEKPIJN_SUBMISSION_RETENTION_DAYS``, default 90) are purged
  first: an export never hands out what should no longer exist.
* ``purge`` — delete the self-checks past their retention period now (the
  service also does it by itself, see ``service/store/housekeeping.py``).

The export holds personal data: it goes to a file the practice chose (mode
0600) or to stdout; nothing of it is logged.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from datetime import datetime, timezone

from service.store import SelfCheckSubmission, Store, StoreUnavailable
from service.store.housekeeping import Housekeeping

LOCAL = "https://nekpijn-cds.org/fhir/CodeSystem/nekpijn"
RECEIPT_SYSTEM = "https://nekpijn-cds.org/fhir/sid/self-check-receipt"


def register(sub: argparse._SubParsersAction, settings) -> None:
    p = sub.add_parser("submissions", help="sent patient self-checks: export them for the practice, purge old ones")
    commands = p.add_subparsers(dest="submissions_command", metavar="SUBCOMMAND", required=True)
    export = commands.add_parser("export", help="write the stored self-checks as FHIR (Bundle or NDJSON)")
    export.add_argument("--format", choices=("bundle", "ndjson"), default="bundle",
                        help="a FHIR collection Bundle (default) or NDJSON, one resource per line")
    export.add_argument("--since", type=_date, default=None,
                        help="only self-checks received on or after this date (YYYY-MM-DD, UTC) or instant")
    export.add_argument("--output", "-o", default="-", help="file to write (mode 0600; default: stdout)")
    commands.add_parser("purge", help=f"delete self-checks older than the retention period "
                                      f"({settings.submission_retention_days} days)")


def _date(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {value!r} (YYYY-MM-DD)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def run(args: argparse.Namespace, settings) -> int:
    try:
        store = Store.from_settings(settings)
    except ValueError as exc:
        print(f"nekpijn-cds submissions: {exc}", file=sys.stderr)
        return 2
    try:
        purged, _ = Housekeeping(store, settings.submission_retention_days).run()
        if args.submissions_command == "purge":
            print(f"purged {purged} self-check(s) older than {settings.submission_retention_days} days",
                  file=sys.stderr)
            return 0
        rows = store.all_self_check_submissions(args.since)
    except StoreUnavailable as exc:
        print(f"nekpijn-cds submissions: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    text = to_ndjson(rows) if args.format == "ndjson" else json.dumps(to_bundle(rows), ensure_ascii=False,
                                                                      indent=1) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
    print(f"exported {len(rows)} self-check(s)" + (f", purged {purged} past retention" if purged else ""),
          file=sys.stderr)
    return 0


def _instant(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def resources(s: SelfCheckSubmission) -> list[dict]:
    """The FHIR resources of one sent self-check (ids derived from its receipt)."""
    key = s.receipt.lower()
    subject = dict(s.response.get("subject") or {})
    response = {**s.response, "id": f"zelfcheck-{key}",
                "identifier": {"system": RECEIPT_SYSTEM, "value": s.receipt},
                "authored": s.response.get("authored") or _instant(s.received_at)}
    advice = {
        "resourceType": "Observation", "id": f"zelfcheck-{key}-advice", "status": "final",
        "code": {"coding": [{"system": LOCAL, "code": "self-check-advice"}]},
        "subject": subject, "effectiveDateTime": _instant(s.received_at),
        "valueCodeableConcept": {"coding": [{"system": LOCAL, "code": s.advice}]},
        "derivedFrom": [{"reference": f"QuestionnaireResponse/zelfcheck-{key}"}],
    }
    consent = {**s.consent, "id": f"zelfcheck-{key}-consent"}
    out = [response, advice, consent]
    if s.contact_name or s.contact:
        patient: dict = {"resourceType": "Patient", "id": subject.get("reference", "Patient/").split("/", 1)[1]}
        if s.contact_name:
            patient["name"] = [{"text": s.contact_name}]
        if s.contact:
            patient["telecom"] = [{"system": "email" if "@" in s.contact else "phone", "value": s.contact}]
        out.append(patient)
    return out


def to_bundle(rows: list[SelfCheckSubmission]) -> dict:
    # stable urn:uuid full URLs (the same self-check exported twice gets the same ones)
    entries = [{"fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, RECEIPT_SYSTEM + '/' + r['resourceType'] + '/' + r['id'])}",
                "resource": r} for s in rows for r in resources(s)]
    return {"resourceType": "Bundle", "type": "collection", "timestamp": _instant(datetime.now(timezone.utc)),
            "entry": entries}


def to_ndjson(rows: list[SelfCheckSubmission]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for s in rows for r in resources(s))

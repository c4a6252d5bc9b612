"""``python -m service`` runs the ``nekpijn-cds`` CLI."""

from service.cli import main

raise SystemExit(main())

"""``python -m kit`` runs the command-line interface (:mod:`kit.core.cli`)."""

from kit.core.cli import main

raise SystemExit(main())

"""`python -m qn_bot`: the same as the `qn-bot` command."""

from qn_bot.cli import main

raise SystemExit(main())

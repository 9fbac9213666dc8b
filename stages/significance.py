"""``python -m stages.significance``: the command ``stages.commands.significance``
(not a DVC stage)."""

from stages.commands.significance import main

if __name__ == "__main__":
    raise SystemExit(main())

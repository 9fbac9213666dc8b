"""``python -m stages.predict``: the command ``stages.commands.predict`` (not a DVC stage)."""

from stages.commands.predict import main

if __name__ == "__main__":
    raise SystemExit(main())

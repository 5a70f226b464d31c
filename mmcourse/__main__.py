"""Command line: ``python -m mmcourse doctor`` and ``python -m mmcourse release``."""
import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command; returns the exit code."""
    parser = argparse.ArgumentParser(prog="mmcourse", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("doctor", help="print versions, devices, threads and data checks")
    release = commands.add_parser("release", help="write chapters/ from solutions/")
    release.add_argument("--execute", action="store_true",
                         help="also run every solution and chapter notebook and save outputs")
    release.add_argument("notebooks", nargs="*", help="solution notebooks (default: all)")
    args = parser.parse_args(argv)

    if args.command == "doctor":
        from mmcourse.env import doctor
        return 0 if doctor() else 1
    from mmcourse.release import release_all
    release_all(args.notebooks or None, execute=args.execute)
    return 0


if __name__ == "__main__":
    sys.exit(main())

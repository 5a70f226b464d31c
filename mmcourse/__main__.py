"""Command line: ``python -m mmcourse doctor``, ``... release`` and ``... nbgrader COURSE_DIR``."""
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
    classroom = commands.add_parser("nbgrader", help="write an nbgrader course folder from solutions/")
    classroom.add_argument("course_dir", help="the nbgrader course folder (created if missing)")
    classroom.add_argument("--chapters", nargs="+", metavar="NN", help="chapter numbers (default: all)")
    args = parser.parse_args(argv)

    if args.command == "doctor":
        from mmcourse.env import doctor
        return 0 if doctor() else 1
    if args.command == "nbgrader":
        from mmcourse.classroom import write_course
        for notebook in write_course(args.course_dir, args.chapters):
            print(f"wrote {notebook}: in {args.course_dir}, run `nbgrader generate_assignment {notebook.parent.name}`")
        return 0
    from mmcourse.release import release_all
    release_all(args.notebooks or None, execute=args.execute)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Command line: ``python -m mmcourse doctor``, ``release``, ``nbgrader COURSE_DIR``, ``pretrain NAME`` and ``prepare``."""
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
    pretrain = commands.add_parser("pretrain", help="train one of the course's own checkpoints and write it")
    pretrain.add_argument("name", help="tiny_gpt, tiny_bert, tiny_gpt_instruct (after tiny_gpt), mini_clip or tiny_vlm (after mini_clip and tiny_gpt_instruct)")
    pretrain.add_argument("--out", help="write here instead of mmcourse/pretrained/weights/NAME.pt; "
                                        "the manifest is then left as it is")
    commands.add_parser("prepare", help="convert the packaged SmolLM2 and build the OpenMoji feature cache "
                                        "once, in the user cache (make install runs it)")
    args = parser.parse_args(argv)

    if args.command == "doctor":
        from mmcourse.env import doctor
        return 0 if doctor() else 1
    if args.command == "nbgrader":
        from mmcourse.classroom import write_course
        for notebook in write_course(args.course_dir, args.chapters):
            print(f"wrote {notebook}: in {args.course_dir}, run `nbgrader generate_assignment {notebook.parent.name}`")
        return 0
    if args.command == "prepare":
        import time

        from mmcourse.pretrained.smollm2 import cache_path, load_smollm2
        start = time.perf_counter()
        load_smollm2()
        print(f"SmolLM2-135M-Instruct ready in {cache_path()} ({time.perf_counter() - start:.0f} s)")
        from mmcourse.experiments.real_clip import prepare_emoji_features
        folder, seconds = prepare_emoji_features()
        print(f"OpenMoji CLIP features ready in {folder} ({seconds:.0f} s)")
        return 0
    if args.command == "pretrain":
        from mmcourse.pretrained.course import CHECKPOINTS, pretrain
        if args.name not in CHECKPOINTS:
            parser.error(f"NAME must be one of {', '.join(CHECKPOINTS)}, got {args.name!r}")
        entry = pretrain(args.name, args.out)
        print(f"wrote {args.out or 'mmcourse/pretrained/weights/' + entry['file']} ({entry['bytes']:,} bytes)")
        print(f"sha256  {entry['sha256']}")
        print(f"trained {entry['steps']} steps in {entry['wall_s']} s on {entry['machine']}")
        print(f"reached {entry['reached']}")
        print("recorded in mmcourse/pretrained/weights/manifest.json" if args.out is None else
              "manifest unchanged: it records only files written to mmcourse/pretrained/weights/")
        return 0
    from mmcourse.release import release_all
    release_all(args.notebooks or None, execute=args.execute)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``tagger`` command.

    tagger "Текст статьи ..."            tag text given as arguments
    echo "Текст ..." | tagger             tag standard input
    tagger --file a.txt --file b.txt      tag files (one article each)
    tagger info MODEL                     describe a model file without loading its weights
    tagger corpus stats CORPUS            describe a corpus file
    tagger corpus build PAGES_DIR... -o corpus.jsonl.gz
    tagger serve [--model [NAME=]PATH]... [--host H] [--port P] [--workers N]   HTTP service (pip install 'tagger[server]')
    tagger --page PAGE.txt                tag a scraped page: its headline and body only
    tagger --similar 5 < article.txt      the 5 training articles most like it, with their tags
    tagger tag-corpus FILES... --out DIR [--workers N | --engine dask --scheduler ADDR] [--format parquet]
    tagger train --corpus CORPUS --out MODEL [--config TOML] ...   train a model (tagger/cli_train.py)
    tagger vocabulary convert FILE OUT.csv   a vocabulary (SKOS Turtle, say) as CSV, read without rdflib

Every failure is one line on stderr, ``tagger: error: ...``; exit status: 0 success, 1 runtime failure
(unreadable file, bad model), 2 usage error, 130 interrupted (Ctrl-C).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

from .console import Parser, add_engine_options, check_engine, dask_client, die, error_line

# Nothing heavy is imported here: `tagger --version` and `tagger --help` start in milliseconds; the model
# file reader (NumPy, scipy.sparse) comes in when a command needs a model, the learning half (scikit-learn)
# only with `tagger train`.


def _positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return n


def _probability(value: str) -> float:
    try:
        p = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0.0 <= p <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {value}")
    return p


#: The most bytes one input may have (a long article is ~100 KB; the model reads the first 100,000 characters):
#: ``tagger < /dev/zero`` or ``--file /dev/zero`` stop there instead of reading without end.
MAX_INPUT_BYTES = 64 << 20


def _read_input(fh, name: str) -> str:
    """One input, at most ``MAX_INPUT_BYTES``, decoded (``ValueError`` saying what is wrong)."""
    data = fh.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise ValueError(f"{name}: more than {MAX_INPUT_BYTES >> 20} MB; an article is at most a few hundred KB "
                         "(give a file of one article, or split the input)")
    return _decode(data, name)


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: not UTF-8 text (byte {exc.start})") from None


def _tag_parser() -> argparse.ArgumentParser:
    p = Parser(prog="tagger", description="Tag Russian news articles with the hashtags an editor would give.",
                epilog="Other commands: 'tagger info MODEL', 'tagger corpus stats|build ...', 'tagger serve', "
                       "'tagger tag-corpus FILES --out DIR', 'tagger train --corpus FILE --out MODEL', "
                       "'tagger vocabulary convert FILE OUT.csv' "
                       "(to tag the word 'info' itself, write 'tagger -- info').")
    p.add_argument("text", nargs="*", help="text to tag (all arguments form one text); default: standard input")
    p.add_argument("--file", "-f", action="append", default=[], metavar="PATH",
                   help="tag this file (UTF-8); repeat for several, each is one article")
    p.add_argument("--page", "-p", action="append", default=[], metavar="PATH",
                   help="tag this scraped page (UTF-8): its headline and body only, without the hashtags, date, "
                        "source line and 'Последние новости' sidebar; repeat for several")
    p.add_argument("--top-k", "-k", type=_positive_int, metavar="N", help="at most N tags")
    p.add_argument("--threshold", "-t", type=_probability, metavar="P",
                   help="one probability threshold for every tag instead of the tuned per-tag ones")
    p.add_argument("--scores", "-s", action="store_true", help="show each tag's probability")
    p.add_argument("--json", action="store_true", help="one JSON object per input")
    p.add_argument("--explain", action="store_true",
                   help="for each top tag (--top-k, default 5) show the words that pushed its score up and down")
    p.add_argument("--similar", type=_positive_int, metavar="K",
                   help="instead of tags, the K training articles most like the text: similarity, id, title and their "
                        "tags (a model with a neighbour index, as the embedded one)")
    p.add_argument("--model", "-m", metavar="PATH", help="model file (default: the embedded model)")
    p.add_argument("--vocabulary", metavar="FILE",
                   help="a site's tag vocabulary (one tag a line, CSV tag,labels,broader, or SKOS .ttl): its tags the "
                        "model never learned are given when their labels occur in the text")
    p.add_argument("--only-vocabulary", action="store_true",
                   help="give nothing but the tags of --vocabulary (a site's own tag list)")
    from . import __version__
    p.add_argument("--version", action="version", version=f"tagger {__version__}")
    return p


def _inputs(args) -> list[tuple[str, str | None, str | None]]:
    """(name, text, error) for every input."""
    if args.text and (args.file or args.page):
        die("give text arguments or --file/--page, not both", 2)
    if args.text:
        return [("<args>", " ".join(args.text), None)]
    if args.file or args.page:
        out = []
        for path, page in [(f, False) for f in args.file] + [(f, True) for f in args.page]:
            try:
                with open(path, "rb") as fh:
                    text = _read_input(fh, path)
                if page:
                    from .pages import parse_page
                    try:
                        text = parse_page(text).document
                    except ValueError as exc:
                        raise ValueError(f"{path}: not a scraped page: {exc}") from None
                out.append((path, text, None))
            except OSError as exc:
                out.append((path, None, f"{path}: {exc.strerror}"))
            except ValueError as exc:
                out.append((path, None, str(exc)))
        return out
    if sys.stdin is None or sys.stdin.isatty():
        die("no text: give it as arguments, with --file, or on standard input", 2)
    return [("<stdin>", _read_input(sys.stdin.buffer, "<stdin>"), None)]


def _load(path: str | None, vocabulary: str | None = None, only: bool = False):
    """The model at ``path`` (the embedded one if ``None``), with ``vocabulary`` added; a bad file ends the command
    with one line."""
    from .api import default_model, load_model
    from .model_file import ModelError
    if only and not vocabulary:
        die("--only-vocabulary needs --vocabulary FILE", 2)
    try:
        model = load_model(path) if path else default_model()
        return model.with_vocabulary(vocabulary, only=only) if vocabulary else model
    except (ModelError, ValueError) as exc:  # VocabularyError is a ValueError naming the file and line
        die(str(exc))


def _tag(argv: list[str]) -> int:
    args = _tag_parser().parse_args(argv)
    try:
        inputs = _inputs(args)
    except ValueError as exc:
        die(str(exc))
    model = _load(args.model, args.vocabulary, args.only_vocabulary)
    if args.similar and not model.has_neighbours:
        die(f"{args.model or 'the embedded model'} has no neighbour index (trained with neighbour_index=false): "
             "it cannot find similar articles")
    failed = 0
    many = len(inputs) > 1
    for name, text, error in inputs:
        if error is not None:
            error_line(error)
            failed += 1
            continue
        if args.explain:
            _print_explanations(model.explain_tags(text, top_k=args.top_k or 5), name if many else None, args.json)
            continue
        if args.similar:
            _print_similar(model.similar(text, k=args.similar), name, many, args.json)
            continue
        scored = model.predict_tags(text, top_k=args.top_k, threshold=args.threshold, with_scores=True)
        if args.json:
            print(json.dumps({"input": name, "tags": [t for t, _ in scored],
                              "scores": {t: round(s, 4) for t, s in scored}}, ensure_ascii=False))
        elif args.scores:
            print("\n".join(([f"# {name}"] if many else []) + [f"{s:.3f}\t{t}" for t, s in scored]))
        else:
            print((f"{name}\t" if many else "") + ", ".join(t for t, _ in scored))
    if failed:
        print(f"tagger: {failed} of {len(inputs)} inputs failed", file=sys.stderr)
    return 1 if failed else 0


def _print_similar(articles, name: str, many: bool, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"input": name, "similar": [a.to_json() for a in articles]}, ensure_ascii=False))
        return
    print("\n".join(([f"# {name}"] if many else []) + [f"{a.similarity:.3f}\t{a.id}\t{' '.join(a.title.split())}\t{', '.join(a.tags)}"
                                                     for a in articles]))


def _print_explanations(explanations, name: str | None, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"input": name or "<text>", "explanations": [e.to_json() for e in explanations]},
                         ensure_ascii=False))
        return
    if name:
        print(f"# {name}")
    if not explanations:
        print("no tag: the model can give none (its vocabulary has no tag)")
    for e in explanations:
        print(f"{e.tag}  {e.score:.3f}  from {' + '.join(e.sources)}")
        if e.label is not None:
            print(f"    label {e.label!r} found {e.mentions}x{' (in the title)' if e.in_title else ''}: "
                  f"{e.label_score:.3f}")
        if e.narrower is not None:
            print(f"    narrower tag {e.narrower}")
        if e.first_score is not None:
            print(f"    second stage: {e.first_score:.3f} -> {e.score:.3f}, weighing "
                  + ", ".join(f"{name} {value:.3g} ({c:+.2f})" for name, value, c in e.weighed[:4]))
        if e.words_score is None:
            continue
        print(f"    words: {e.words_score:.3f} (raw {e.raw_score:+.3f} = bias {e.intercept:+.3f}"
              + (f" + lead {e.lead:+.3f}" if e.lead else "") + " + words)")
        for phrase, c in e.pushed_up:
            print(f"    {c:+.3f}  {phrase}")
        for phrase, c in e.pushed_down:
            print(f"    {c:+.3f}  {phrase}")


def _info(argv: list[str]) -> int:
    p = Parser(prog="tagger info", description="Describe a model file without loading its weights.")
    p.add_argument("model", nargs="?", help="model file (default: the embedded model)")
    p.add_argument("--json", action="store_true", help="print the whole metadata as JSON")
    args = p.parse_args(argv)
    from .model_file import ModelError, read_metadata
    if args.model is None:
        from importlib import resources

        from .api import DEFAULT_MODEL
        with resources.as_file(resources.files("tagger").joinpath(DEFAULT_MODEL)) as path:
            return _info([str(path)] + (["--json"] if args.json else []))
    try:
        meta = read_metadata(args.model)
    except ModelError as exc:
        die(str(exc))
    if args.json:
        print(json.dumps(meta, ensure_ascii=False, indent=1))
        return 0
    # The format's keys are checked by read_metadata; "training" and "versions" are free-form (written by the
    # training script, or by anyone): shown as far as they make sense, never trusted to have a shape.
    tags = meta["tags"]
    versions = meta.get("versions") if isinstance(meta.get("versions"), dict) else {}
    lines = [
        f"model:          {args.model}",
        f"format:         {meta['format']} v{meta['format_version']}, created {meta.get('created', '?')}",
        "versions:       " + (", ".join(f"{k} {v}" for k, v in versions.items()) or "not recorded"),
        f"tags:           {len(tags)}"
        + (f" ({meta['n_supervised']} with a linear scorer, {len(tags) - meta['n_supervised']} from the lexical source)"
           if meta.get("n_supervised", len(tags)) != len(tags) else "")
        + "; most frequent: " + ", ".join(t["tag"] for t in sorted(tags, key=lambda t: -t["count"])[:8]),
        f"features:       {meta['n_features']:,}; trained on {meta['n_documents']:,} documents",
        *([f"similar:        {meta['n_neighbours']:,} training articles in the neighbour index "
           f"({meta['params'].get('neighbour_terms')} terms each)"] if "n_neighbours" in meta else []),
        *(["second stage:   candidates re-ranked by boosted trees (params: rerank=True)"]
          if meta["params"].get("rerank") else []),
        "parameters:     " + ", ".join(f"{k}={v}" for k, v in meta["params"].items()),
    ]
    training = meta.get("training")
    training = training if isinstance(training, dict) else {}
    corpora = training.get("corpora")
    for c in corpora if isinstance(corpora, list) else []:
        c = c if isinstance(c, dict) else {}
        articles, digest = c.get("articles"), c.get("sha256")
        lines.append(f"corpus:         {_shown(c.get('file'))} ("
                     + (f"{articles:,}" if isinstance(articles, int) else _shown(articles)) + " articles, sha256 "
                     + (f"{digest[:16]}…" if isinstance(digest, str) else _shown(digest)) + ")")
    metrics = training.get("metrics")
    for split, m in (metrics.items() if isinstance(metrics, dict) else ()):
        values = m.items() if isinstance(m, dict) else ()
        lines.append(f"{_shown(split) + ' metrics:':16}" + ", ".join(
            f"{_shown(k)} {v:.3f}" if isinstance(v, float) else f"{_shown(k)} {_shown(v)}" for k, v in values))
    print("\n".join(lines))
    return 0


def _shown(value: object) -> str:
    """A value of free-form metadata as one short line."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=repr)
    text = " ".join(text.split())
    return text if len(text) <= 80 else text[:79] + "…"


def _vocabulary(argv: list[str]) -> int:
    p = Parser(prog="tagger vocabulary", description="Vocabulary files.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    c = sub.add_parser("convert", help="write a vocabulary file (one tag a line, CSV or SKOS Turtle) as CSV "
                                       "tag,labels,broader: the same vocabulary, read in seconds and without rdflib")
    c.add_argument("vocabulary", metavar="FILE")
    c.add_argument("output", metavar="OUT.csv")
    c.add_argument("--force", action="store_true", help="overwrite an existing output file")
    args = p.parse_args(argv)
    if os.path.exists(args.output) and not args.force:
        die(f"{args.output} exists; pass --force to overwrite it")
    from .vocabulary import Vocabulary, VocabularyError
    try:
        vocabulary = Vocabulary.read(args.vocabulary)
        vocabulary.write_csv(args.output)
    except VocabularyError as exc:
        die(str(exc))
    print(f"{args.output}: {len(vocabulary):,} tags")
    return 0


def _corpus(argv: list[str]) -> int:
    p = Parser(prog="tagger corpus", description="Build and describe corpus files.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    b = sub.add_parser("build", help="turn folders of scraped pages into a corpus file")
    b.add_argument("pages", nargs="+", metavar="PAGES_DIR", help="folders (searched recursively) or page files")
    b.add_argument("-o", "--output", required=True, metavar="CORPUS", help="corpus file to write (.gz: gzip)")
    b.add_argument("--force", action="store_true", help="overwrite an existing output file")
    st = sub.add_parser("stats", help="describe a corpus file")
    st.add_argument("corpus", metavar="CORPUS")
    st.add_argument("--skip-bad-lines", action="store_true", help="skip and count malformed lines")
    st.add_argument("--json", action="store_true", help="print the statistics as JSON")
    args = p.parse_args(argv)

    from .corpus import CorpusError, corpus_stats, read_corpus, write_corpus
    if args.command == "build":
        from .pages import PageReport, read_pages
        missing = [d for d in args.pages if not os.path.exists(d)]
        if missing:
            die(f"no such file or folder: {', '.join(missing)}")
        if os.path.exists(args.output) and not args.force:
            die(f"{args.output} exists; pass --force to overwrite it")
        report = PageReport()
        try:
            n = write_corpus(read_pages(args.pages, report), args.output)
        except OSError as exc:
            die(f"cannot write {args.output}: {exc.strerror}")
        print(f"wrote {n:,} articles to {args.output}; {report}", file=sys.stderr)
        return 0 if n else 1
    reader = read_corpus(args.corpus, errors="skip" if args.skip_bad_lines else "raise")
    try:
        stats = corpus_stats(reader)
    except CorpusError as exc:
        die(str(exc))
    if reader.skipped:
        stats["skipped_lines"] = dict(reader.skipped)
    if args.json:
        print(json.dumps(stats, ensure_ascii=False, indent=1))
    else:
        for key, value in stats.items():
            print(f"{key.replace('_', ' ') + ':':28}{value}")
    return 0


def _model_spec(value: str) -> tuple[str | None, str]:
    """``NAME=PATH`` or ``PATH`` (a file whose name holds '=' is taken whole)."""
    import re
    name, sep, path = value.partition("=")
    if sep and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name) and not os.path.exists(value):
        return name, path
    return None, value


def _project_id(path: str) -> str:
    import re
    stem = os.path.basename(path).split(".")[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-") or "model"


def _serve(argv: list[str]) -> int:
    from importlib.util import find_spec
    if find_spec("fastapi") is None or find_spec("uvicorn") is None:  # (before anything of tagger.server)
        die("tagger serve needs the server extra: pip install 'tagger[server]'")
    from .server.limits import MAX_IN_FLIGHT_BYTES, Timeouts
    d = Timeouts()
    p = Parser(prog="tagger serve", description="Serve tagging over HTTP: JSON routes, Annif's REST API, the "
                                                 "editors' page at /, docs at /docs.")
    p.add_argument("--model", "-m", action="append", default=[], metavar="[NAME=]PATH", type=_model_spec,
                   help="a model file to serve as project NAME (default NAME: the file name without extension); "
                        "repeat for several, the first is the default; none: the embedded model as 'rt'")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                   help="worker processes (each loads the models; use the number of cores)")
    p.add_argument("--head-timeout", type=float, default=d.head, metavar="S",
                   help=f"request line and headers must arrive within S seconds, else 408 (default {d.head:g})")
    p.add_argument("--body-timeout", type=float, default=d.body, metavar="S",
                   help=f"the whole request body must arrive within S seconds, else 408 (default {d.body:g})")
    p.add_argument("--graceful-timeout", type=float, default=d.graceful, metavar="S",
                   help=f"on SIGTERM, requests under way get S seconds to finish (default {d.graceful:g})")
    p.add_argument("--max-in-flight-mb", type=float, default=MAX_IN_FLIGHT_BYTES / 1e6, metavar="MB",
                   help="request bodies a worker holds at once, in MB; a request past them is answered 503 with "
                        f"Retry-After (default {MAX_IN_FLIGHT_BYTES / 1e6:g}: two full batches; one request alone "
                        "always fits)")
    p.add_argument("--vocabulary", metavar="FILE",
                   help="a site's tag vocabulary added to every model served (see 'tagger --help')")
    p.add_argument("--only-vocabulary", action="store_true", help="give nothing but the tags of --vocabulary")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info")
    p.add_argument("--no-access-log", action="store_true", help="no JSON line per request")
    args = p.parse_args(argv)
    if not 0 <= args.port <= 65535:
        p.error(f"--port must be 0..65535, got {args.port}")
    for name in ("head_timeout", "body_timeout", "graceful_timeout"):
        if not 0 < getattr(args, name) < 86400:
            p.error(f"--{name.replace('_', '-')} must be a number of seconds above 0")
    if not 0.001 <= args.max_in_flight_mb <= 1e6:
        p.error(f"--max-in-flight-mb must be a number of megabytes from 0.001 to 1,000,000, "
                f"got {args.max_in_flight_mb:g}")
    specs = [(name or _project_id(path), path) for name, path in args.model]
    names = [n for n, _ in specs]
    if len(set(names)) != len(names):
        p.error(f"two models named {next(n for n in names if names.count(n) > 1)!r}: name them with NAME=PATH")
    from .server import listen, run
    try:  # the port first: a busy port is one line and status 1, before the models are read
        sock = listen(args.host, args.port)
    except OSError as exc:
        die(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    vocabulary, only = args.vocabulary, args.only_vocabulary
    models = {name: _load(path, vocabulary, only) for name, path in specs} or {"rt": _load(None, vocabulary, only)}
    port = sock.getsockname()[1]
    print(f"tagger: serving {', '.join(f'{n} ({len(m.tags)} tags)' for n, m in models.items())} on "
          f"http://{args.host}:{port} with {args.workers} worker{'s' if args.workers > 1 else ''} "
          f"(editors' page at /, docs at /docs)", file=sys.stderr, flush=True)
    try:
        run(models, args.host, port, args.workers, sock=sock, log_level=args.log_level,
            access_log=not args.no_access_log, max_in_flight_bytes=round(args.max_in_flight_mb * 1e6),
            timeouts=Timeouts(head=args.head_timeout, body=args.body_timeout, graceful=args.graceful_timeout))
    except ValueError as exc:
        die(str(exc))
    return 0


def _tag_corpus(argv: list[str]) -> int:
    p = Parser(prog="tagger tag-corpus",
                description="Tag every article of corpus files (JSON Lines, .gz allowed; 'tags' may be absent) and "
                            "write OUT/NAME.tags.jsonl (or .parquet): {id, url, tags, scores} per article, in order. "
                            "Streams: memory stays flat whatever the archive's size.")
    p.add_argument("corpora", nargs="+", metavar="FILE")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="folder for the results")
    p.add_argument("--model", "-m", metavar="PATH", help="model file (default: the embedded model)")
    p.add_argument("--workers", "-w", type=_positive_int, default=1, metavar="N",
                   help="local worker processes (default 1; use the number of cores)")
    add_engine_options(p, "send the work to a Dask cluster")
    p.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl", help="parquet needs pyarrow")
    p.add_argument("--top-k", "-k", type=_positive_int, metavar="N", help="at most N tags per article")
    p.add_argument("--threshold", "-t", type=_probability, metavar="P",
                   help="one probability threshold for every tag instead of the tuned per-tag ones")
    p.add_argument("--batch-size", type=_positive_int, default=256, metavar="N", help="articles per task (default 256; a task also holds at most 8 MB of lines, or one longer line)")
    p.add_argument("--skip-bad-lines", action="store_true", help="skip and count malformed lines")
    p.add_argument("--force", action="store_true", help="overwrite existing results")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    args = p.parse_args(argv)
    check_engine(p, args)
    missing = [c for c in args.corpora if not os.path.isfile(c)]
    if missing:
        die(f"no such corpus file: {', '.join(missing)}")
    model = _load(args.model)
    from .bulk import tag_corpus
    from .corpus import CorpusError
    client = dask_client(args)
    try:
        tag_corpus(args.corpora, args.out, model=model, workers=args.workers, client=client,
                               fmt=args.format, batch_size=args.batch_size, top_k=args.top_k,
                               threshold=args.threshold, errors="skip" if args.skip_bad_lines else "raise",
                               force=args.force, verbose=not args.quiet)
    except (CorpusError, FileExistsError, ValueError) as exc:
        die(str(exc))
    except OSError as exc:
        die(f"cannot write results: {exc.strerror or exc}")
    finally:
        if client is not None:
            client.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    warnings.formatwarning = lambda message, *_args, **_kw: f"tagger: warning: {message}\n"
    from .files import exit_on_sigterm
    stdout = sys.stdout
    sys.stdout = _Output(stdout)
    try:
        if argv and argv[0] == "serve":  # the server handles its signals itself (a graceful shutdown)
            return _serve(argv[1:])
        with exit_on_sigterm():  # files are written atomically: a stopped command leaves nothing behind
            if argv and argv[0] == "info":
                code = _info(argv[1:])
            elif argv and argv[0] == "corpus":
                code = _corpus(argv[1:])
            elif argv and argv[0] == "tag-corpus":
                code = _tag_corpus(argv[1:])
            elif argv and argv[0] == "vocabulary":
                code = _vocabulary(argv[1:])
            elif argv and argv[0] == "train":
                from .cli_train import main as train  # the learning half comes in here, for this command only
                code = train(argv[1:])
            else:
                code = _tag(argv)
            sys.stdout.flush()  # here, not at exit: a full disk is an error message, not a traceback
            return code
    except KeyboardInterrupt:
        error_line("interrupted")
        return 130
    except _OutputError as exc:
        _discard_stdout(stdout)
        if isinstance(exc.error, BrokenPipeError):  # the reader went away (| head): not an error
            return 0
        error_line(f"cannot write the output: {exc.error.strerror or exc.error}")
        return 1
    finally:
        sys.stdout = stdout


class _OutputError(Exception):
    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error


class _Output:
    """Standard output, whose failures (a full disk, /dev/full, a closed pipe) are told from any other
    ``OSError`` of a command: they become :class:`_OutputError`."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise _OutputError(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise _OutputError(exc) from None

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _discard_stdout(stdout) -> None:
    """Send what is left in standard output's buffer nowhere, so the exit's flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file behind stdout (a test's capture)
        pass


if __name__ == "__main__":
    sys.exit(main())

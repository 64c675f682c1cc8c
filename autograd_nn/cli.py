"""The `autograd-nn` command: run the demo, compare the tutorials' hand-written backprop with
autograd, explain the chain rule of a loss and draw its graph (a tutorial's, or your own
`FILE.py:FUNCTION` through autograd_nn.userfile).

Exit codes: 0 success, 1 runtime failure (one line on stderr; `--debug` shows the traceback),
2 bad arguments (argparse).
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

PROG = "autograd-nn"
TUTORIALS = ("1", "2")  # = autograd_nn_course.reports.TUTORIALS (here so --help loads no course)
GRAPH_FORMATS = ("svg", "png", "pdf", "dot")


class CommandError(RuntimeError):
    """A failure to report as one line (exit code 1)."""


class CommandHelp(CommandError):
    """A failure whose message is several lines meant for the shell (kept as written)."""


def _seed(text: str) -> int:
    """argparse type of --seed: an integer >= 0 (NumPy's generators refuse negative seeds)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {value}")
    return value


def _graph_file(text: str) -> Path:
    """argparse type of `graph --out`: a path whose suffix names a supported format."""
    path = Path(text)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in GRAPH_FORMATS:
        what = f"unknown format {path.suffix!r}" if path.suffix else "no file suffix"
        raise argparse.ArgumentTypeError(
            f"{text}: {what}; the suffix chooses the format, use one of "
            + ", ".join("." + f for f in GRAPH_FORMATS))
    return path


# ---------------------------------------------------------------------------------------------
# The course (autograd_nn_course), loaded only by the commands that use it
# ---------------------------------------------------------------------------------------------
def _course(name: str) -> ModuleType:
    try:
        return importlib.import_module(f"autograd_nn_course.{name}")
    except ImportError as err:
        raise CommandError(f"cannot load autograd_nn_course.{name}: {err}") from err


def _selected(which: str) -> list[str]:
    return list(TUTORIALS) if which == "all" else [which]


# ---------------------------------------------------------------------------------------------
# Progress: tqdm when available, plain lines otherwise
# ---------------------------------------------------------------------------------------------
class _Progress:
    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self.done = 0
        self.bar = None
        if enabled and sys.stderr.isatty():  # bars only on a terminal; logs get stage lines
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, desc="demo", unit="stage", file=sys.stderr,
                                leave=True)

    def start(self, label: str) -> None:
        if self.bar is not None:
            self.bar.set_description(f"demo: {label}")
        elif self.enabled:
            print(f"[{self.done + 1}/{self.total}] {label} ...", file=sys.stderr, flush=True)

    def step(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------
def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    out = {}
    if folder.is_dir():
        for p in folder.rglob("*"):
            if p.is_file():
                st = p.stat()
                out[str(p.relative_to(folder))] = (st.st_mtime_ns, st.st_size)
    return out


def cmd_demo(args: argparse.Namespace) -> int:
    """`autograd-nn demo`: every demo stage into --out, then what was written and removed."""
    out = Path(args.out).resolve()
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {args.out}: {out} is a file, not a folder; give a folder "
                           "(created if missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CommandError(f"cannot create the output folder {out}: {err.strerror}") from err
    before = _snapshot(out)
    demo = _course("demo")
    stages = demo.stages(out, progress=not args.no_progress)
    progress = _Progress(len(stages), enabled=not args.no_progress)
    failures = []
    t0 = time.perf_counter()
    try:
        for label, run in stages:
            progress.start(label)
            try:
                run()
            except Exception as err:  # noqa: BLE001  (one stage failing must not hide the rest)
                if args.debug:
                    raise
                failures.append(f"{label}: {_one_line(err)}")
            progress.step()
    finally:
        progress.close()
    after = _snapshot(out)
    written = sorted(k for k, v in after.items() if before.get(k) != v)
    print(f"output folder: {out}")
    print(f"{len(written)} files written in {time.perf_counter() - t0:.1f} s:")
    for name in written:
        print(f"  {name}")
    removed = sorted(set(before) - set(after))
    if removed:
        print(f"{len(removed)} stale files from an earlier run removed:")
        for name in removed:
            print(f"  {name}")
    for line in demo.notes(out):
        print(line)
    if failures:
        for f in failures:
            print(f"{PROG}: error: demo stage {f}", file=sys.stderr)
        return 1
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """`autograd-nn compare`: hand-written backprop against autograd, per tutorial, or yours:
    FILE.py:FUNCTION returning (loss, your gradients by node name)."""
    if args.target is not None:
        import autograd_nn as ag

        loss, yours = _user_loss_and_gradients(args.target)
        title = f"{args.target}: your gradients against autograd's"
        report = ag.compare_intermediates(loss, yours)
        print("\n".join([title, "=" * len(title), str(report), ""]), end="")
        # a script or CI step can test the result: 1 when a gradient is wrong (a convention,
        # such as gradient ascent from (y - output), is not)
        return 0 if report.ok or (report.entries and not report.bugs) else 1
    reports = _course("reports")
    texts = [reports.compare_text(k, args.seed) for k in _selected(args.tutorial)]
    print("\n".join(texts), end="")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    """`autograd-nn explain`: the chain rule of your loss or of the tutorials'."""
    if args.target is not None:
        import autograd_nn as ag

        loss, _, title = target_loss(args)
        print("\n".join([title, "=" * len(title), str(ag.explain(loss)), ""]), end="")
        return 0
    reports = _course("reports")
    texts = [reports.explain_text(k, args.seed) for k in _selected(args.tutorial)]
    print("\n".join(texts), end="")
    return 0


def _call_user_function(spec: str) -> tuple[Any, str, str]:
    """FUNCTION() of `FILE.py:FUNCTION`, with the file's path and the function's name; a file
    that does not load or a call that fails is a CommandError naming them."""
    from .userfile import UserFileError, load_function, parse_spec

    try:
        function = load_function(spec)
        path, name = parse_spec(spec)
    except UserFileError as err:
        raise CommandError(str(err)) from err
    try:
        return function(), path, name
    except Exception as err:
        raise CommandError(f"{path}:{name} failed: {type(err).__name__}: {err}") from err


def _user_loss_and_gradients(spec: str) -> tuple[Any, dict[str, Any]]:
    """What `compare FILE.py:FUNCTION` runs: FUNCTION() returns (loss, your gradients), the
    gradients a dict node name -> array, named as `explain` names the nodes."""
    from .core.tensor import Tensor

    out, path, name = _call_user_function(spec)
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], Tensor)
            and isinstance(out[1], dict)):
        raise CommandError(
            f"{path}:{name} returned {type(out).__name__}; for compare it returns "
            "(loss, yours): the loss Tensor and a dict of your hand-derived gradients by node "
            "name as `autograd-nn explain` names them, e.g. return L, {'w': d_w, 'h1': d_h1}")
    return out


def _compiled_source(loss: Any) -> str:
    """The NumPy `ag.compile(ag.value_and_grad(...))` generates for the graph of `loss`: the
    graph replayed op by op as a function of its parameters (leaves that require grad) and its
    data (the other leaves), each by the name `explain` gives it."""
    import autograd_nn as ag
    from autograd_nn.compiler import compile as ag_compile
    from autograd_nn.core.recording import apply
    from autograd_nn.graph import view_graph

    view = view_graph([loss])
    leaves = [(j, view.names[j], t) for j, t in enumerate(view.tensors) if t._op is None]
    params = {n: t.data for _, n, t in leaves if t.requires_grad}
    data = {n: t.data for _, n, t in leaves if not t.requires_grad}

    def loss_of(params: dict[str, Any], data: dict[str, Any]) -> Any:
        values: dict[int, Any] = {}
        for j, t in enumerate(view.tensors):
            if t._op is None:
                name = view.names[j]
                value = params[name] if name in params else data[name]
                values[j] = value if isinstance(value, ag.Tensor) else ag.Tensor(value)
            else:
                values[j] = apply(t._op, tuple(values[p] for p in view.parents[j]), t._params)
                if t.name:  # your own name for the node, as ag.compile keeps it
                    values[j].name = t.name
        return values[view.roots[0]]

    step = ag_compile(ag.value_and_grad(loss_of))
    step(params, data)
    source = step.source
    lines = source[source.index("def loss_of("):].splitlines()
    body = [_without_site(ln) for ln in lines
            if not ln.strip().startswith(("if ", "raise ", "value_changed("))]
    return "\n".join(body)


def _without_site(line: str) -> str:
    """A generated line without its file:line comment, which would name this command's replay
    rather than your file: `# (4, 1) float64` and `backward of tanh` stay."""
    m = re.match(r"^(.*?#\s*(?:\([^)]*\)|scalar) \S+)(.*)$", line)
    if m is None:
        return line.rstrip()
    op = re.search(r"backward of \S+", m.group(2))
    return m.group(1) + (f"  {op.group(0)}" if op else "")


def cmd_compile(args: argparse.Namespace) -> int:
    """`autograd-nn compile`: a tutorial's backprop next to the code ag.compile writes, or the
    code for your own loss (FILE.py:FUNCTION)."""
    if args.target is not None:
        loss, _, title = target_loss(args)
        title = title.replace("the loss L", "the backprop ag.compile writes for it")
        print("\n".join([
            title, "=" * len(title), "",
            "ag.compile(ag.value_and_grad(loss)) generates, as a function of the parameters "
            "(the leaves that require grad) and the data (the other leaves); argument checks "
            "are left out:", "", _compiled_source(loss), ""]), end="")
        return 0
    reports = _course("reports")
    texts = [reports.compile_text(k, args.seed) for k in _selected(args.tutorial)]
    print("\n".join(texts), end="")
    return 0


def target_loss(args: argparse.Namespace) -> tuple[Any, dict[str, Any] | None, str]:
    """The loss a command works on, as (loss, names, title): the user's `FILE.py:FUNCTION`
    (positional `target`) or `--tutorial N`."""
    if args.target is not None:
        from .userfile import UserFileError, load_loss

        try:
            found = load_loss(args.target)
        except UserFileError as err:
            raise CommandError(str(err)) from err
        return found.loss, None, f"{found.path.name}:{found.function}: the loss L"
    loss, names = _course("reports").named_loss(args.tutorial, args.seed)
    return loss, names, f"Tutorial {args.tutorial}: the loss L"


def _out_path(args: argparse.Namespace, ending: str) -> Path:
    """--out, or FUNCTION<ending> / tutorial<N><ending> here; its folder must exist."""
    stem = args.target.rpartition(":")[2] if args.target else f"tutorial{args.tutorial}"
    path = args.out or Path(stem + ending)
    if path.parent and not path.parent.exists():
        raise CommandError(f"--out {path}: folder {path.parent} does not exist")
    return path


def cmd_graph(args: argparse.Namespace) -> int:
    """`autograd-nn graph`: draw your loss or a tutorial's to --out."""
    import autograd_nn as ag

    path = _out_path(args, "_graph.svg")
    fmt = path.suffix.lower().lstrip(".")
    loss, names, title = target_loss(args)
    kwargs = {"color_by": args.color_by} if args.color_by else {}
    picture = ag.draw_graph(loss, names=names, title=title, **kwargs)
    if fmt == "dot":
        path.write_text(picture.source, encoding="utf-8")
    else:
        from .viz.render import GraphvizNotFoundError

        try:
            data = picture.pipe(format=fmt)
        except GraphvizNotFoundError as err:
            raise _no_dot(args, path) from err
        path.write_bytes(data)
    print(f"wrote {path.resolve()}")
    return 0


def _no_dot(args: argparse.Namespace, path: Path) -> CommandHelp:
    """Graphviz's `dot` is missing: the same command writing DOT text, and how to install it."""
    from .viz.render import install_lines

    what = args.target if args.target is not None else f"--tutorial {args.tutorial}"
    options = f" --color-by {args.color_by}" if args.color_by else ""
    options += f" --seed {args.seed}" if args.seed else ""
    return CommandHelp(
        f"rendering {path} needs Graphviz's `dot` program, which is not on PATH.\n"
        f"Write the graph as DOT text instead (no Graphviz needed):\n"
        f"  {PROG} graph {what} --out {path.with_suffix('.dot')}{options}\n"
        f"or install Graphviz, then run the command again:\n{install_lines()}")


def cmd_explore(args: argparse.Namespace) -> int:
    """`autograd-nn explore`: your loss's or a tutorial's backward pass as a web page."""
    import autograd_nn as ag

    path = _out_path(args, "_explore.html")
    if path.suffix.lower() not in (".html", ".htm"):
        raise CommandError(f"--out {path}: the explorer is an HTML page; give a file ending "
                           "in .html")
    loss, names, title = target_loss(args)
    page = ag.explore(loss, names, title=title.replace("the loss L", "the backward pass of L"))
    page.save(path)
    if not page.graph_drawn:
        print(f"{PROG}: warning: Graphviz's dot is not installed; the page lists the nodes "
              "instead of drawing the graph", file=sys.stderr)
    print(f"wrote {path.resolve()}")
    return 0


EXPORT_FORMATS = {"onnx": ".onnx", "safetensors": ".safetensors", "torch": ".pt"}


def _export_target(spec: str) -> tuple[Any, tuple | None, str]:
    """What `export FILE.py:FUNCTION` exports: FUNCTION() returns a Module (or a state dict), or
    (a Module or function, its example arguments); -> (model, example args or None, name)."""
    out, path, name = _call_user_function(spec)
    if isinstance(out, tuple) and len(out) == 2 and callable(out[0]):
        args = out[1] if isinstance(out[1], (tuple, list)) else (out[1],)
        return out[0], tuple(args), f"{path.name}:{name}"
    return out, None, f"{path.name}:{name}"


def cmd_export(args: argparse.Namespace) -> int:
    """`autograd-nn export`: your model as ONNX, safetensors or a PyTorch state dict."""
    import autograd_nn as ag
    from autograd_nn.nn import Module

    model, example, title = _export_target(args.target)
    stem = args.target.rpartition(":")[2]
    path = args.out or Path(stem + EXPORT_FORMATS[args.to])
    if path.parent and not path.parent.exists():
        raise CommandError(f"--out {path}: folder {path.parent} does not exist")
    if args.to == "onnx":
        if example is None:
            raise CommandError(
                f"{title} returned {type(model).__name__}; for --to onnx it returns (model, "
                "example_args), e.g. return model, (np.zeros((1, 4), np.float32),)")
        graph = ag.onnx.export(model, example, path).graph
        print(f"wrote {path.resolve()}: inputs " +
              ", ".join(f"{i.name}{tuple(d.dim_value for d in i.type.tensor_type.shape.dim)}"
                        for i in graph.input) + f"; {len(graph.node)} ONNX nodes")
        return 0
    if not isinstance(model, Module) and not (args.to == "safetensors" and isinstance(model, dict)):
        raise CommandError(f"{title} returned {type(model).__name__}; for --to {args.to} it "
                           "returns a Module" + (" or a state dict" if args.to == "safetensors"
                                                 else ""))
    suffix = path.suffix.lower()
    allowed = {"safetensors": (".safetensors",), "torch": (".pt", ".pth", ".safetensors")}
    if suffix not in allowed[args.to]:
        given = suffix or "a name without a suffix"
        raise CommandError(f"--out {path}: --to {args.to} writes " +
                           " or ".join(allowed[args.to]) + f" files, not {given}")
    if args.to == "safetensors":
        state = model.state_dict() if isinstance(model, Module) else model
        ag.save(path, state, metadata={"producer": "autograd_nn"})
    else:
        state = ag.io.to_torch(model, tensors=suffix != ".safetensors")
        if suffix == ".safetensors":  # PyTorch's names and layouts, without torch
            ag.save(path, state, metadata={"format": "pt"})
        else:
            import torch

            torch.save(state, path)
    print(f"wrote {path.resolve()}: {len(state)} tensors")
    return 0


# ---------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------
class _Formatter(argparse.HelpFormatter):
    """argparse's help, with an epilog of examples kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def add_target_argument(parser: argparse.ArgumentParser) -> None:
    """The optional positional FILE.py:FUNCTION of the commands that work on a loss."""
    parser.add_argument(
        "target", nargs="?", default=None, metavar="FILE.py:FUNCTION",
        help="your own loss: a function in a Python file that takes no arguments and returns "
             "the loss Tensor (name Tensors with name=... to see those names)")


def _target_examples(command: str, options: str) -> str:
    return (f"examples:\n  {PROG} {command} model.py:loss{options}\n"
            f"  {PROG} {command} path/to/train.py:make_loss\n"
            f"  {PROG} {command} --tutorial 1{options}\n\n"
            "model.py for the first example:\n"
            "  import autograd_nn as ag\n"
            "  def loss():\n"
            "      w = ag.Tensor([[0.5], [-0.3]], requires_grad=True, name='w')\n"
            "      x = ag.Tensor([[1.0, 2.0]], name='x')\n"
            "      return ((x @ w).tanh() ** 2).sum()")


def _compare_examples() -> str:
    return (f"examples:\n  {PROG} compare model.py:backprop\n"
            f"  {PROG} compare --tutorial 1\n\n"
            "exit status for FILE.py:FUNCTION: 0 when your gradients agree with autograd's (or\n"
            "differ only by a convention), 1 when one is wrong.\n\n"
            "model.py for the first example:\n"
            "  import numpy as np\n"
            "  import autograd_nn as ag\n"
            "  def backprop():\n"
            "      w = ag.Tensor([[0.5], [-0.3]], requires_grad=True, name='w')\n"
            "      x = np.array([[1.0, 2.0]])\n"
            "      h = np.tanh(x @ w.data)\n"
            "      d_z1 = 2 * h * (1 - h ** 2)          # by hand: L = sum(tanh(x @ w) ** 2)\n"
            "      loss = ((ag.Tensor(x, name='x') @ w).tanh() ** 2).sum()\n"
            "      return loss, {'z1': d_z1, 'w': x.T @ d_z1}")


def _one_target(parser: argparse.ArgumentParser,
                default: str | None) -> Callable[[argparse.Namespace], None]:
    """After parsing: FILE.py:FUNCTION or --tutorial, not both; `default` tutorial when neither
    (None: one of them is required). Errors are the command's usage errors (exit code 2)."""
    def check(args: argparse.Namespace) -> None:
        if args.target is not None and args.tutorial is not None:
            parser.error("give FILE.py:FUNCTION or --tutorial, not both")
        if args.target is None and args.tutorial is None:
            if default is None:
                parser.error("give FILE.py:FUNCTION (your loss) or --tutorial "
                             + "|".join(TUTORIALS))
            args.tutorial = default
    return check


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="autograd_nn: automatic differentiation on NumPy. Run the demo, check the "
                    "tutorials' hand-written backprop against autograd, draw the graph and "
                    "explain the chain rule of your own loss or a tutorial's.",
        epilog="examples:\n"
               f"  {PROG} demo --out output\n"
               f"  {PROG} graph model.py:loss --out loss.svg --color-by grad\n"
               f"  {PROG} explain model.py:loss\n"
               f"  {PROG} compare --tutorial 1\n"
               f"run '{PROG} COMMAND --help' for a command's options",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    debug_help = "show the full traceback when a command fails"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("demo", help="run the tutorials, draw their graphs and write the reports",
                       description="Run the tutorials and the graph demo and write every output "
                                   "(text, pictures, compare.txt, explain.txt) into one folder.")
    p.add_argument("--out", default="output", metavar="DIR",
                   help="output folder (created if missing; default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars or stage lines")
    p.set_defaults(func=cmd_demo)

    all_help = "which tutorial (default: all, when no FILE.py:FUNCTION is given)"
    p = sub.add_parser("compare", help="hand-written backprop vs autograd (yours or a tutorial's)",
                       description="Compare hand-written gradients with autograd's: yours "
                                   "(FILE.py:FUNCTION returns the loss Tensor and a dict of your "
                                   "gradients by node name, as explain names the nodes), or "
                                   "each tutorial's, from the same initial weights.",
                       epilog=_compare_examples(), formatter_class=_Formatter)
    p.add_argument("target", nargs="?", default=None, metavar="FILE.py:FUNCTION",
                   help="your own backprop: a function that takes no arguments and returns "
                        "(loss, {node name: your gradient})")
    p.add_argument("--tutorial", choices=[*TUTORIALS, "all"], default=None, help=all_help)
    p.add_argument("--seed", type=_seed, default=0, help="seed of the initial weights (>= 0)")
    p.set_defaults(func=cmd_compare, check=_one_target(p, default="all"))

    p = sub.add_parser("explain", help="the chain rule of a loss, node by node",
                       description="Write out dL/dnode for every node of a loss (yours, or a "
                                   "tutorial's), with shapes and gradient norms.",
                       epilog=_target_examples("explain", ""),
                       formatter_class=_Formatter)
    add_target_argument(p)
    p.add_argument("--tutorial", choices=[*TUTORIALS, "all"], default=None,
                   help="which tutorial (default: all, when no FILE.py:FUNCTION is given)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the initial weights (>= 0)")
    p.set_defaults(func=cmd_explain, check=_one_target(p, default="all"))

    p = sub.add_parser("compile", help="the backprop NumPy ag.compile writes for a loss",
                       description="Print the straight-line NumPy forward and backward that "
                                   "ag.compile generates for a loss: yours, or a tutorial's "
                                   "next to its hand-written backprop.",
                       epilog=_target_examples("compile", ""), formatter_class=_Formatter)
    add_target_argument(p)
    p.add_argument("--tutorial", choices=[*TUTORIALS, "all"], default=None, help=all_help)
    p.add_argument("--seed", type=_seed, default=0, help="seed of the initial weights (>= 0)")
    p.set_defaults(func=cmd_compile, check=_one_target(p, default="all"))

    p = sub.add_parser("graph", help="draw the compute graph of a loss to a file",
                       description="Draw a loss graph (yours, or a tutorial's) with "
                                   "ag.draw_graph. The format follows the file suffix: .svg .png "
                                   ".pdf (need Graphviz's dot) or .dot (text).",
                       epilog=_target_examples("graph", " --out net.svg --color-by grad"),
                       formatter_class=_Formatter)
    add_target_argument(p)
    p.add_argument("--tutorial", choices=TUTORIALS, default=None,
                   help="which tutorial (instead of FILE.py:FUNCTION)")
    p.add_argument("--out", metavar="FILE", type=_graph_file,
                   help="output file ending in .svg, .png, .pdf or .dot (default: "
                        "FUNCTION_graph.svg or tutorial<N>_graph.svg in the current folder)")
    p.add_argument("--color-by", choices=["grad", "grad_ratio"], default=None,
                   help="colour nodes by gradient magnitude (the gradient-flow view)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the initial weights (>= 0)")
    p.set_defaults(func=cmd_graph, check=_one_target(p, default=None))

    p = sub.add_parser("explore", help="the backward pass of a loss, step by step, as a web page",
                       description="Write a self-contained HTML page (works offline) that "
                                   "replays a loss's forward and backward pass node by node (yours "
                                   "or a tutorial's): the arriving gradient, the local rule with "
                                   "its numbers, and a finite-difference check of every node.",
                       epilog=_target_examples("explore", " --out page.html"),
                       formatter_class=_Formatter)
    add_target_argument(p)
    p.add_argument("--tutorial", choices=TUTORIALS, default=None,
                   help="which tutorial (instead of FILE.py:FUNCTION)")
    p.add_argument("--out", metavar="FILE", type=Path,
                   help="output .html file (default: FUNCTION_explore.html or "
                        "tutorial<N>_explore.html in the current folder)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the initial weights (>= 0)")
    p.set_defaults(func=cmd_explore, check=_one_target(p, default=None))
    p = sub.add_parser("export", help="write a model as ONNX, safetensors or for PyTorch",
                       description="Export your model: FILE.py:FUNCTION takes no arguments and "
                                   "returns a Module (for safetensors and torch) or (a Module or "
                                   "function, its example arguments) (for onnx, traced as "
                                   "ag.compile traces). --to torch writes PyTorch's names and "
                                   "layouts (.pt with torch.save, or .safetensors).",
                       epilog=f"examples:\n  {PROG} export model.py:build --to onnx\n"
                              f"  {PROG} export model.py:build --to safetensors --out m.safetensors"
                              f"\n  {PROG} export model.py:build --to torch --out m.pt\n\n"
                              "model.py for the examples:\n"
                              "  import numpy as np\n"
                              "  from autograd_nn import nn\n"
                              "  def build():\n"
                              "      model = nn.MLP([4, 16, 3], dtype=np.float32, rng=0)\n"
                              "      return model, (np.zeros((1, 4), np.float32),)",
                       formatter_class=_Formatter)
    p.add_argument("target", metavar="FILE.py:FUNCTION",
                   help="a function that takes no arguments and returns the model (and example "
                        "arguments)")
    p.add_argument("--to", choices=list(EXPORT_FORMATS), required=True, help="the format")
    p.add_argument("--out", metavar="FILE", type=Path,
                   help="output file (default: FUNCTION.onnx, .safetensors or .pt here)")
    p.set_defaults(func=cmd_export)
    for p in sub.choices.values():  # --debug also after the command; SUPPRESS keeps an earlier one
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
    return parser


def _one_line(err: BaseException) -> str:
    if isinstance(err, CommandHelp):
        return str(err)
    text = " ".join(str(err).split())
    name = type(err).__name__
    return f"{name}: {text}" if text and not isinstance(err, CommandError) else (text or name)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `autograd-nn` command; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
        check = getattr(args, "check", None)
        if check is not None:
            check(args)
    except SystemExit as exit_:  # --help, --version (0) and bad arguments (2)
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001  (one line for users; --debug for the traceback)
        if args.debug or os.environ.get("AUTOGRAD_NN_DEBUG"):
            raise
        print(f"{PROG}: error: {_one_line(err)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

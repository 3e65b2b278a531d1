"""The ``docker`` backend: the binary alone in a ``FROM scratch`` image built by the
Docker SDK (nothing is pulled); memory cap with swap off, so a runaway gets a real cgroup
OOM kill (``State.OOMKilled``); pids, CPU and nofile limits, read-only root, every
capability dropped. Host networking on Linux, ports published on 127.0.0.1 elsewhere."""

from __future__ import annotations

import functools
import hashlib
import io
import platform
import sys
import tarfile
import threading
import time

from .. import registry
from ..build import Binary
from . import Backend, BackendUnavailable, Exit, KilledBy, Limits, LineSink, Process
from .guard import Guard

DOCKERFILE = b"FROM scratch\nCOPY app /app\nUSER 65534:65534\nENTRYPOINT [\"/app\"]\n"


@functools.lru_cache(maxsize=256)
def _image_tag(path: str, mtime_ns: int, size: int, inode: int) -> str:
    """The image tag for a binary: a hash of its bytes, computed once per version of the
    file (a rebuild changes its mtime), so a warm re-run does not read the binary again."""
    with open(path, "rb") as f:
        return f"gopitfalls-run:{hashlib.file_digest(f, 'sha256').hexdigest()[:16]}"


def remove_images() -> int:
    """Remove every image the engine built (``gopitfalls clean``); how many were removed."""
    removed = 0
    try:
        client = registry.docker_client()
        for image in client.images.list(filters={"label": registry.LABEL}):
            client.images.remove(image.id, force=True)
            removed += 1
    except Exception:
        pass  # no daemon, or an image removed meanwhile
    return removed


class DockerBackend(Backend):
    name = "docker"

    def __init__(self) -> None:
        try:
            self.client = registry.docker_client(timeout=30)
        except ImportError as exc:  # pragma: no cover - docker is a dependency
            raise BackendUnavailable("the docker SDK is missing: pip install docker") from exc
        except Exception as exc:
            raise BackendUnavailable(
                "no Docker daemon answers (" + str(exc).split("(")[0].strip() + "). Fix: start "
                "Docker (sudo dockerd --bridge=none --iptables=false), or use the local backend: "
                "GOPITFALLS_BACKEND=local"
            ) from exc
        # Host networking only works when the daemon runs on this Linux machine.
        self.host_network = sys.platform.startswith("linux") and platform.system() == "Linux"
        registry.reap(client=self.client)
        registry.ensure_guardian()

    def enforcement(self, limits: Limits, race: bool = False) -> dict[str, str]:
        return {
            "memory": f"{limits.memory_mb} MB cgroup limit, swap off (kernel OOM kill)",
            "nofile": f"ulimit nofile {limits.nofile}",
            "pids": f"pids limit {limits.pids}",
            "cpu": f"{limits.cpus:g} CPU",
            "network": "host network, loopback listen enforced by the listen guard"
                       if self.host_network else "ports published on 127.0.0.1 only",
            "filesystem": f"read-only root, no capabilities, user nobody; /tmp a "
                          f"{limits.disk_mb} MB tmpfs (counted as memory), gone with the "
                          "container",
            "processes": "every process it starts ends with the container",
            "timeout": f"{limits.timeout_s:.0f} s",
        }

    def image_for(self, binary: Binary) -> str:
        st = binary.path.stat()
        tag = _image_tag(str(binary.path), st.st_mtime_ns, st.st_size, st.st_ino)
        try:
            self.client.images.get(tag)
            return tag
        except Exception:
            pass
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            data = binary.path.read_bytes()
            for name, content, mode in (("Dockerfile", DOCKERFILE, 0o644), ("app", data, 0o755)):
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(content), mode
                tar.addfile(info, io.BytesIO(content))
        buf.seek(0)
        self.client.images.build(fileobj=buf, custom_context=True, tag=tag, rm=True,
                                 labels={registry.LABEL: "1"})
        return tag

    def start(self, binary: Binary, args: list[str], env: dict[str, str], limits: Limits,
              sink: LineSink, ports: tuple[int, ...] = (), stdin: bytes = b"") -> Process:
        import docker

        image = self.image_for(binary)
        owner = registry.owner_identity()
        kwargs: dict = dict(
            command=args, environment=env, stdin_open=bool(stdin),
            mem_limit=f"{limits.memory_mb}m", memswap_limit=f"{limits.memory_mb}m",
            pids_limit=limits.pids, nano_cpus=int(limits.cpus * 1e9),
            ulimits=[docker.types.Ulimit(name="nofile", soft=limits.nofile, hard=limits.nofile)],
            read_only=True, cap_drop=["ALL"], security_opt=["no-new-privileges"],
            tmpfs={"/tmp": f"size={limits.disk_mb}m,mode=1777"},
            labels={registry.LABEL: "1", f"{registry.LABEL}.owner": str(owner["owner"]),
                    f"{registry.LABEL}.owner_start": str(owner["owner_start"] or ""),
                    f"{registry.LABEL}.program": binary.name},
            log_config=docker.types.LogConfig(type="json-file",
                                              config={"max-size": "20m", "max-file": "1"}),
        )
        if self.host_network:
            kwargs["network_mode"] = "host"
        else:
            kwargs["ports"] = {f"{p}/tcp": ("127.0.0.1", p) for p in ports}
        container = self.client.containers.create(image, **kwargs)
        try:
            if stdin:  # attached before the start, so the program finds the bytes waiting
                sock = container.attach_socket(params={"stdin": 1, "stream": 1})
            container.start()
            if stdin:
                raw = getattr(sock, "_sock", sock)
                raw.sendall(stdin)
                raw.close()
        except Exception:
            container.remove(force=True)
            raise
        return DockerProcess(container, limits, sink, self.host_network,
                             self.enforcement(limits, binary.race))


class DockerProcess(Process):
    backend = "docker"
    poll_interval_s = 0.05

    def __init__(self, container, limits: Limits, sink: LineSink, host_network: bool,
                 enforcement: dict[str, str]):
        container.reload()
        pid = container.attrs["State"].get("Pid") or None
        super().__init__(pid, limits, enforcement)
        self.container = container
        # No RSS watchdog here: the cgroup enforces the cap. The listen guard needs the
        # container's sockets in our network namespace, which host networking gives.
        self.guard = Guard(pid, limits, self.kill, watch_rss=False) \
            if pid and host_network else None
        self.pumps = [threading.Thread(target=self._follow, args=(s, sink), daemon=True)
                      for s in (True, False)]
        for t in self.pumps:
            t.start()

    def _follow(self, stdout: bool, sink: LineSink) -> None:
        name = "stdout" if stdout else "stderr"
        try:
            pending = b""
            for chunk in self.container.logs(stream=True, follow=True, stdout=stdout,
                                             stderr=not stdout):
                if self.guard is not None:
                    self.guard.count_output(len(chunk))
                pending += chunk
                *lines, pending = pending.split(b"\n")
                now = time.time()
                for raw in lines:
                    sink(name, raw.decode("utf-8", "replace"), now)
            if pending:
                sink(name, pending.decode("utf-8", "replace"), time.time())
        except Exception:
            pass  # the container is gone: the stream just ends

    def _has_exited(self) -> bool:
        try:
            self.container.reload()
        except Exception:
            return True
        return self.container.status in ("exited", "dead")

    def _hard_kill(self) -> None:
        try:
            self.container.kill()
        except Exception:
            pass

    def _terminate(self, grace_s: float) -> None:
        try:
            self.container.stop(timeout=max(1, int(round(grace_s))))  # SIGTERM, then SIGKILL
        except Exception:
            pass

    def send_signal(self, sig: int) -> None:
        try:
            self.container.kill(signal=int(sig))
        except Exception:
            pass  # already gone

    def _collect_exit(self) -> Exit:
        for t in self.pumps:
            t.join(timeout=3)
        if self.guard is not None:
            self.guard.close()
        try:
            self.container.reload()
            state = self.container.attrs["State"]
        except Exception:
            state = {}
        try:
            self.container.remove(force=True)
        except Exception:
            pass
        oom = bool(state.get("OOMKilled"))
        ended = self._exit_for(state.get("ExitCode"), oom)
        if oom:
            ended.killed_by = KilledBy.OOM
            ended.detail = (f"the kernel OOM killer stopped it at the {self.limits.memory_mb} "
                            "MB cgroup limit (Docker State.OOMKilled=true)")
        return ended

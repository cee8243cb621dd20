"""A small Debug Adapter Protocol client: what an IDE says to debugpy, for the tests.

Messages are JSON bodies behind a ``Content-Length`` header. Requests get responses
(``request_seq``); events arrive in between and are kept in order, so a test can
wait for one (``wait_event("stopped")``) without losing the others.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time


class DAPError(AssertionError):
    pass


class DAPClient:
    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.create_connection((host, port), timeout=timeout)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.timeout = timeout
        self.seq = 0
        self.buffer = b""
        self.events: list[dict] = []
        self.responses: dict[int, dict] = {}
        self.terminal: subprocess.Popen | None = None  # what runInTerminal started

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
        if self.terminal is not None and self.terminal.poll() is None:
            self.terminal.kill()
            self.terminal.wait()

    # -- wire ------------------------------------------------------------------------
    def _send(self, message: dict) -> None:
        body = json.dumps(message).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def _read_message(self) -> dict:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        header, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in header.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        while len(rest) < length:
            self.buffer = header + b"\r\n\r\n" + rest
            self._fill()
            header, _, rest = self.buffer.partition(b"\r\n\r\n")
        self.buffer = rest[length:]
        return json.loads(rest[:length])

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise DAPError("the debug adapter closed the connection")
        self.buffer += data

    def _pump(self) -> None:
        message = self._read_message()
        if message["type"] == "event":
            self.events.append(message)
        elif message["type"] == "response":
            self.responses[message["request_seq"]] = message
        elif message["type"] == "request" and message["command"] == "runInTerminal":
            self._run_in_terminal(message)

    def _run_in_terminal(self, message: dict) -> None:
        """What an IDE does for ``"console": "integratedTerminal"``: start the command
        (here with its output captured, as a terminal would show it)."""
        arguments = message["arguments"]
        env = dict(os.environ)
        for name, value in (arguments.get("env") or {}).items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        self.terminal = subprocess.Popen(arguments["args"], cwd=arguments.get("cwd"), env=env,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.seq += 1
        self._send({"seq": self.seq, "type": "response", "request_seq": message["seq"], "success": True,
                    "command": "runInTerminal", "body": {"processId": self.terminal.pid}})

    # -- requests and events ---------------------------------------------------------------
    def send_request(self, command: str, **arguments) -> int:
        self.seq += 1
        self._send({"seq": self.seq, "type": "request", "command": command, "arguments": arguments})
        return self.seq

    def response(self, seq: int) -> dict:
        deadline = time.monotonic() + self.timeout
        while seq not in self.responses:
            if time.monotonic() > deadline:
                raise DAPError(f"no response to request {seq}")
            self._pump()
        message = self.responses.pop(seq)
        if not message.get("success"):
            raise DAPError(f"{message.get('command')} failed: {message.get('message')} {message.get('body')}")
        return message.get("body") or {}

    def request(self, command: str, **arguments) -> dict:
        return self.response(self.send_request(command, **arguments))

    def wait_event(self, name: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            for index, event in enumerate(self.events):
                if event["event"] == name:
                    del self.events[index]
                    return event.get("body") or {}
            if time.monotonic() > deadline:
                raise DAPError(f"no {name!r} event; got {[e['event'] for e in self.events]}")
            self._pump()

    # -- what a test does at a breakpoint ------------------------------------------------
    def locals_at_top(self, thread_id: int) -> tuple[dict, dict]:
        """The top frame (name, line, source) and its local variables (name -> value text)."""
        frames = self.request("stackTrace", threadId=thread_id)["stackFrames"]
        top = frames[0]
        scopes = self.request("scopes", frameId=top["id"])["scopes"]
        local = next(scope for scope in scopes if scope["name"].lower().startswith("locals"))
        variables = self.request("variables", variablesReference=local["variablesReference"])["variables"]
        return top, {v["name"]: v["value"] for v in variables}

"""Two camera clouds on loopback for the cloud tests: the EZVIZ Open Platform and the Imou Open API, each speaking
its real wire format (form posts and `code` for EZVIZ, signed JSON envelopes and `result.code` for Imou; see
fixtures/clouds/README.md) for the few calls `camera_gateway.devices.ezviz` and `.imou` make.

They check what the real clouds check — the app key and secret (EZVIZ), the request signature recomputed from the
secret (Imou), the token on every call — issue tokens that expire by the test's clock, and answer each camera with
the status the test scripted in `statuses` (serial → the cloud's own value). Counters let a test see how often a
client came, and how often it was refused. Written on aiohttp.web because here the clouds behave; it is the client
under test that may not.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web


@dataclass
class _Cloud:
    app_key: str
    app_secret: str
    statuses: dict[str, Any] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    token_ttl_s: float = 7 * 86400
    regional: bool = True  # answer the token call with the region's own domain (it is us)
    tokens: dict[str, float] = field(default_factory=dict)  # token → expiry on `clock`
    token_requests: int = 0
    refused: int = 0  # requests refused for the app key, secret or signature
    expired_refusals: int = 0
    requests: int = 0
    runner: web.AppRunner | None = None
    port: int = 0

    @property
    def url(self) -> str:
        """The API base URL an operator would configure."""
        raise NotImplementedError

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.add_routes(self.routes())
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self.runner, sock).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def issue(self) -> tuple[str, float]:
        token = "at." + secrets.token_hex(16)
        self.tokens[token] = self.clock() + self.token_ttl_s
        return token, self.token_ttl_s

    def valid(self, token: object) -> bool:
        expires = self.tokens.get(token) if isinstance(token, str) else None
        return expires is not None and self.clock() < expires

    def revoke_tokens(self) -> None:
        """Every token issued so far is expired from now on (the cloud rotated them)."""
        self.tokens.clear()


@dataclass
class EzvizCloud(_Cloud):
    """`statuses`: deviceSerial → `status` (1 online, 0 offline, or anything to test the parser's patience)."""

    @property
    def url(self) -> str:
        return self.origin

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/api/lapp/token/get", self._token), web.post("/api/lapp/device/list", self._list)]

    async def _token(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.token_requests += 1
        form = await request.post()
        if not form.get("appKey") or not form.get("appSecret"):
            return _ezviz("10001", "The parameter is empty or incorrect format.")
        if form["appKey"] != self.app_key:
            self.refused += 1
            return _ezviz("10017", "appKey does not exist.")
        if form["appSecret"] != self.app_secret:
            self.refused += 1
            return _ezviz("10030", "appkey and appSecret mismatched.")
        token, ttl_s = self.issue()
        data: dict[str, Any] = {"accessToken": token, "expireTime": int((self.clock() + ttl_s) * 1000)}
        if self.regional:
            data["areaDomain"] = self.origin
        return _ezviz("200", "Operating succeeded!", data=data)

    async def _list(self, request: web.Request) -> web.Response:
        self.requests += 1
        form = await request.post()
        if not self.valid(form.get("accessToken")):
            self.expired_refusals += 1
            return _ezviz("10002", "accessToken exception or expired.")
        start, size = int(str(form.get("pageStart", 0))), min(50, int(str(form.get("pageSize", 10))))
        serials = list(self.statuses)
        page = serials[start * size : (start + 1) * size]
        data = [
            {
                "deviceSerial": serial,
                "deviceName": f"Camera {serial}",
                "deviceType": "CS-C6N",
                "status": self.statuses[serial],
                "defence": 0,
                "deviceVersion": "V5.3.0 build 210802",
                "updateTime": "2024-05-01 08:00:00",
            }
            for serial in page
        ]
        page_info = {"total": len(serials), "page": start, "size": size}
        return _ezviz("200", "Operating succeeded!", data=data, page=page_info)


def _ezviz(code: str, msg: str, **extra: Any) -> web.Response:
    return web.json_response({**extra, "code": code, "msg": msg})


@dataclass
class ImouCloud(_Cloud):
    """`statuses`: deviceId → `onLine` ("0" offline, "1" online, "3" upgrading, "4" sleeping)."""

    token_ttl_s: float = 3 * 86400
    errors: dict[str, tuple[str, str]] = field(default_factory=dict)  # deviceId → (code, msg) for deviceOnline

    @property
    def url(self) -> str:
        return self.origin + "/openapi"

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/openapi/{method}", self._dispatch)]

    async def _dispatch(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.json()
        system, params = body.get("system", {}), body.get("params", {})
        method = request.match_info["method"]
        if method == "accessToken":
            self.token_requests += 1
        if system.get("appId") != self.app_key:
            self.refused += 1
            return _imou(body, "OP1008", "app ID is invalid.")
        expected = hashlib.md5(
            f"time:{system.get('time')},nonce:{system.get('nonce')},appSecret:{self.app_secret}".encode()
        ).hexdigest()
        if system.get("sign") != expected or system.get("ver") != "1.0":
            self.refused += 1
            return _imou(body, "SN1001", "Signature verification failed.")
        if method == "accessToken":
            token, ttl_s = self.issue()
            data = {"accessToken": token, "expireTime": int(ttl_s)}
            if self.regional:
                data["currentDomain"] = self.origin
            return _imou(body, "0", "Operation is successful.", data)
        if not self.valid(params.get("token")):
            self.expired_refusals += 1
            return _imou(body, "TK1002", "Token expired or does not exist, please get token again.")
        if method == "deviceBaseList":
            return self._list(body, params)
        if method == "deviceOnline":
            serial = params.get("deviceId")
            if serial in self.errors:
                return _imou(body, *self.errors[serial])
            if serial not in self.statuses:
                return _imou(body, "OP1009", "No right, cannot operate.")
            status = self.statuses[serial]
            data = {"channels": [{"channelId": "0", "onLine": status}], "deviceId": serial, "onLine": status}
            return _imou(body, "0", "Operation is successful.", data)
        return _imou(body, "OP1002", "Parameter missing, please confirm parameter.")

    def _list(self, body: dict[str, Any], params: dict[str, Any]) -> web.Response:
        after, limit = int(params.get("bindId", -1)), int(params.get("limit", 20))
        listed = [(i + 1, serial) for i, serial in enumerate(self.statuses)]
        page = [(bind_id, serial) for bind_id, serial in listed if after == -1 or bind_id > after][:limit]
        devices = [
            {
                "channels": [{"channelName": f"{serial}-1", "channelId": "0"}],
                "deviceId": serial,
                "bindId": bind_id,
                "aplist": [],
            }
            for bind_id, serial in page
        ]
        return _imou(body, "0", "Operation is successful.", {"count": len(devices), "deviceList": devices})


def _imou(request: dict[str, Any], code: str, msg: str, data: dict[str, Any] | None = None) -> web.Response:
    result: dict[str, Any] = {"msg": msg, "code": code}
    if data is not None:
        result["data"] = data
    # The real cloud labels its JSON text/plain (imouapi reads it with content_type="text/plain"); so do we.
    return web.Response(text=json.dumps({"result": result, "id": request.get("id", "")}), content_type="text/plain")

"""An ONVIF device on loopback for the protocol tests: the SOAP 1.2 calls onvif-zeep-async makes for a PullPoint
subscription, answered in the wire format real cameras use (`fixtures/onvif/README.md` says where it comes from).

- WS-UsernameToken is enforced as devices do: PasswordDigest = base64(sha1(nonce + created + password)); a missing
  or wrong token is answered with HTTP 400 and a SOAP fault `env:Sender / ter:NotAuthorized`, or with a bare HTTP
  401 when `reject_with_http_401` is set (the other way cameras refuse). GetSystemDateAndTime, GetServices and
  GetCapabilities are pre-authentication operations in the ONVIF Core spec, so they are answered to anyone.
- CreatePullPointSubscription / Renew grant `lease_s` (the client's request when None) and record when each lease
  would lapse; a PullMessages on a lapsed subscription is counted in `lapsed_pulls` and refused.
- PullMessages returns what the test queued with `push(xml)` (wsnt:NotificationMessage fragments), or waits up
  to the request's Timeout for something to arrive, as a real pull point does.
- The Media service (listed by GetServices unless `offers_media` is False) answers GetVideoSources with one
  trt:VideoSources per token in `video_sources`, shaped as the embedded ONVIF servers in camera firmware build it
  (the public code index holds several: the token as an attribute, then Framerate, Resolution and the source's
  Imaging settings, in the schema's order).
`calls` lists every operation in order, so tests assert on the sequence.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import itertools
from dataclasses import dataclass, field

import isodate
from aiohttp import web
from lxml import etree

NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "tev": "http://www.onvif.org/ver10/events/wsdl",
    "wsnt": "http://docs.oasis-open.org/wsn/b-2",
}
_ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error"'
    ' xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"'
    ' xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2"'
    ' xmlns:trt="http://www.onvif.org/ver10/media/wsdl"'
    ' xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:tns1="http://www.onvif.org/ver10/topics">'
    "<env:Body>{body}</env:Body></env:Envelope>"
)
_NOT_AUTHORIZED = (
    "<env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>ter:NotAuthorized</env:Value>"
    '</env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">Sender not Authorized</env:Text></env:Reason>'
    "</env:Fault>"
)
_ACTION_NOT_SUPPORTED = (
    "<env:Fault><env:Code><env:Value>env:Receiver</env:Value><env:Subcode><env:Value>"
    "ter:ActionNotSupported</env:Value></env:Subcode></env:Code><env:Reason>"
    '<env:Text xml:lang="en">Optional Action Not Implemented</env:Text></env:Reason></env:Fault>'
)
_PRE_AUTH = frozenset({"GetSystemDateAndTime", "GetServices", "GetCapabilities"})
_CONTENT_TYPE = "application/soap+xml; charset=utf-8"


@dataclass
class OnvifDevice:
    username: str = "admin"
    password: str = "Cam3ra!pass"
    manufacturer: str = "HIKVISION"
    model: str = "DS-2CD2143G2-I"
    firmware: str = "V5.7.3 build 220112"
    lease_s: float | None = None
    reject_with_http_401: bool = False
    offers_events: bool = True
    offers_media: bool = True
    video_sources: tuple[str, ...] = ("VideoSource_1",)  # GetVideoSources' tokens
    unsupported: frozenset[str] = frozenset()  # operations answered with ter:ActionNotSupported
    calls: list[str] = field(default_factory=list)
    auth_failures: int = 0
    lapsed_pulls: int = 0
    subscriptions: dict[str, float] = field(default_factory=dict)  # id → loop time its lease lapses
    queue: list[str] = field(default_factory=list)
    _queued: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    async def __aenter__(self) -> OnvifDevice:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._serve)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        assert self._runner is not None
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    def push(self, *messages: str) -> None:
        """Queue wsnt:NotificationMessage fragments for the next PullMessages."""
        self.queue.extend(messages)
        self._queued.set()

    async def _serve(self, request: web.Request) -> web.Response:
        doc = etree.fromstring(await request.read())
        body = doc.find("env:Body", NS)
        operation = etree.QName(body[0]).localname if body is not None and len(body) else ""
        self.calls.append(operation)
        if operation not in _PRE_AUTH and not self._authorized(doc):
            self.auth_failures += 1
            if self.reject_with_http_401:
                return web.Response(status=401, headers={"WWW-Authenticate": 'Digest realm="IP Camera"'})
            return _reply(_NOT_AUTHORIZED, status=400)
        handler = None if operation in self.unsupported else getattr(self, f"_{operation}", None)
        if handler is None:
            return _reply(_ACTION_NOT_SUPPORTED, status=500)
        return await handler(request, body[0])

    def _authorized(self, doc: etree._Element) -> bool:
        token = doc.find("env:Header/wsse:Security/wsse:UsernameToken", NS)
        if token is None:
            return False
        username = token.findtext("wsse:Username", "", NS)
        password = token.find("wsse:Password", NS)
        nonce = base64.b64decode(token.findtext("wsse:Nonce", "", NS))
        created = token.findtext("wsu:Created", "", NS)
        expected = base64.b64encode(hashlib.sha1(nonce + created.encode() + self.password.encode()).digest())
        digest_type = password is not None and (password.get("Type") or "").endswith("#PasswordDigest")
        return username == self.username and digest_type and (password.text or "").encode() == expected

    async def _GetSystemDateAndTime(self, request: web.Request, op: etree._Element) -> web.Response:
        now = _utcnow()
        return _reply(
            "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>"
            "<tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>CST-7:00:00</tt:TZ></tt:TimeZone>"
            f"<tt:UTCDateTime><tt:Time><tt:Hour>{now.hour}</tt:Hour><tt:Minute>{now.minute}</tt:Minute>"
            f"<tt:Second>{now.second}</tt:Second></tt:Time><tt:Date><tt:Year>{now.year}</tt:Year>"
            f"<tt:Month>{now.month}</tt:Month><tt:Day>{now.day}</tt:Day></tt:Date></tt:UTCDateTime>"
            "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
        )

    async def _GetServices(self, request: web.Request, op: etree._Element) -> web.Response:
        services = [("http://www.onvif.org/ver10/device/wsdl", "/onvif/device_service", 17)]
        if self.offers_media:
            services.append(("http://www.onvif.org/ver10/media/wsdl", "/onvif/Media", 17))
        if self.offers_events:
            services.append(("http://www.onvif.org/ver10/events/wsdl", "/onvif/Events", 2))
        items = "".join(
            f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{self.url}{path}</tds:XAddr>"
            f"<tds:Version><tt:Major>{major}</tt:Major><tt:Minor>12</tt:Minor></tds:Version></tds:Service>"
            for ns, path, major in services
        )
        return _reply(f"<tds:GetServicesResponse>{items}</tds:GetServicesResponse>")

    async def _GetDeviceInformation(self, request: web.Request, op: etree._Element) -> web.Response:
        return _reply(
            f"<tds:GetDeviceInformationResponse><tds:Manufacturer>{self.manufacturer}</tds:Manufacturer>"
            f"<tds:Model>{self.model}</tds:Model><tds:FirmwareVersion>{self.firmware}</tds:FirmwareVersion>"
            "<tds:SerialNumber>DS-2CD2143G2-I20220101AAWRJ00000000</tds:SerialNumber>"
            "<tds:HardwareId>88</tds:HardwareId></tds:GetDeviceInformationResponse>"
        )

    async def _GetVideoSources(self, request: web.Request, op: etree._Element) -> web.Response:
        if not self.offers_media:
            return _reply(_ACTION_NOT_SUPPORTED, status=500)
        sources = "".join(
            f'<trt:VideoSources token="{token}"><tt:Framerate>25.000000</tt:Framerate>'
            "<tt:Resolution><tt:Width>2560</tt:Width><tt:Height>1440</tt:Height></tt:Resolution>"
            "<tt:Imaging><tt:Brightness>50</tt:Brightness><tt:ColorSaturation>50</tt:ColorSaturation>"
            "<tt:Contrast>50</tt:Contrast><tt:IrCutFilter>AUTO</tt:IrCutFilter><tt:Sharpness>50</tt:Sharpness>"
            "</tt:Imaging></trt:VideoSources>"
            for token in self.video_sources
        )
        return _reply(f"<trt:GetVideoSourcesResponse>{sources}</trt:GetVideoSourcesResponse>")

    async def _CreatePullPointSubscription(self, request: web.Request, op: etree._Element) -> web.Response:
        sub_id = str(next(self._ids))
        lease = self._grant(sub_id, op.findtext("tev:InitialTerminationTime", "PT60S", NS))
        return _reply(
            "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>"
            f"<wsa:Address>{self.url}/onvif/Subscription?Idx={sub_id}</wsa:Address></tev:SubscriptionReference>"
            f"{_times(lease)}</tev:CreatePullPointSubscriptionResponse>"
        )

    async def _Renew(self, request: web.Request, op: etree._Element) -> web.Response:
        sub_id = request.query.get("Idx", "")
        lease = self._grant(sub_id, op.findtext("wsnt:TerminationTime", "PT60S", NS))
        return _reply(f"<wsnt:RenewResponse>{_times(lease, termination_first=True)}</wsnt:RenewResponse>")

    async def _Unsubscribe(self, request: web.Request, op: etree._Element) -> web.Response:
        self.subscriptions.pop(request.query.get("Idx", ""), None)
        return _reply("<wsnt:UnsubscribeResponse/>")

    async def _PullMessages(self, request: web.Request, op: etree._Element) -> web.Response:
        sub_id = request.query.get("Idx", "")
        loop = asyncio.get_running_loop()
        if self.subscriptions.get(sub_id, 0) < loop.time():
            self.lapsed_pulls += 1
            fault = (
                "<env:Fault><env:Code><env:Value>env:Sender</env:Value></env:Code><env:Reason>"
                '<env:Text xml:lang="en">Subscription not found or expired</env:Text></env:Reason></env:Fault>'
            )
            return _reply(fault, status=400)
        timeout = isodate.parse_duration(op.findtext("tev:Timeout", "PT0S", NS)).total_seconds()
        if not self.queue:
            self._queued.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._queued.wait()
            except TimeoutError:
                pass
        messages, self.queue = self.queue, []
        remaining = self.subscriptions.get(sub_id, loop.time()) - loop.time()
        return _reply(
            f"<tev:PullMessagesResponse>{_times(remaining, 'tev')}{''.join(messages)}</tev:PullMessagesResponse>"
        )

    def _grant(self, sub_id: str, asked: str) -> float:
        lease = self.lease_s if self.lease_s is not None else _seconds(asked)
        self.subscriptions[sub_id] = asyncio.get_running_loop().time() + lease
        return lease


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _times(lease_s: float, prefix: str = "wsnt", termination_first: bool = False) -> str:
    """CurrentTime and TerminationTime, in the order and namespace each response's schema wants."""
    now = _utcnow().replace(microsecond=0)
    end = now + dt.timedelta(seconds=round(lease_s))
    current = f"<{prefix}:CurrentTime>{now:%Y-%m-%dT%H:%M:%SZ}</{prefix}:CurrentTime>"
    termination = f"<{prefix}:TerminationTime>{end:%Y-%m-%dT%H:%M:%SZ}</{prefix}:TerminationTime>"
    return termination + current if termination_first else current + termination


def _seconds(asked: str) -> float:
    """An InitialTerminationTime / TerminationTime: a duration ("PT600S") or an absolute time."""
    if asked.strip().startswith("P"):
        return isodate.parse_duration(asked.strip()).total_seconds()
    return (isodate.parse_datetime(asked.strip()) - _utcnow()).total_seconds()


def _reply(body: str, status: int = 200) -> web.Response:
    body_bytes = _ENVELOPE.format(body=body).encode()
    return web.Response(status=status, body=body_bytes, headers={"Content-Type": _CONTENT_TYPE})

"""``/transit/…``: hard wallets, loads and unloads, lost cards, terminals' batches, blacklist, fares."""

from __future__ import annotations

from datetime import date

from flask import request
from flask_smorest import Blueprint
from marshmallow import ValidationError, fields, validate, validates_schema

from backend import idempotency
from backend.auth.models import Role
from backend.auth.service import current_user, public, requires
from backend.errors import ValidationFailed
from backend.http import respond
from backend.schemas import Fen, Id, StrictSchema
from backend.wallets.views import IDEMPOTENCY_DOC
from suiyuan_protocol.transit.fares import DEFAULT_RULES
from suiyuan_protocol.transit.records import ISSUER_TERMINAL
from suiyuan_protocol.transit.terminal import MODES
from transit import service
from transit.models import OperatorKind

blp = Blueprint("transit", __name__, url_prefix="/api/v1",
                description="Transit: hard wallets (硬钱包), offline validators, settlement, blacklist, fares")

TERMINAL_DOC = {"parameters": [{"in": "header", "name": "X-Terminal-Key", "required": True,
                                "schema": {"type": "string", "maxLength": 100},
                                "description": "The key the terminal was given when it was registered"}]}
ID = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9:._-]{0,39}$", error="1–40 letters, digits and : . _ -")


class OperatorSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=80), metadata={"example": "广州地铁"})
    kind = fields.String(required=True, validate=validate.OneOf(OperatorKind.ALL))


class LocationSchema(StrictSchema):
    """Where a terminal's stop or station is (WGS 84): both coordinates or neither."""

    latitude = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=-90, max=90),
                            metadata={"description": "Where the stop or station is (WGS 84); with longitude. "
                                                     "Its taps count in the KPIs of the zone it lies in",
                                      "example": 23.1291})
    longitude = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=-180, max=180),
                             metadata={"example": 113.2644})

    @validates_schema
    def _both_or_neither(self, data, **_):
        if (data.get("latitude") is None) != (data.get("longitude") is None):
            missing = "longitude" if data.get("longitude") is None else "latitude"
            raise ValidationError("A location is a latitude and a longitude, both or neither.", missing)


class TerminalSchema(LocationSchema):
    terminal_id = fields.String(required=True, validate=[ID, validate.NoneOf([ISSUER_TERMINAL])],
                                metadata={"example": "M-TYXL-IN-01"})
    mode = fields.String(required=True, validate=validate.OneOf(MODES))
    place = fields.String(required=True, validate=validate.Length(min=1, max=40),
                          metadata={"description": "Station code (metro) or route (bus)", "example": "L3-TYXL"})


class IssueCardSchema(StrictSchema):
    card_id = fields.String(required=True, validate=validate.Regexp(r"^HW[0-9A-F]{16}$",
                                                                    error="HW and 16 uppercase hex digits"))
    public_key = fields.String(required=True, validate=validate.Length(min=43, max=44),
                               metadata={"description": "The card's Ed25519 public key, base64url (32 bytes)"})
    ytc_number = fields.String(allow_none=True, load_default=None, validate=validate.Regexp(r"^\d{8,20}$"),
                               metadata={"description": "Yangchengtong (羊城通) card number to bind, optional"})


class LoadSchema(StrictSchema):
    amount_fen = Fen(required=True)


class UnloadSchema(StrictSchema):
    record = fields.Dict(required=True, metadata={"description": "The unload record the card signed"})


class TransitBatchSchema(StrictSchema):
    terminal_id = fields.String(required=True, validate=ID)
    batch_id = fields.String(required=True, validate=validate.Length(min=1, max=80))
    records = fields.List(fields.Dict(), required=True,
                          validate=validate.Length(min=1, max=service.MAX_BATCH_RECORDS))


class IncidentQuery(StrictSchema):
    before = Id(strict=False)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


# ---------------------------------------------------------------- answers (output, for the document)


class OperatorOut(StrictSchema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    account_id = fields.Integer()


class TerminalOut(StrictSchema):
    terminal_id = fields.String()
    operator_id = fields.Integer()
    mode = fields.String()
    place = fields.String()
    latitude = fields.Float(allow_none=True)
    longitude = fields.Float(allow_none=True)
    key = fields.String(metadata={"description": "The upload key, shown this once"})


class TerminalPlaceOut(StrictSchema):
    terminal_id = fields.String()
    operator_id = fields.Integer()
    mode = fields.String()
    place = fields.String()
    latitude = fields.Float(allow_none=True)
    longitude = fields.Float(allow_none=True)


class OperatorStatementTerminalOut(StrictSchema):
    terminal_id = fields.String()
    records = fields.Integer()
    amount_fen = fields.Integer()


class OperatorStatementOut(StrictSchema):
    operator_id = fields.Integer()
    name = fields.String()
    date = fields.String()
    terminals = fields.List(fields.Nested(OperatorStatementTerminalOut))
    records = fields.Integer()
    amount_fen = fields.Integer()
    balance_fen = fields.Integer()


class CardLimitsOut(StrictSchema):
    balance_cap_fen = fields.Integer()
    single_payment_cap_fen = fields.Integer()


class CardOut(StrictSchema):
    card_id = fields.String()
    ytc_number = fields.String(allow_none=True)
    status = fields.String()
    balance_fen = fields.Integer()
    loaded_fen = fields.Integer()
    spent_fen = fields.Integer()
    unloaded_fen = fields.Integer()
    refunded_fen = fields.Integer()
    loss_fen = fields.Integer()
    loads_count = fields.Integer()
    last_counter = fields.Integer()
    unaccounted_fen = fields.Integer(metadata={"description": "Declared spending whose records have not arrived"})
    limits = fields.Nested(CardLimitsOut)
    last_synced_at = fields.String(allow_none=True)
    reported_lost_at = fields.String(allow_none=True)
    refund_due_at = fields.String(allow_none=True)
    refunded_at = fields.String(allow_none=True)
    created_at = fields.String()


class CertificateOut(StrictSchema):
    card_id = fields.String()
    public_key = fields.String()
    kid = fields.String()
    signature = fields.String()


KEYS = fields.Dict(keys=fields.String(), values=fields.String(),
                   metadata={"description": "kid → base64url Ed25519 public key"})


class IssuedCardOut(CardOut):
    certificate = fields.Nested(CertificateOut)
    issuer_keys = KEYS


class CardListOut(StrictSchema):
    items = fields.List(fields.Nested(CardOut))


class RecordOut(StrictSchema):
    counter = fields.Integer()
    kind = fields.String()
    amount_fen = fields.Integer()
    terminal_id = fields.String()
    trip = fields.String(metadata={"description": "The journey (entry and exit station, or the route)"})
    at = fields.String(allow_none=True)
    settled_at = fields.String(allow_none=True)


class RecordListOut(StrictSchema):
    items = fields.List(fields.Nested(RecordOut))


class AuthorisationOut(StrictSchema):
    card_id = fields.String()
    seq = fields.Integer()
    amount_fen = fields.Integer()
    kid = fields.String()
    signature = fields.String()


class LoadOut(StrictSchema):
    authorisation = fields.Nested(AuthorisationOut)
    card = fields.Nested(CardOut)
    transfer_id = fields.Integer()


class LoadListOut(StrictSchema):
    items = fields.List(fields.Nested(AuthorisationOut))


class UnloadOut(StrictSchema):
    card = fields.Nested(CardOut)
    duplicate = fields.Boolean(metadata={"description": "The record had been settled already"})


class RejectedOut(StrictSchema):
    card_id = fields.String()
    counter = fields.Integer()
    reason = fields.String()


class BatchOut(StrictSchema):
    terminal_id = fields.String()
    batch_id = fields.String()
    received = fields.Integer()
    accepted = fields.Integer()
    duplicates = fields.Integer()
    rejected = fields.List(fields.Nested(RejectedOut))
    settled_fen = fields.Integer()
    blacklist_version = fields.Integer()
    replayed = fields.Boolean()


class BlacklistEntryOut(StrictSchema):
    card_id = fields.String()
    reason = fields.String()


class BlacklistOut(StrictSchema):
    version = fields.Integer()
    card_ids = fields.List(fields.String())
    entries = fields.List(fields.Nested(BlacklistEntryOut))


class DistanceBandOut(StrictSchema):
    from_m = fields.Integer()
    to_m = fields.Integer(allow_none=True)
    step_m = fields.Integer()
    step_fen = fields.Integer()


class FaresOut(StrictSchema):
    metro_base_fen = fields.Integer()
    metro_base_m = fields.Integer()
    metro_bands = fields.List(fields.Nested(DistanceBandOut))
    stations = fields.Dict(keys=fields.String(), values=fields.List(fields.Raw()),
                           metadata={"description": "Station code → [name, line, chainage in metres]"})
    distances_m = fields.List(fields.List(fields.Raw()),
                              metadata={"description": "[station, station, metres] overriding chainage"})
    metro_max_m = fields.Integer()
    metro_max_fen = fields.Integer()
    bus_flat_fen = fields.Dict(keys=fields.String(), values=fields.Integer())
    bus_default_fen = fields.Integer()
    discount_after_rides = fields.Integer()
    discount_percent = fields.Integer()
    day_cap_fen = fields.Integer(allow_none=True)
    month_cap_fen = fields.Integer(allow_none=True)
    version = fields.String()


class IssuerKeysOut(StrictSchema):
    keys = KEYS


class IncidentOut(StrictSchema):
    id = fields.Integer()
    card_id = fields.String()
    kind = fields.String()
    counter = fields.Integer(allow_none=True)
    terminal_id = fields.String(allow_none=True)
    loss_fen = fields.Integer()
    created_at = fields.String()


class IncidentListOut(StrictSchema):
    items = fields.List(fields.Nested(IncidentOut))


# ---------------------------------------------------------------- operators and terminals


@blp.route("/transit/operators", methods=["POST"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(OperatorSchema)
@blp.response(201, OperatorOut,
              description="The operator and its receiving `account_id`")
@blp.alt_response(409, description="`operator_exists` (field `name`)")
@blp.alt_response(422, description="Field errors")
def create_operator(args):
    """Register a transit operator (a merchant of its own kind: metro, bus or taxi) with its own account."""
    op = service.create_operator(args["name"], args["kind"])
    return respond({"id": op.id, "name": op.name, "kind": op.kind, "account_id": op.account_id}, 201)


@blp.route("/transit/operators/<id(bits=32):operator_id>/terminals", methods=["POST"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(TerminalSchema)
@blp.response(201, TerminalOut,
              description="The terminal and its upload `key` (shown this once)")
@blp.alt_response(404, description="`operator_not_found`")
@blp.alt_response(409, description="`terminal_exists` (field `terminal_id`)")
@blp.alt_response(422, description="Field errors")
def register_terminal(args, operator_id):
    """Register a validator of an operator; its key authenticates its uploads and downloads."""
    t, key = service.register_terminal(operator_id, args["terminal_id"], args["mode"], args["place"],
                                       args["latitude"], args["longitude"])
    return respond({"terminal_id": t.terminal_id, "operator_id": t.operator_id, "mode": t.mode,
                    "place": t.place, "latitude": t.latitude, "longitude": t.longitude, "key": key}, 201)


@blp.route("/transit/terminals/<string:terminal_id>/location", methods=["PUT"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(LocationSchema)
@blp.response(200, TerminalPlaceOut,
              description="The terminal with its place")
@blp.alt_response(404, description="`terminal_not_found`")
@blp.alt_response(422, description="Field errors (a latitude without a longitude, or out of range)")
def locate_terminal(args, terminal_id):
    """Say where a terminal's stop or station is (both null: nowhere): its taps count in the zone KPIs and
    periodic report of the zone it lies in."""
    t = service.locate_terminal(terminal_id, args["latitude"], args["longitude"])
    return respond({"terminal_id": t.terminal_id, "operator_id": t.operator_id, "mode": t.mode, "place": t.place,
                    "latitude": t.latitude, "longitude": t.longitude}, 200)


@blp.route("/transit/operators/<id(bits=32):operator_id>/statements/<string:day>", methods=["GET"])
@requires(Role.PILOT_ADMIN)
@blp.response(200, OperatorStatementOut,
              description="Records and amounts settled that day, per terminal")
@blp.alt_response(404, description="`operator_not_found`")
@blp.alt_response(422, description="`day` is not YYYY-MM-DD")
def statement(operator_id, day):
    """An operator's settlement statement for one Guangzhou day."""
    try:
        d = date.fromisoformat(day)
    except ValueError:
        raise ValidationFailed("The day is YYYY-MM-DD.", field="day") from None
    return respond(service.operator_statement(operator_id, d), 200)


# ---------------------------------------------------------------- hard wallets


@blp.route("/transit/cards", methods=["POST"])
@requires(Role.CONSUMER)
@blp.arguments(IssueCardSchema)
@blp.response(201, IssuedCardOut,
              description="The hard wallet, its `certificate` and the `issuer_keys` to install on the card")
@blp.alt_response(404, description="`wallet_not_open`")
@blp.alt_response(409, description="`card_exists`, `key_in_use`, `ytc_number_in_use` (with the field)")
@blp.alt_response(422, description="Field errors (`public_key` not 32 bytes of base64url)")
def issue_card(args):
    """Issue a hard wallet bound to your soft wallet (optionally to a Yangchengtong number): register the
    card's public key and get the issuer's certificate the card shows to offline validators."""
    card, cert = service.issue_card(current_user(), args["card_id"], args["public_key"], args["ytc_number"])
    return respond({**service.card_json(card), "certificate": cert, "issuer_keys": service.issuer_keys_json()},
                   201)


@blp.route("/transit/cards", methods=["GET"])
@requires(Role.CONSUMER)
@blp.response(200, CardListOut,
              description="`items`: your hard wallets")
def list_cards():
    """Your hard wallets with the balance the server knows (what their synced records leave)."""
    return respond({"items": [service.card_json(c) for c in service.my_cards(current_user())]}, 200)


@blp.route("/transit/cards/<string:card_id>", methods=["GET"])
@requires(Role.CONSUMER)
@blp.response(200, CardOut,
              description="The hard wallet")
@blp.alt_response(404, description="`card_not_found`")
def get_card(card_id):
    """One of your hard wallets."""
    return respond(service.card_json(service.my_card(current_user(), card_id)), 200)


class RecordsQuery(StrictSchema):
    before = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1),  # the counter column is INTEGER
                            metadata={"description": "Counters below this"})
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


@blp.route("/transit/cards/<string:card_id>/records", methods=["GET"])
@requires(Role.CONSUMER)
@blp.arguments(RecordsQuery, location="query")
@blp.response(200, RecordListOut,
              description="`items`: settled records (counter, kind, amount, terminal, trip, times)")
@blp.alt_response(404, description="`card_not_found`")
@blp.alt_response(422, description="Field errors (`before`, `limit`)")
def list_records(args, card_id):
    """The card's last synced records — journeys with their fares — newest first."""
    return respond({"items": service.records_of(current_user(), card_id, args["limit"], args.get("before"))}, 200)


@blp.route("/transit/cards/<string:card_id>/loads", methods=["POST"])
@requires(Role.CONSUMER)
@blp.arguments(LoadSchema)
@blp.doc(**IDEMPOTENCY_DOC)
@blp.response(201, LoadOut,
              description="`authorisation`: the issuer-signed load the card applies; the card")
@blp.alt_response(404, description="`card_not_found`, `wallet_not_open`")
@blp.alt_response(409, description="`card_not_active`, `idempotency_key_reused`")
@blp.alt_response(422, description="`insufficient_funds` (soft wallet), `payee_limit_exceeded` (card above "
                                   "¥1,000), field errors")
def load_card(args, card_id):
    """Load value from your soft wallet onto the hard wallet (圈存); idempotent."""
    user = current_user()
    body, status = idempotency.run(user.id, {"card_id": card_id, **args},
                                   lambda: service.load(user, card_id, args["amount_fen"]))
    return respond(body, status)


@blp.route("/transit/cards/<string:card_id>/loads", methods=["GET"])
@requires(Role.CONSUMER)
@blp.response(200, LoadListOut,
              description="`items`: every signed load, in order")
@blp.alt_response(404, description="`card_not_found`")
def list_loads(card_id):
    """Every load of the card, signed again for a card that missed one."""
    return respond({"items": service.loads_of(current_user(), card_id)}, 200)


@blp.route("/transit/cards/<string:card_id>/unloads", methods=["POST"])
@requires(Role.CONSUMER)
@blp.arguments(UnloadSchema)
@blp.doc(**IDEMPOTENCY_DOC)
@blp.response(201, UnloadOut,
              description="The card after the unload")
@blp.alt_response(404, description="`card_not_found`")
@blp.alt_response(409, description="`idempotency_key_reused`")
@blp.alt_response(422, description="`record_refused` (with `reason`), field errors naming `record.<field>`")
def unload_card(args, card_id):
    """Return value from the hard wallet to your soft wallet: send the unload record the card signed."""
    user = current_user()
    body, status = idempotency.run(user.id, {"card_id": card_id, **args},
                                   lambda: service.unload(user, card_id, args["record"]))
    return respond(body, status)


@blp.route("/transit/cards/<string:card_id>/lost", methods=["POST"])
@requires(Role.CONSUMER)
@blp.response(200, CardOut,
              description="The card, blacklisted, with `refund_due_at`")
@blp.alt_response(404, description="`card_not_found`")
def report_lost(card_id):
    """Report a card lost: it is blacklisted at once and the balance the server can prove is left goes back
    to your soft wallet after the hold for offline records (``refund_due_at``). Idempotent."""
    return respond(service.report_lost(current_user(), card_id), 200)


# ---------------------------------------------------------------- terminals


@blp.route("/transit/batches", methods=["POST"])
@public  # no bearer token: terminals authenticate with X-Terminal-Key where noted
@blp.arguments(TransitBatchSchema)
@blp.doc(**TERMINAL_DOC)
@blp.response(201, BatchOut,
              description="`accepted`, `duplicates`, `rejected` (card, counter, reason), `settled_fen`, "
                               "`blacklist_version`")
@blp.alt_response(200, schema=BatchOut, success=True,
                  description="The same batch again: the first answer, with `replayed` true")
@blp.alt_response(401, description="`terminal_key_missing`, `terminal_key_invalid`")
@blp.alt_response(403, description="`terminal_mismatch`: the key is another terminal's")
@blp.alt_response(409, description="`batch_id_reused`: the same batch id with other records")
@blp.alt_response(422, description="A malformed record (field `records.<i>.<field>`); nothing is settled")
def upload_batch(args):
    """Upload a terminal's card-signed records. Idempotent per record: the same batch twice, overlapping
    batches, batches out of order or days late settle each record once. Double-spending (same counter,
    other contents), counter gaps, forged signatures, replayed records and spending beyond what was loaded
    are refused with a reason, the card blacklisted and the incident recorded."""
    terminal = service.terminal_for_key(request.headers.get("X-Terminal-Key"))
    body, status = service.settle_batch(terminal, args)
    return respond(body, status)


@blp.route("/transit/blacklist", methods=["GET"])
@public  # no bearer token: terminals authenticate with X-Terminal-Key where noted
@blp.doc(**TERMINAL_DOC)
@blp.response(200, BlacklistOut,
              description="`version` and `card_ids` (with `entries` giving reasons)")
@blp.alt_response(401, description="`terminal_key_missing`, `terminal_key_invalid`")
def blacklist():
    """The blacklist terminals download when online."""
    service.terminal_for_key(request.headers.get("X-Terminal-Key"))
    return respond(service.blacklist_json(), 200)


@blp.route("/transit/fares", methods=["GET"])
@public
@blp.response(200, FaresOut,
              description="The fare table (distance bands, stations, bus fares, discount, caps)")
def fares():
    """The fare table validators price taps with (Guangzhou's rules by default)."""
    return respond(DEFAULT_RULES.to_json(), 200)


@blp.route("/transit/issuer-keys", methods=["GET"])
@public
@blp.response(200, IssuerKeysOut,
              description="`keys`: kid → base64url Ed25519 public key")
def issuer_keys():
    """The issuer keys that sign card certificates and loads (validators verify cards with them)."""
    return respond({"keys": service.issuer_keys_json()}, 200)


@blp.route("/transit/incidents", methods=["GET"])
@requires(Role.PILOT_ADMIN)
@blp.arguments(IncidentQuery, location="query")
@blp.response(200, IncidentListOut,
              description="`items`: incidents, newest first")
def list_incidents(args):
    """Double-spending and fraud seen in uploaded records, with the evidence and the loss."""
    items = service.incidents(args["limit"], args.get("before"))
    return respond({"items": [{"id": i.id, "card_id": i.card_id, "kind": i.kind, "counter": i.counter,
                               "terminal_id": i.terminal_id, "loss_fen": i.loss_fen,
                               "created_at": i.created_at.isoformat()} for i in items]}, 200)

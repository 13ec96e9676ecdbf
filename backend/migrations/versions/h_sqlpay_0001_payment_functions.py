"""ledger and payments: the transfer and the plain dynamic-QR payment as PostgreSQL functions (#17 item 2)

``ledger_transfer`` is the ledger's transfer on PostgreSQL (``backend.ledger.service.transfer`` calls it):
it locks the two accounts in ascending id order, checks funds, the wallet tier limits (one payment, day,
year) and the payee's balance cap on the locked rows, and only then writes both balances and the transfer
row — or writes nothing and returns NULLs, and Python explains the refusal (``debit_refusal`` /
``credit_refusal``, which tests/ledger/test_caps_agree.py holds to this function and to SQLite's statements).

``pay_dynamic_order`` is the money-moving part of a plain dynamic-QR payment in one call
(``backend.payments.express``): the order, merchant and wallet checks, the Idempotency-Key row, the
transfer through ``ledger_transfer``, the order's transition (created → paid, before expiry) and the
recorded 201 response. It only ever says yes: anything else returns NULL, and the caller rolls back and
takes the general path, which refuses and records. tests/payments/test_payment_differential.py runs
generated payments through it and through the general path and compares everything.

SQLite has no functions: there the Python statements are the only path.

Revision ID: h_sqlpay_0001
Revises: l001
"""
from alembic import op

revision = 'h_sqlpay_0001'
down_revision = 'l001'
branch_labels = None
depends_on = 'h_apps_0001'  # the payment password's columns on wallets

LEDGER_TRANSFER = r"""
CREATE OR REPLACE FUNCTION ledger_transfer(
    p_debit bigint, p_credit bigint, p_amount bigint, p_code text, p_limited boolean, p_today date,
    p_now timestamptz, p_batch_id text, p_memo text, p_actor_user_id integer, p_reverses_id bigint,
    OUT transfer_id bigint, OUT debit_balance bigint, OUT credit_balance bigint)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    r accounts%ROWTYPE;
    d accounts%ROWTYPE;
    c accounts%ROWTYPE;
    day_base bigint;
    year_base bigint;
BEGIN
    -- Both rows locked in ascending id order (so opposite transfers cannot deadlock), then judged as locked.
    FOR r IN SELECT * FROM accounts WHERE id IN (p_debit, p_credit) ORDER BY id FOR UPDATE LOOP
        IF r.id = p_debit THEN d := r; ELSE c := r; END IF;
    END LOOP;
    IF d.id IS NULL OR c.id IS NULL OR p_debit = p_credit THEN
        RETURN;
    END IF;
    day_base := CASE WHEN d.spend_day = p_today THEN d.day_spent_fen ELSE 0 END;
    year_base := CASE WHEN d.spend_year = extract(year FROM p_today)::integer THEN d.year_spent_fen ELSE 0 END;
    -- The rules (IS NOT TRUE: a NULL never lets money through).
    IF (d.allow_negative OR d.balance_fen >= p_amount) IS NOT TRUE THEN
        RETURN;
    END IF;
    IF p_limited AND ((d.single_cap_fen IS NULL OR p_amount <= d.single_cap_fen)
                      AND (d.day_cap_fen IS NULL OR day_base + p_amount <= d.day_cap_fen)
                      AND (d.year_cap_fen IS NULL OR year_base + p_amount <= d.year_cap_fen)) IS NOT TRUE THEN
        RETURN;
    END IF;
    IF (c.balance_cap_fen IS NULL OR c.balance_fen + p_amount <= c.balance_cap_fen) IS NOT TRUE THEN
        RETURN;
    END IF;
    IF p_limited THEN
        UPDATE accounts SET balance_fen = balance_fen - p_amount,
                            day_spent_fen = day_base + p_amount, spend_day = p_today,
                            year_spent_fen = year_base + p_amount,
                            spend_year = extract(year FROM p_today)::integer
        WHERE id = p_debit RETURNING balance_fen INTO debit_balance;
    ELSE
        UPDATE accounts SET balance_fen = balance_fen - p_amount WHERE id = p_debit
        RETURNING balance_fen INTO debit_balance;
    END IF;
    UPDATE accounts SET balance_fen = balance_fen + p_amount WHERE id = p_credit
    RETURNING balance_fen INTO credit_balance;
    INSERT INTO transfers (code, debit_account_id, credit_account_id, amount_fen, batch_id, memo,
                           actor_user_id, reverses_id, reversed_fen, created_at)
    VALUES (p_code, p_debit, p_credit, p_amount, p_batch_id, p_memo, p_actor_user_id, p_reverses_id, 0, p_now)
    RETURNING id INTO transfer_id;
END
$fn$
"""

# Python's ``datetime.isoformat()`` of a UTC time, as ``order_json`` writes it (microseconds only when not 0).
ISO_UTC = r"""
CREATE OR REPLACE FUNCTION iso_utc(ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT CASE WHEN ts IS NULL THEN NULL ELSE
        to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN date_part('microseconds', ts)::bigint % 1000000 <> 0
                THEN to_char(ts AT TIME ZONE 'UTC', '.US') ELSE '' END
        || '+00:00' END
$fn$
"""

PAY_DYNAMIC_ORDER = r"""
CREATE OR REPLACE FUNCTION pay_dynamic_order(
    p_user_id integer, p_key text, p_hash text, p_now timestamptz, p_today date, p_reference text,
    p_merchant_id integer, p_amount bigint, p_merchant_number text, p_clear boolean)
RETURNS text
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    o record;
    v_key integer;
    moved record;
    body json;
BEGIN
    -- p_clear: the money gate's and the subsidy question's SQL forms, asked in the same statement.
    IF p_clear IS NOT TRUE THEN
        RETURN NULL;
    END IF;
    SELECT od.id, od.reference, od.kind, od.amount_fen, od.refunded_fen, od.description, od.payload, od.key_id,
           od.created_at, od.expires_at, od.merchant_id, m.name_zh, m.name_en,
           m.account_id AS merchant_account_id, w.account_id AS payer_account_id
    INTO o
    FROM orders od
    JOIN merchants m ON m.id = od.merchant_id
    JOIN wallets w ON w.user_id = p_user_id
    WHERE od.reference = p_reference AND od.merchant_id = p_merchant_id AND od.amount_fen = p_amount
      AND od.kind = 'dynamic' AND od.status = 'created' AND od.expires_at > p_now
      AND m.status = 'approved' AND w.status = 'active'
      -- The payment password (backend/wallets/paypass.py): above the password-free limit the general path asks.
      AND (w.pay_password_hash IS NULL OR od.amount_fen <= w.password_free_limit_fen);
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    INSERT INTO idempotency_keys (user_id, key, request_hash, created_at)
    VALUES (p_user_id, p_key, p_hash, p_now)
    ON CONFLICT (user_id, key) DO NOTHING
    RETURNING id INTO v_key;
    IF v_key IS NULL THEN  -- the key was used before: the general path replays or refuses
        RETURN NULL;
    END IF;
    SELECT * INTO moved FROM ledger_transfer(o.payer_account_id, o.merchant_account_id, o.amount_fen, 'payment',
                                             true, p_today, p_now, o.reference, o.reference, p_user_id, NULL);
    IF moved.transfer_id IS NULL THEN
        RETURN NULL;
    END IF;
    -- The order's transition guard (created → paid, before expiry), as service._settle writes it.
    UPDATE orders SET status = 'paid', paid_at = p_now, payer_user_id = p_user_id,
                      payment_transfer_id = moved.transfer_id
    WHERE id = o.id AND status = 'created' AND expires_at > p_now;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    -- views._payment_body for one leg paid from the main balance; the differential test compares the two.
    body := json_build_object(
        'id', o.id, 'reference', o.reference, 'kind', o.kind, 'status', 'paid', 'amount_fen', o.amount_fen,
        'refunded_fen', o.refunded_fen, 'description', o.description,
        'merchant', json_build_object('id', o.merchant_id, 'name_zh', o.name_zh, 'name_en', o.name_en,
                                      'merchant_number', p_merchant_number),
        'payload', o.payload, 'key_id', o.key_id, 'created_at', iso_utc(o.created_at),
        'expires_at', iso_utc(o.expires_at), 'paid_at', iso_utc(p_now),
        'breakdown', json_build_object('price_fen', o.amount_fen, 'red_packet_fen', 0, 'coupon_fen', 0,
                                       'from_wallet_fen', o.amount_fen, 'merchant_receives_fen', o.amount_fen),
        'transfer_id', moved.transfer_id, 'paid_from_balance_fen', o.amount_fen, 'subsidy_fen', 0,
        'legs', json_build_array(json_build_object('transfer_id', moved.transfer_id, 'code', 'payment',
                                                   'amount_fen', o.amount_fen)),
        'payer_balance_after_fen', moved.debit_balance);
    UPDATE idempotency_keys SET status_code = 201, response_json = body::text WHERE id = v_key;
    RETURN body::text;
END
$fn$
"""


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(LEDGER_TRANSFER)
    op.execute(ISO_UTC)
    op.execute(PAY_DYNAMIC_ORDER)


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('DROP FUNCTION IF EXISTS pay_dynamic_order(integer, text, text, timestamptz, date, text, integer, '
               'bigint, text, boolean)')
    op.execute('DROP FUNCTION IF EXISTS iso_utc(timestamptz)')
    op.execute('DROP FUNCTION IF EXISTS ledger_transfer(bigint, bigint, bigint, text, boolean, date, timestamptz, '
               'text, text, integer, bigint)')
